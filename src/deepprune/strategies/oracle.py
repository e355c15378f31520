"""The oracle pruner: the lower bound on tokens a perfect redundancy judge could reach.

Simulation only (it reads the recorded final answers through the replay's
:class:`~deepprune.core.protocol.AnswerPeek`, which live sources do not offer: there it raises
:class:`~deepprune.core.errors.NotApplicable`). Every trace runs to the truncation point; there the oracle knows its
final answer: the first trace of each distinct answer keeps going and finishes, every later trace
of an answer already covered is stopped. The vote weights each answer by the number of traces
that reached it (as DeepPrune's ``vote=representatives`` with a perfect judge), so its accuracy
equals cons@K's up to tie-breaking.
"""

from __future__ import annotations

from collections.abc import Sequence

from deepprune.core.answers import group_answers
from deepprune.core.prefix import PrefixWatcher, Truncation
from deepprune.core.voting import majority_vote
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    RunContext,
    Stop,
    Strategy,
    TraceFinished,
    TraceProgress,
)

__all__ = ["OracleStrategy"]


class OracleStrategy(Strategy):
    """One trace per distinct final answer finishes; all others stop at the truncation point."""

    name = "oracle"
    family = "prune"
    paper = ""  # a bound (it knows the recorded final answers), not a published method

    def __init__(self, prefix: str | Truncation = "tokens:64") -> None:
        self.rule = Truncation.parse(prefix)
        self._watcher = PrefixWatcher(self.rule)
        self._ctx: RunContext | None = None
        self._group: list[int] = []
        self._decided: set[int] = set()
        self._rep_of_group: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._done_order: list[int] = []
        self._answers: dict[int, str | None] = {}
        self._wait: dict[int, int] = {}

    def start(self, ctx: RunContext) -> Sequence[Action]:
        peek = ctx.require_answer_peek("the oracle strategy")
        self._ctx = ctx
        answers = [peek.answer(i) for i in range(ctx.budget)]
        self._group = group_answers(answers, ctx.problem.kind)
        return [Launch(ctx.budget)]

    def watch(self, trace_id: int) -> int | None:
        if trace_id in self._decided:
            return None
        return self._wait.get(trace_id, self._watcher.wait(0, ""))

    def _decide(self, tid: int) -> Sequence[Action]:
        self._decided.add(tid)
        g = self._group[tid]
        self._size[g] = self._size.get(g, 0) + 1
        if g not in self._rep_of_group:
            self._rep_of_group[g] = tid
            return ()
        return [Stop(tid)]

    def on_event(self, event: Event) -> Sequence[Action]:
        tid = event.trace_id
        if isinstance(event, TraceProgress):
            if tid in self._decided:
                return ()
            buf, end = event.text_buffer, event.text_end
            if self._watcher.prefix(event.n_tokens, buf, key=tid, end=end) is not None:
                self._watcher.forget(tid)
                return self._decide(tid)
            self._wait[tid] = self._watcher.wait(event.n_tokens, buf, key=tid, end=end)
            return ()
        if isinstance(event, TraceFinished):
            actions: Sequence[Action] = ()
            if tid not in self._decided:
                actions = self._decide(tid)
            if not actions:
                self._done_order.append(tid)
                self._answers[tid] = event.answer
            return ()
        return ()

    def result(self) -> Decision:
        assert self._ctx is not None
        reps = self._done_order
        answers = [self._answers[t] for t in reps]
        weights = [float(self._size.get(self._group[t], 1)) for t in reps]
        vote = majority_vote(answers, weights, kind=self._ctx.problem.kind)
        return Decision(vote.answer, info={"groups": vote.groups})
