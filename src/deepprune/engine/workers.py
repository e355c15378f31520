"""A live run's problems sharded over worker processes (``deepprune run --workers N``).

One client process ingests about one core's worth of streamed tokens (docs/scale.md). With
``workers > 1``, :func:`run_sharded` deals the problems still to run round-robin to ``N`` worker
processes (``spawn``ed: each has its own event loop, HTTP clients and endpoint pool, and runs
:func:`~deepprune.engine.liverun.run_live` with the same strategy, settings and endpoints on its share,
``concurrency`` problems at a time).

**One writer.** Workers never open the results file. Each sends every finished problem's row to
the parent over its own pipe the moment the problem is done; the parent is the only writer and
appends it with the same :class:`~deepprune.engine.liverun.ResultsFile` a one-process run uses (header
written or checked once, a torn tail repaired on resume, one flushed line per row), so lines
cannot interleave or tear between processes, and the file and its resume rules are exactly those
of one process. (The alternative, each worker appending under a file lock, needs ``fcntl``-style
advisory locks, which are not portable and unreliable on network file systems, and would still
race on the header check and the torn-tail repair; the parent needs every row anyway for the
live table and the summary. A row is a few hundred bytes: the pipe is never the bottleneck.)

**Resume.** The parent reads the file first: problems already done are not sent to any worker,
and a failed problem's stored row goes with it to its worker, which retries only the part that
failed, as :func:`~deepprune.engine.liverun.run_live` does.

**Stopping.** Workers ignore SIGINT (from their start: it is ignored while they are spawned, and
a process inherits that). Ctrl-C reaches the parent, which asks every worker to stop
(SIGTERM, which the worker turns into cancelling its run: streams closed, exactly as an
interrupted one-process run), writes every row the workers had finished, and raises
:class:`KeyboardInterrupt`; a second Ctrl-C kills the workers. A worker whose run raises sends the
error (type, message, traceback) and exits; the parent stops the others the same way, writes what
they finished, and raises :class:`WorkerError` naming the worker and the error. A worker that dies
without a word (killed, out of memory) is reported with its exit status. A worker whose parent is
gone stops on its own within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from deepprune.core.errors import ConfigError, DeepPruneError
from deepprune.core.redact import install_log_redaction, redact
from deepprune.core.types import Problem
from deepprune.engine.liverun import LiveRow, ResultsFile, RunSettings, run_live
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig

__all__ = ["WorkerError", "run_sharded", "shard"]

log = logging.getLogger(__name__)

_Conn = multiprocessing.connection.Connection


class WorkerError(DeepPruneError):
    """A worker process failed: its run raised (``kind`` and the message are the worker's
    error's) or it died (``kind`` is ``"exit"``). ``remote_traceback`` is the worker's traceback
    when it sent one."""

    def __init__(self, worker: int, workers: int, kind: str, message: str, remote_traceback: str = "") -> None:
        self.worker = worker
        self.kind = kind
        self.remote_traceback = remote_traceback
        super().__init__(f"worker {worker} of {workers}: {kind}: {message}" if kind != "exit"
                         else f"worker {worker} of {workers} {message}")


def shard(problems: Sequence[Problem], workers: int) -> list[list[Problem]]:
    """Problems dealt round-robin to at most ``workers`` non-empty shards (fewer when there are
    fewer problems): neighbouring problems, often of similar difficulty, go to different workers.

    >>> [[p.id for p in s] for s in shard([Problem(str(i), "q") for i in range(5)], 2)]
    [['0', '2', '4'], ['1', '3']]
    """
    if workers < 1:
        raise ConfigError("--workers", workers, "at least 1")
    n = min(workers, len(problems))
    return [list(problems[i::n]) for i in range(n)]


# ------------------------------------------------------------------------------------ worker side
@dataclass
class _Job:
    index: int
    problems: list[Problem]
    endpoints: list[EndpointConfig]
    settings: RunSettings
    retry: dict[str, dict[str, Any]]
    """Failed rows (records) of this shard's problems, from the results file."""
    concurrency: int
    log_level: int


class _PipeSink:
    """A worker's :class:`~deepprune.engine.liverun.RowSink`: rows go to the parent, which writes them."""

    def __init__(self, conn: _Conn, failed: Mapping[str, LiveRow]) -> None:
        self.conn = conn
        self.done: dict[str, LiveRow] = {}
        self.failed = dict(failed)

    def add(self, row: LiveRow) -> None:
        self.conn.send(("row", row.to_record()))


def _worker_main(job: _Job, conn: _Conn) -> None:
    """A worker process: run its shard, send each row, then ``done``/``stopped``/``error``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    logging.basicConfig(level=job.log_level,
                        format=f"%(levelname)s worker {job.index + 1} %(name)s: %(message)s")
    install_log_redaction()
    try:
        asyncio.run(_worker_run(job, conn))
        msg: tuple[Any, ...] = ("done",)
    except (asyncio.CancelledError, KeyboardInterrupt):
        msg = ("stopped",)
    except BaseException as exc:  # noqa: BLE001 - every error goes to the parent, which reports it
        msg = ("error", type(exc).__name__, redact(str(exc)), redact(traceback.format_exc()),
               isinstance(exc, DeepPruneError))
    try:
        conn.send(msg)
    except OSError:  # the parent is gone
        pass
    finally:
        conn.close()


async def _worker_run(job: _Job, conn: _Conn) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - not on this platform: SIGTERM kills
        pass
    parent = os.getppid()

    async def orphaned() -> None:  # the parent died without stopping us: stop
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        task.cancel()

    watch = loop.create_task(orphaned())
    # EndpointConfig registers its secrets for redaction when built: build them again here
    endpoints = [replace(e) for e in job.endpoints]
    sink = _PipeSink(conn, {pid: LiveRow.from_record(rec) for pid, rec in job.retry.items()})
    try:
        async with LiveSource(endpoints) as source:
            await run_live(job.problems, source, job.settings, results=sink, concurrency=job.concurrency)
    finally:
        watch.cancel()


# ------------------------------------------------------------------------------------ parent side
class _Parent:
    def __init__(self, n: int, results: ResultsFile | None, on_row: Callable[[LiveRow], None] | None) -> None:
        self.n = n
        self.results = results
        self.on_row = on_row
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.conns: dict[_Conn, int] = {}
        self.rows: dict[str, LiveRow] = {}
        self.ended: set[int] = set()
        """Workers that sent their last message (done, stopped or error)."""
        self.error: WorkerError | None = None
        self.interrupted = False
        self.stopping = False
        self.killed = False

    def stop_all(self) -> None:
        """Ask every running worker to stop (SIGTERM: it cancels its run and closes its streams)."""
        self.stopping = True
        for i, p in enumerate(self.procs):
            if i not in self.ended and p.is_alive():
                p.terminate()

    def kill_all(self) -> None:
        self.killed = self.stopping = True
        for p in self.procs:
            if p.is_alive():
                p.kill()

    def fail(self, err: WorkerError) -> None:
        if self.error is None:
            self.error = err
        else:
            log.warning("%s", err)
        self.stop_all()

    def handle(self, i: int, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "row":
            row = LiveRow.from_record(msg[1])
            if self.results is not None:
                self.results.add(row)
            self.rows[row.problem_id] = row
            if self.on_row is not None:
                self.on_row(row)
        elif kind == "done":
            self.ended.add(i)
        elif kind == "stopped":
            self.ended.add(i)
            if not self.stopping:  # someone else sent it SIGTERM
                self.fail(WorkerError(i + 1, self.n, "exit", "was stopped (SIGTERM) before finishing its problems"))
        elif kind == "error":
            self.ended.add(i)
            _, name, message, tb, ours = msg
            if not ours:  # a bug, not a deepprune error: show where
                log.error("worker %d failed:\n%s", i + 1, tb)
            self.fail(WorkerError(i + 1, self.n, name, message, tb))
        else:  # pragma: no cover - a protocol bug
            self.fail(WorkerError(i + 1, self.n, "ProtocolError", f"unknown message {kind!r}"))

    def step(self) -> None:
        for c in multiprocessing.connection.wait(list(self.conns)):
            assert isinstance(c, _Conn)
            i = self.conns[c]
            try:
                msg = c.recv()
            except EOFError:  # the worker closed its end: it has exited or is exiting
                del self.conns[c]
                c.close()
                p = self.procs[i]
                p.join()
                if i not in self.ended:
                    self.ended.add(i)
                    if not self.stopping:
                        self.fail(WorkerError(i + 1, self.n, "exit",
                                              f"exited with status {p.exitcode} before finishing its problems "
                                              "(killed? out of memory?)"))
                continue
            self.handle(i, msg)

    def loop(self) -> None:
        while self.conns:
            try:
                self.step()
            except KeyboardInterrupt:
                self.interrupted = True
                if self.stopping:
                    log.warning("interrupted again: killing the workers")
                    self.kill_all()
                else:
                    self.stop_all()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def run_sharded(
    problems: Sequence[Problem],
    endpoints: Sequence[EndpointConfig],
    settings: RunSettings,
    *,
    workers: int,
    results: ResultsFile | None = None,
    concurrency: int = 1,
    on_row: Callable[[LiveRow], None] | None = None,
) -> list[LiveRow]:
    """:func:`~deepprune.engine.liverun.run_live` over ``workers`` processes (see the module docstring);
    rows in problem order. Each worker runs ``concurrency`` problems at a time, with its own
    streams (``max_concurrency`` per endpoint and per worker). Raises :class:`WorkerError` when a
    worker fails and :class:`KeyboardInterrupt` when interrupted, after writing every row the
    workers finished."""
    done: dict[str, LiveRow] = dict(results.done) if results is not None else {}
    failed = results.failed if results is not None else {}
    todo = [p for p in problems if p.id not in done]
    shards = shard(todo, workers) if todo else []
    parent = _Parent(len(shards), results, on_row)
    ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold threads and sockets
    level = logging.getLogger().getEffectiveLevel()
    try:
        for i, part in enumerate(shards):
            job = _Job(i, part, list(endpoints), settings,
                       {p.id: failed[p.id].to_record() for p in part if p.id in failed}, concurrency, level)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker_main, args=(job, send), name=f"deepprune-worker-{i + 1}", daemon=True)
            parent.procs.append(proc)
            with _sigint_ignored():  # inherited: a Ctrl-C while the worker imports does not kill it
                proc.start()
            send.close()  # the worker holds the only write end: its exit is our EOF
            parent.conns[recv] = i
        log.info("running %d problem(s) on %d worker process(es)", len(todo), len(shards))
        parent.loop()
    except KeyboardInterrupt:  # while starting the workers
        parent.interrupted = True
        parent.stop_all()
        parent.loop()
    finally:
        for p in parent.procs:
            if p.is_alive():
                p.kill()
            p.join()
        for c in parent.conns:
            c.close()
    if parent.error is not None:
        raise parent.error
    if parent.interrupted:
        raise KeyboardInterrupt
    missing = [p.id for p in todo if p.id not in parent.rows]
    if missing:  # pragma: no cover - every worker said done
        raise WorkerError(0, len(shards), "ProtocolError", f"no row for problem(s) {missing[:5]}")
    return [done[p.id] if p.id in done else parent.rows[p.id] for p in problems]
