"""Probe-based early exit: stop a trace once its probed answers settle (Dynasor-CoT).

Fu et al., *Efficiently Serving LLM Reasoning Programs with Certaindex* (Dynasor-CoT, arXiv
2412.20993), and the answer-convergence observation of arXiv 2506.02536: a reasoning trace often
knows its answer long before it stops writing. Every ``every`` generated tokens each running trace
is *probed* (:class:`~deepprune.core.events.Probe`: the prompt, the text so far and a "final
answer" cue, greedy, a few tokens; see :mod:`deepprune.sources.probe`). Once a trace's last
``agree`` probes give the same answer it **exits**: it is stopped, and votes with that answer.

Problem-level stop (``consensus=on``, default): once at least ``min_traces`` traces have an answer
(finished, or exited) and every trace still running has been probed at least once, if all of
those answers and the running traces' latest probes agree, the problem stops (:class:`Halt`) and
every running trace votes with its latest probe.

Final answer: majority vote (deepprune's tie rule) over the finished traces' answers, the exited
traces' probed answers and, after a consensus stop, the running traces' latest probes.

Open choices, documented:

* Dynasor-CoT also discards probes that hedge ("wait", "hmm"); we count a probe only when it
  closes the answer box (:func:`deepprune.sources.probe.boxed_answer`): a probe without an answer
  breaks the run of agreeing probes.
* Probes are asked at multiples of ``every`` (the replay needs probes recorded there: ``deepprune
  probe --at tokens:64,128,...``; otherwise the strategy is an n/a row); a trace shorter than the
  next multiple simply finishes.
* The probes' generated tokens are charged to their traces (the runner's accounting rule).

With probes that never agree (or ``agree`` larger than any trace's probe count) and
``consensus=off`` it is exactly cons@K, plus the probes' tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from deepprune.core.answers import answers_equal
from deepprune.core.errors import ConfigError, NotApplicable
from deepprune.core.voting import majority_vote
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Halt,
    Launch,
    Probe,
    RunContext,
    Stop,
    Strategy,
    TraceFailed,
    TraceFinished,
    TraceProbed,
    TraceProgress,
)

__all__ = ["ProbeExitStrategy"]


class ProbeExitStrategy(Strategy):
    """Dynasor-CoT-style early exit on agreeing answer probes (see the module docstring)."""

    name = "probe-exit"
    family: ClassVar[str] = "stop-early"
    paper: ClassVar[str] = "Fu et al. 2024, arXiv 2412.20993 (Dynasor-CoT)"

    def __init__(self, every: int = 64, agree: int = 3, consensus: bool = True, min_traces: int = 2) -> None:
        if every < 1:
            raise ConfigError("every", every, "a positive number of tokens")
        if agree < 1:
            raise ConfigError("agree", agree, "a positive integer")
        if min_traces < 1:
            raise ConfigError("min_traces", min_traces, "a positive integer")
        self.every = every
        self.agree = agree
        self.consensus = consensus
        self.min_traces = min_traces
        self._ctx: RunContext | None = None
        self._probes: dict[int, list[str | None]] = {}
        self._waiting: set[int] = set()
        self._running: set[int] = set()
        self._finished: dict[int, str | None] = {}
        self._exited: dict[int, str] = {}
        self._order: list[int] = []
        self._halted = False
        self.n_probes = 0

    def start(self, ctx: RunContext) -> Sequence[Action]:
        if not ctx.can_probe:
            raise NotApplicable("probe-exit needs answer probes: a live server, or traces with probes recorded "
                                f"every {self.every} tokens ('deepprune probe TRACES --at tokens:{self.every},"
                                f"{2 * self.every},...')")
        self._ctx = ctx
        self._running = set(range(ctx.budget))
        return [Launch(ctx.budget)]

    def watch(self, trace_id: int) -> int | None:
        # the next checkpoint: ``every`` more tokens (lock-step replay: exactly the multiples)
        return self.every if trace_id in self._running and not self._halted else None

    def on_event(self, event: Event) -> Sequence[Action]:
        tid = event.trace_id
        if isinstance(event, TraceProgress):
            if tid in self._running and tid not in self._waiting and not self._halted:
                self._waiting.add(tid)
                self.n_probes += 1
                return [Probe(tid)]
            return ()
        if isinstance(event, TraceProbed):
            self._waiting.discard(tid)
            self._probes.setdefault(tid, []).append(event.answer)
            if tid not in self._running or self._halted:
                return ()
            last = self._probes[tid][-self.agree:]
            if len(last) == self.agree and last[0] is not None and all(
                    a is not None and self._same(a, last[0]) for a in last[1:]):
                self._running.discard(tid)
                self._exited[tid] = last[0]
                self._order.append(tid)
                return [Stop(tid), *self._maybe_halt()]
            return self._maybe_halt()
        if isinstance(event, TraceFinished):
            self._running.discard(tid)
            self._waiting.discard(tid)
            self._finished[tid] = event.answer
            self._order.append(tid)
            return self._maybe_halt()
        if isinstance(event, TraceFailed):
            self._running.discard(tid)
            self._waiting.discard(tid)
            return self._maybe_halt()
        return ()

    def _same(self, a: str, b: str) -> bool:
        assert self._ctx is not None
        return answers_equal(a, b, self._ctx.problem.kind)

    def _maybe_halt(self) -> list[Action]:
        if not self.consensus or self._halted or not self._running:
            return []
        answers = [a for a in (*self._finished.values(), *self._exited.values()) if a is not None]
        if len(answers) < self.min_traces:
            return []
        latest: list[str] = []
        for t in self._running:
            ps = self._probes.get(t)
            if not ps or ps[-1] is None:
                return []
            latest.append(ps[-1])
        first = answers[0]
        if all(self._same(a, first) for a in (*answers[1:], *latest)):
            self._halted = True
            return [Halt()]
        return []

    def result(self) -> Decision:
        assert self._ctx is not None
        votes: list[str | None] = []
        for t in self._order:
            votes.append(self._finished[t] if t in self._finished else self._exited[t])
        if self._halted:
            votes += [self._probes[t][-1] for t in sorted(self._running)]
        vote = majority_vote(votes, kind=self._ctx.problem.kind)
        return Decision(vote.answer, info={"probes": self.n_probes, "exited": len(self._exited),
                                           "consensus_stop": self._halted, "voters": len(votes)})
