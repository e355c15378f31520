"""DeepConf (arXiv 2508.15260): confidence-filtered, confidence-weighted voting.

Both variants need per-token confidences (stored ``confs`` or top-k logprobs from a live
server); on data without them they raise :class:`~deepprune.core.errors.NotApplicable`
(a StrategyError) that says so.

**Offline** (:class:`DeepConfOffline`, ``deepconf``): all K traces finish (cost = cons@K); each
gets a trace score (``score=lowest|bottom10|mean|tail``, :mod:`deepprune.core.confidence`); the top
``keep`` fraction by score is kept (``ceil(keep * n)`` traces, at least one; ties keep the earlier
finisher), and the kept traces vote with weight = their score (``weighted=false``: unweighted).

**Online** (:class:`DeepConfOnline`, ``deepconf-low`` keep=0.1, ``deepconf-high`` keep=0.9):

1. warm-up: ``warmup`` (16) traces run to the end; score = lowest group confidence;
2. threshold ``s`` = the ``100 * (1 - keep)``-th percentile of the warm-up scores (numpy linear
   interpolation): low keeps the top 10% (90th percentile), high the top 90% (10th percentile);
3. more traces are sampled, ``parallel`` (16) at a time, up to the budget K; a trace is
   **terminated** at the first token where the mean confidence of its last ``window`` (2048)
   tokens falls below ``s``;
4. after the warm-up and after every finished trace, the consensus
   ``beta = V(top answer) / sum V`` over the voters is computed; sampling stops (running traces
   are stopped, their tokens charged) when ``beta >= consensus`` (0.95);
5. final answer: confidence-weighted vote (weight = the trace's lowest group confidence) over
   the warm-up traces whose score is ``>= s`` and the later traces that were not terminated.

Choices deepprune makes on the pitfalls of the public code (ALGORITHMS.md):

* the threshold comes from an explicit **keep fraction** (never a bare "percentile 90");
* the **consensus stop is implemented** (the paper has it, the public code does not);
  ``consensus=1.01`` (unreachable) turns it off to reproduce the public code;
* windows are checked **only once full**: a trace shorter than ``window`` is never terminated
  online (and votes with the mean of its confidences). On short-trace data set ``window``
  smaller, or DeepConf-online reduces to warm-up filtering plus the consensus stop.

Every generated token counts (warm-up and terminated traces included). Termination is exact in
replay: the strategy asks (``watch``) for the next event at the first token where the window
mean *could* fall below ``s`` (new tokens have confidence >= 0), so stopping is never late.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepprune.core.confidence import DEFAULT_WINDOW, SCORES, trace_score
from deepprune.core.errors import ConfigError
from deepprune.core.voting import majority_vote
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Halt,
    Launch,
    RunContext,
    Stop,
    Strategy,
    TraceFailed,
    TraceFinished,
    TraceProgress,
)
from deepprune.strategies.finished_vote import FinishedVoteStrategy, need_confidence

__all__ = ["DeepConfOffline", "DeepConfOfflineConfig", "DeepConfOnline", "DeepConfOnlineConfig", "keep_top",
           "need_confidence"]


def keep_top(scores: Sequence[float], keep: float) -> list[int]:
    """DeepConf's offline filter: indices (in input order) of the top ``keep`` fraction of
    ``scores`` (at least one; ties: the earlier index).

    >>> keep_top([1.0, 3.0, 2.0, 3.0], 0.5)
    [1, 3]
    """
    n_keep = max(1, math.ceil(keep * len(scores) - 1e-9))
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return sorted(order[:n_keep])


def _check_keep(keep: float) -> None:
    if not 0.0 < keep <= 1.0:
        raise ConfigError("keep", keep, "a fraction in (0, 1]")


@dataclass(frozen=True)
class DeepConfOfflineConfig:
    score: str = "lowest"
    """Trace score: lowest | bottom10 | mean | tail."""
    keep: float = 0.9
    """Fraction of traces kept by score before the vote (1.0 = no filtering; 0.1 aggressive)."""
    weighted: bool = True
    """Weight votes by the trace score (False: plain majority over the kept traces)."""
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ConfigError("score", self.score, " or ".join(SCORES))
        _check_keep(self.keep)
        if self.window < 1:
            raise ConfigError("window", self.window, "a positive integer")


class DeepConfOffline(FinishedVoteStrategy):
    """All K traces finish; filter the top ``keep`` by score; confidence-weighted vote."""

    name = "deepconf"
    family = "vote"
    paper = "Fu et al., Deep Think with Confidence (DeepConf), arXiv 2508.15260"

    def __init__(self, config: DeepConfOfflineConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or DeepConfOfflineConfig()
        self._done: list[tuple[str | None, float]] = []

    def on_finished(self, event: TraceFinished) -> None:
        confs = event.confs if event.confs is not None else ()
        self._done.append((event.answer, trace_score(confs, self.cfg.score, self.cfg.window)))

    def result(self) -> Decision:
        kept = keep_top([score for _, score in self._done], self.cfg.keep)
        answers = [self._done[i][0] for i in kept]
        weights = [self._done[i][1] for i in kept] if self.cfg.weighted else None
        vote = self.vote(answers, weights)
        return Decision(vote.answer, info={"kept": len(kept), "share": vote.share})


@dataclass(frozen=True)
class DeepConfOnlineConfig:
    keep: float = 0.1
    """Fraction of warm-up traces above the threshold: 0.1 = DeepConf-low, 0.9 = DeepConf-high."""
    warmup: int = 16
    window: int = DEFAULT_WINDOW
    consensus: float = 0.95
    """Stop sampling when the weighted share of the top answer reaches this (> 1: never)."""
    parallel: int = 16
    """Traces generating at once after the warm-up (in-flight traces are charged at a stop)."""

    def __post_init__(self) -> None:
        _check_keep(self.keep)
        for name in ("warmup", "window", "parallel"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "a positive integer")
        if self.consensus <= 0:
            raise ConfigError("consensus", self.consensus, "a share in (0, 1] (or > 1 to disable)")


class DeepConfOnline(Strategy):
    """Warm-up, confidence threshold, windowed early termination, consensus stop."""

    name = "deepconf-online"
    family = "prune"
    paper = "Fu et al., Deep Think with Confidence (DeepConf), arXiv 2508.15260"

    def __init__(self, config: DeepConfOnlineConfig | None = None) -> None:
        self.cfg = config or DeepConfOnlineConfig()
        self._ctx: RunContext | None = None
        self._k = 0
        self._launched = 0
        self._n_warm = 0
        self._warm_done = 0
        self._threshold: float | None = None
        self._warm: list[tuple[int, str | None, float]] = []
        self._voters: list[tuple[str | None, float]] = []
        self._all_done: list[tuple[str | None, float]] = []
        self._running: set[int] = set()
        self._csum: dict[int, list[float]] = {}
        self._negative: set[int] = set()
        self._terminated = 0
        self._halted = False

    def start(self, ctx: RunContext) -> Sequence[Action]:
        need_confidence(ctx, self.name)
        self._ctx = ctx
        self._k = ctx.budget
        self._n_warm = min(self.cfg.warmup, ctx.budget)
        return self._launch(self._n_warm)

    # ------------------------------------------------------------------ helpers
    def _launch(self, n: int) -> list[Action]:
        n = min(n, self._k - self._launched)
        if n <= 0:
            return []
        for tid in range(self._launched, self._launched + n):
            self._running.add(tid)
            if tid >= self._n_warm:
                self._csum[tid] = [0.0]
        self._launched += n
        return [Launch(n)]

    def _is_warm(self, tid: int) -> bool:
        return tid < self._n_warm

    def _beta(self) -> float:
        assert self._ctx is not None
        if not self._voters:
            return 0.0
        return majority_vote([a for a, _ in self._voters], [w for _, w in self._voters],
                             kind=self._ctx.problem.kind).share

    def _after_vote(self) -> list[Action]:
        if self._beta() >= self.cfg.consensus:
            self._halted = True
            return [Halt()]
        return self._launch(self.cfg.parallel - len(self._running))

    def watch(self, trace_id: int) -> int | None:
        cs = self._csum.get(trace_id)
        if cs is None or self._threshold is None:
            return None  # warm-up traces: only their end matters
        n = len(cs) - 1
        w = self.cfg.window
        if n < w:
            return w - n
        if trace_id in self._negative:
            return 1
        # smallest j such that dropping the next j oldest tokens (new ones >= 0) could cross s
        margin = (cs[n] - cs[n - w]) - self._threshold * w
        seg = np.asarray(cs[n - w: n + 1])
        drops = seg[1:] - seg[0]
        j = int(np.searchsorted(drops, margin, side="right")) + 1
        return max(1, min(j, w))

    # ------------------------------------------------------------------ events
    def on_event(self, event: Event) -> Sequence[Action]:
        tid = event.trace_id
        if self._halted:
            return ()
        if isinstance(event, TraceProgress):
            return self._progress(event)
        if isinstance(event, TraceFinished):
            self._running.discard(tid)
            confs = event.confs if event.confs is not None else ()
            score = trace_score(confs, "lowest", self.cfg.window)
            self._all_done.append((event.answer, score))
            if self._is_warm(tid):
                self._warm.append((tid, event.answer, score))
                self._warm_done += 1
                return self._maybe_end_warmup()
            self._csum.pop(tid, None)
            self._voters.append((event.answer, score))
            return self._after_vote()
        if isinstance(event, TraceFailed):
            self._running.discard(tid)
            self._csum.pop(tid, None)
            if self._is_warm(tid):
                self._warm_done += 1
                return self._maybe_end_warmup()
            return self._launch(self.cfg.parallel - len(self._running))
        return ()

    def _maybe_end_warmup(self) -> list[Action]:
        if self._warm_done < self._n_warm:
            return []
        scores = [s for _, _, s in self._warm]
        self._threshold = float(np.percentile(scores, 100 * (1 - self.cfg.keep))) if scores else math.inf
        self._voters = [(a, s) for _, a, s in sorted(self._warm) if s >= self._threshold]
        return self._after_vote()

    def _progress(self, event: TraceProgress) -> list[Action]:
        tid = event.trace_id
        cs = self._csum.get(tid)
        if cs is None or event.new_confs is None or self._threshold is None:
            return []
        start_n = len(cs) - 1
        for c in event.new_confs:
            if c < 0:
                self._negative.add(tid)
            cs.append(cs[-1] + c)
        n = len(cs) - 1
        w = self.cfg.window
        if n < w:
            return []
        lo = max(w, start_n + 1)
        arr = np.asarray(cs[lo - w: n + 1])
        means = (arr[w:] - arr[: arr.size - w]) / w
        if np.any(means < self._threshold):
            self._running.discard(tid)
            self._csum.pop(tid, None)
            self._terminated += 1
            return [Stop(tid), *self._launch(self.cfg.parallel - len(self._running))]
        return []

    def on_idle(self) -> Sequence[Action]:
        if self._halted or self._threshold is None:
            return ()
        return self._launch(self.cfg.parallel)

    def result(self) -> Decision:
        assert self._ctx is not None
        kind = self._ctx.problem.kind
        vote = majority_vote([a for a, _ in self._voters], [w for _, w in self._voters], kind=kind)
        answer = vote.answer
        fallback = False
        if answer is None and self._all_done:
            answer = majority_vote([a for a, _ in self._all_done], [w for _, w in self._all_done], kind=kind).answer
            fallback = answer is not None
        return Decision(answer, info={
            "threshold": self._threshold, "voters": len(self._voters), "terminated": self._terminated,
            "consensus_stop": self._halted, "share": vote.share, "fallback_vote": fallback})
