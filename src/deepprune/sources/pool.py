"""Several endpoints of one model: least-outstanding-requests routing, per-endpoint limits, health.

:class:`EndpointPool` routes every new streaming request (a trace's launch, a resumed trace's
continuation, a ``collect`` sample) to one of several OpenAI-compatible endpoints that serve the
same model (``--base-url`` given more than once):

* **Routing**: the healthy endpoint with the fewest open streams; ties go to the endpoint listed
  first. A request that finds every healthy endpoint full waits, first come first served, for a
  stream to close (each endpoint's own ``max_concurrency`` bounds its open streams).
* **Health**: a request that fails *before its first token* in a way that says the endpoint is
  unwell — it cannot be reached, the connection breaks, no first token in time, HTTP 429/5xx —
  after :class:`~deepprune.sources.openai_client.StreamClient`'s own retries marks that endpoint
  **down** for ``PoolConfig.cooldown_s`` and is sent again, unchanged (same seed, same prefill),
  to another endpoint it has not tried. Nothing was received from the failed attempt, so nothing
  is charged twice. Requests waiting for a stream go only to healthy endpoints; a down endpoint
  is tried again after its cooldown (or at once when no endpoint is healthy: with a single
  endpoint the pool never holds a request back, so one endpoint behaves exactly as before).
* A request that fails **after** its first token is not moved: it fails as before (the trace
  keeps the tokens it produced; see :mod:`deepprune.sources.live`), and so does a failure that
  another endpoint would repeat (HTTP 400, a malformed or logprob-less stream).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from deepprune.core.errors import ClientError, ConfigError, ServerError, StreamError
from deepprune.sources.openai_client import EndpointConfig, StreamClient, StreamEnd, TokenChunk

__all__ = ["EndpointPool", "EndpointState", "PoolConfig", "is_endpoint_failure"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolConfig:
    """How an :class:`EndpointPool` treats failing endpoints."""

    cooldown_s: float = 30.0
    """How long an endpoint that failed a request before its first token is left out of routing."""

    def __post_init__(self) -> None:
        if not self.cooldown_s >= 0:
            raise ConfigError("cooldown_s", self.cooldown_s, ">= 0")


@dataclass
class EndpointState:
    """One endpoint of a pool and its counters (read them for reports and tests)."""

    index: int
    config: EndpointConfig
    open: int = 0
    """Streams open on it now (requests routed to it and not finished)."""
    routed: int = 0
    """Requests routed to it so far."""
    failures: int = 0
    """Requests that failed on it before their first token (each marked it down)."""
    down_until: float = 0.0
    """Clock time until which it is left out of routing (0: healthy)."""

    @property
    def limit(self) -> int:
        return self.config.max_concurrency


def is_endpoint_failure(exc: BaseException) -> bool:
    """Does a failure *before the first token* say the endpoint (not the request) is unwell?

    Connect errors, broken connections and first-token timeouts (after retries) and HTTP 429/5xx:
    yes. Other HTTP statuses (400, 401, 404, ...) and stream errors (not an event stream, no
    logprobs, malformed chunk) would happen on any endpoint: no.
    """
    if isinstance(exc, ServerError):
        return exc.status == 429 or exc.status >= 500
    if isinstance(exc, StreamError):
        return False
    return isinstance(exc, ClientError)


class EndpointPool:
    """Routes requests over ``endpoints`` (see the module docstring). One pool per event loop.

    ``clock`` is for tests (default :func:`time.monotonic`).
    """

    def __init__(self, endpoints: Sequence[EndpointConfig], config: PoolConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not endpoints:
            raise ConfigError("endpoints", "[]", "at least one endpoint")
        models = {e.model for e in endpoints}
        if len(models) > 1:
            raise ConfigError("endpoints", sorted(models), "one model name for every endpoint")
        self.config = config or PoolConfig()
        self.endpoints = tuple(EndpointState(i, e) for i, e in enumerate(endpoints))
        self._clock = clock
        self._waiters: collections.deque[tuple[frozenset[int], asyncio.Future[int]]] = collections.deque()

    def __repr__(self) -> str:
        return f"EndpointPool({[e.config.display_url for e in self.endpoints]!r})"

    @property
    def capacity(self) -> int:
        """Streams open at once over all endpoints."""
        return sum(e.limit for e in self.endpoints)

    # ------------------------------------------------------------------ the rule
    def healthy(self, index: int) -> bool:
        return self._clock() >= self.endpoints[index].down_until

    def choose(self, exclude: Collection[int] = ()) -> int | None:
        """The endpoint a new request goes to now, or None when it must wait for a free stream.

        Among the endpoints not in ``exclude``: the healthy ones with a free stream, fewest open
        streams first, ties by order; when none of them is healthy, the down ones the same way
        (better to try a recovering endpoint than to fail a request unseen).
        """
        cands = [e for e in self.endpoints if e.index not in exclude]
        healthy = [e for e in cands if self.healthy(e.index)]
        pool = healthy or cands
        free = [e for e in pool if e.open < e.limit]
        if not free:
            return None
        return min(free, key=lambda e: (e.open, e.index)).index

    def has_alternative(self, tried: Collection[int]) -> bool:
        return any(e.index not in tried for e in self.endpoints)

    # ------------------------------------------------------------------ slots
    async def acquire(self, exclude: Collection[int] = ()) -> int:
        """Take a stream on the endpoint :meth:`choose` names, waiting (first come first served)
        while every candidate is full. Pair with :meth:`release`."""
        ex = frozenset(exclude)
        if not self.has_alternative(ex):
            raise ConfigError("exclude", sorted(ex), "leave at least one endpoint")
        if not self._waiters:
            i = self.choose(ex)
            if i is not None:
                self._take(i)
                return i
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        entry = (ex, fut)
        self._waiters.append(entry)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(fut.result())  # granted just as we were cancelled: hand it on
            else:
                try:
                    self._waiters.remove(entry)
                except ValueError:  # pragma: no cover - removed when granted
                    pass
            raise

    def release(self, index: int) -> None:
        self.endpoints[index].open -= 1
        self._wake()

    def _take(self, index: int) -> None:
        e = self.endpoints[index]
        e.open += 1
        e.routed += 1

    def _wake(self) -> None:
        for entry in list(self._waiters):
            ex, fut = entry
            if fut.done():
                self._waiters.remove(entry)
                continue
            i = self.choose(ex)
            if i is None:
                continue
            self._waiters.remove(entry)
            self._take(i)
            fut.set_result(i)

    # ------------------------------------------------------------------ health
    def mark_down(self, index: int, reason: str) -> None:
        e = self.endpoints[index]
        e.failures += 1
        e.down_until = self._clock() + self.config.cooldown_s
        if len(self.endpoints) > 1:
            log.warning("endpoint %s is down for %.0f s: %s", e.config.display_url, self.config.cooldown_s, reason)

    def mark_up(self, index: int) -> None:
        self.endpoints[index].down_until = 0.0

    # ------------------------------------------------------------------ streaming
    async def stream(self, clients: Sequence[StreamClient], prompt: str, *, seed: int,
                     max_tokens: int | None = None, prefill: str = "",
                     on_route: Callable[[int], None] | None = None) -> AsyncGenerator[TokenChunk | StreamEnd, None]:
        """Stream one request through the pool: ``clients[i]`` talks to endpoint ``i``.

        Holds a stream on the chosen endpoint until the iteration ends (close the iterator, e.g.
        with :func:`contextlib.aclosing`, to give it back at once). A failure before the first
        token that :func:`is_endpoint_failure` blames on the endpoint marks it down and sends the
        same request to an endpoint not yet tried; any other failure is raised as the client
        raised it. ``on_route(i)`` is called each time the request goes to endpoint ``i``.
        """
        if len(clients) != len(self.endpoints):
            raise ConfigError("clients", len(clients), f"one per endpoint ({len(self.endpoints)})")
        tried: set[int] = set()
        while True:
            i = await self.acquire(tried)
            got_token = False
            try:
                if on_route is not None:
                    on_route(i)
                async with aclosing(clients[i].stream(prompt, seed=seed, max_tokens=max_tokens,
                                                      prefill=prefill)) as items:
                    async for item in items:
                        if not got_token and isinstance(item, TokenChunk):
                            got_token = True
                            self.mark_up(i)
                        yield item
                return
            except ClientError as exc:
                if got_token or not is_endpoint_failure(exc):
                    raise
                self.mark_down(i, str(exc))
                tried.add(i)
                if not self.has_alternative(tried):
                    raise
                log.info("request failed on %s before its first token; sending it to another endpoint",
                         self.endpoints[i].config.display_url)
            finally:
                self.release(i)
