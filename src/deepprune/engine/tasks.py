"""Running one coroutine per problem, a bounded number at a time, in problem order.

:func:`run_each` is the one concurrency loop of the engine (the runner, replays and live runs all
use it). With ``concurrency > 1`` the problems run in an :class:`asyncio.TaskGroup`: the first
problem that fails cancels every other problem still running or waiting (their sessions close
through their ``async with``: live streams are closed), and its error propagates as itself, not
wrapped in an ``ExceptionGroup``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

__all__ = ["blocking", "run_each"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def blocking(fn: Callable[P, Coroutine[Any, Any, R]], name: str, doc: str) -> Callable[P, R]:
    """The blocking twin of the coroutine function ``fn``: same parameters, ``asyncio.run`` of it
    (one event loop for the whole call), for scripts and notebooks without a running loop.

    ``name`` and ``doc`` are the twin's ``__name__`` and docstring; ``__wrapped__`` is ``fn``, so ``inspect.signature`` shows its
    parameters.
    """

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(fn(*args, **kwargs))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc
    return run


async def run_each(items: Sequence[T], one: Callable[[T], Awaitable[R]], *, concurrency: int = 1) -> list[R]:
    """``[await one(x) for x in items]`` with at most ``concurrency`` running at once.

    ``concurrency <= 1`` runs them one after the other. Results are in ``items`` order.
    """
    if concurrency <= 1 or len(items) <= 1:
        return [await one(x) for x in items]
    sem = asyncio.Semaphore(concurrency)
    failed = False

    async def bounded(x: T) -> R:
        nonlocal failed
        async with sem:
            if failed:  # a sibling failed while this one waited: never start it
                raise asyncio.CancelledError
            try:
                return await one(x)
            except Exception:
                failed = True
                raise

    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(bounded(x)) for x in items]
    except ExceptionGroup as group:
        first, *others = group.exceptions
        for exc in others:
            log.warning("another problem failed at the same time: %s: %s", type(exc).__name__, exc)
        raise first from None
    return [t.result() for t in tasks]
