"""Early-Stopping Self-Consistency (ESC; Li et al., ICLR 2024).

Traces are sampled in windows of ``w`` (default 5) that run in parallel; when a window is
complete and all its answers are equivalent (and present), sampling stops; otherwise the next
window starts, up to the budget K. The final answer is the majority vote over every finished
trace (as in the paper). Nothing is stopped mid-trace: the savings come from never launching
the later windows.
"""

from __future__ import annotations

from collections.abc import Sequence

from deepprune.core.answers import group_answers
from deepprune.core.errors import ConfigError
from deepprune.core.voting import majority_vote
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    RunContext,
    Strategy,
    TraceFailed,
    TraceFinished,
)

__all__ = ["EarlyStoppingSC"]


class EarlyStoppingSC(Strategy):
    """Windows of ``w`` traces; stop at the first unanimous window."""

    name = "esc"
    family = "stop-early"
    paper = "Li et al., Early-Stopping Self-Consistency (ESC), ICLR 2024, arXiv 2401.10480"

    def __init__(self, window: int = 5) -> None:
        if window < 1:
            raise ConfigError("w", window, "a positive integer")
        self.window = window
        self._ctx: RunContext | None = None
        self._launched = 0
        self._pending = 0
        self._current: list[str | None] = []
        self._answers: list[str | None] = []
        self._windows = 0
        self._stopped_early = False

    def start(self, ctx: RunContext) -> Sequence[Action]:
        self._ctx = ctx
        return self._next_window()

    def _next_window(self) -> list[Action]:
        assert self._ctx is not None
        n = min(self.window, self._ctx.budget - self._launched)
        if n <= 0:
            return []
        self._launched += n
        self._pending = n
        self._current = []
        self._windows += 1
        return [Launch(n)]

    def on_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, TraceFinished):
            self._answers.append(event.answer)
            self._current.append(event.answer)
        elif isinstance(event, TraceFailed):
            self._current.append(None)
        else:
            return ()
        self._pending -= 1
        if self._pending > 0:
            return ()
        assert self._ctx is not None
        groups = group_answers(self._current, self._ctx.problem.kind)
        if groups and min(groups) >= 0 and len(set(groups)) == 1:
            self._stopped_early = self._launched < self._ctx.budget
            return ()
        return self._next_window()

    def result(self) -> Decision:
        assert self._ctx is not None
        vote = majority_vote(self._answers, kind=self._ctx.problem.kind)
        return Decision(vote.answer, info={"windows": self._windows, "stopped_early": self._stopped_early,
                                           "share": vote.share})
