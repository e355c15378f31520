"""The trace book: which recorded problem a request is about, and which of its traces it gets.

See :mod:`deepprune.servers.replay` ("Which problem", "Which trace") for the rules. Thread-safe.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Mapping
from typing import Any

from deepprune.core.seeds import trace_seed
from deepprune.core.types import Problem, Trace, TraceSet
from deepprune.servers.replay.config import Assign
from deepprune.servers.replay.errors import BadRequest
from deepprune.servers.replay.request import prompt_text
from deepprune.servers.replay.wire import token_pieces

__all__ = ["TraceBook"]


class TraceBook:
    """Problems and traces of ``traceset``, handed out to requests by ``assign``."""

    def __init__(self, traceset: TraceSet, *, assign: Assign, seed_base: int) -> None:
        self.traceset = traceset
        self.assign = assign
        self._by_id: dict[str, Problem] = {p.id: p for p in traceset.problems}
        self._by_question: dict[str, Problem] = {}
        for p in traceset.problems:
            self._by_question.setdefault(p.question.strip(), p)
        self._rr: dict[str, int] = {}
        self._by_seed: dict[str, dict[int, int]] = {}
        self._pieces: dict[tuple[str, int], tuple[str, ...]] = {}
        self._cum: dict[tuple[str, int], list[int]] = {}
        self._seed_index: dict[str, dict[int, int]] = {
            p.id: {trace_seed(seed_base, p.id, k): k for k in range(len(traceset.traces_of(p.id)))}
            for p in traceset.problems}
        self._lock = threading.Lock()

    def match(self, body: Mapping[str, Any], chat: bool) -> Problem:
        """The problem a request names: ``problem_id`` (top level or in ``metadata``), else its prompt."""
        meta = body.get("metadata")
        pid = body.get("problem_id")
        if pid is None and isinstance(meta, Mapping):
            pid = meta.get("problem_id")
        if pid is not None:
            if str(pid) not in self._by_id:
                raise BadRequest(404, f"no recorded problem with problem_id {pid!r}")
            return self._by_id[str(pid)]
        text = prompt_text(body, chat)
        hit = self._by_question.get(text.strip())
        if hit is not None:
            return hit
        best: Problem | None = None
        for q, p in self._by_question.items():
            if q and q in text and (best is None or len(q) > len(best.question.strip())):
                best = p
        if best is None:
            where = "the last user message" if chat else "the prompt"
            raise BadRequest(404, f"no recorded problem matches {where} ({text[:80]!r}...); send a "
                                  "problem's exact question text, or a problem_id field")
        return best

    def pick(self, problem: Problem, seed: int | None) -> Trace:
        """The trace a new request for ``problem`` with ``seed`` gets."""
        traces = self.traceset.traces_of(problem.id)
        if not traces:
            raise BadRequest(404, f"problem {problem.id!r} has no recorded traces")
        mode = self.assign
        if mode is Assign.SEED or (mode is Assign.AUTO and seed is not None):
            s = 0 if seed is None else seed
            with self._lock:
                given = self._by_seed.setdefault(problem.id, {})
                for i, t in enumerate(traces):
                    if t.seed is not None and t.seed == s:
                        given[s] = i
                        return t
                k = self._seed_index[problem.id].get(s)
                if k is not None:
                    given[s] = k
                    return traces[k]
                if s not in given:
                    taken = set(given.values())
                    recorded = {t.seed for t in traces if t.seed is not None}
                    free = [i for i, t in enumerate(traces) if i not in taken and t.seed not in recorded]
                    free = free or [i for i in range(len(traces)) if i not in taken]
                    given[s] = free[0] if free else len(given) % len(traces)
                return traces[given[s]]
        with self._lock:
            i = self._rr.get(problem.id, 0)
            self._rr[problem.id] = i + 1
        return traces[i % len(traces)]

    def continuation(self, problem: Problem, prefill: str) -> tuple[Trace, int] | None:
        """The trace (and token position) whose text so far is ``prefill``, for a request that
        continues a stopped trace; previously served traces first, then recorded order."""
        if not prefill:
            return None
        traces = self.traceset.traces_of(problem.id)
        with self._lock:
            served = set(self._by_seed.get(problem.id, {}).values())
        for t in sorted(traces, key=lambda t: (t.index not in served, t.index)):
            if not t.text.startswith(prefill):
                continue
            cum = self._cum_of(t)
            i = bisect.bisect_left(cum, len(prefill))
            if i < len(cum) and cum[i] == len(prefill):
                return t, i
        return None

    def pieces_of(self, trace: Trace) -> tuple[str, ...]:
        """The trace's token pieces (cached)."""
        key = (trace.problem_id, trace.index)
        pieces = self._pieces.get(key)
        if pieces is None:
            pieces = self._pieces[key] = token_pieces(trace)
        return pieces

    def _cum_of(self, trace: Trace) -> list[int]:
        key = (trace.problem_id, trace.index)
        cum = self._cum.get(key)
        if cum is None:
            cum = self._cum[key] = [0, *itertools.accumulate(len(x) for x in self.pieces_of(trace))]
        return cum
