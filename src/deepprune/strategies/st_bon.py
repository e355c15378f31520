"""ST-BoN (text variant): decode all K briefly, keep the one most consistent with the others.

Wang, Zhang, Huang, Yang, Zhang, Huang and Wang, *Sampling-Efficient Test-Time Scaling:
Self-Estimating the Best-of-N Sampling in Early Decoding* (NeurIPS 2025, arXiv 2503.01422).
Self-Truncation Best-of-N needs no reward model: a sample whose early decoding agrees most with
the other samples' is the likeliest to end well, so after a short common start every sample but
that one is truncated.

The published rule (and the authors' public code):

1. decode all N samples until the **earliest estimation time** ``c``: the first step at which
   every pair of samples differs (or a sample has ended);
2. keep decoding through a **buffer window** of ``tau = tau_coeff * c`` more steps
   (``tau_coeff = 1`` by default: the window is ``(c, 2c]``);
3. at every step of the window score each sample by its mean distance to the others (the paper:
   a scalar "chain-of-embedding" feature of the **hidden states**, squared differences) and take
   the closest one; the sample chosen most often in the window wins (ties: the lowest index);
4. truncate the other N - 1 samples; the winner finishes and is the answer.

What runs here (the open choices and ours): the paper reads the model's hidden states, which an
OpenAI-compatible server does not return, so this port compares the **text prefixes** of the
traces: two prefixes "differ" when their texts differ, and a trace's consistency at a step is
its mean similarity to the other traces (``sim=lexical``, default, judge-free; ``sim=minilm``
with the ``[judge]`` extra; any judge name works) — mean similarity is maximised instead of mean
distance minimised. Steps are checkpoints every ``every`` tokens (default 4) instead of every
token, so ``c`` is found to within ``every`` tokens. Prefixes that differ after a few tokens
carry little meaning, so ``min_tokens`` (default 0 = the paper) delays ``c`` and ``max_tokens``
(default 512) caps it when the prefixes stay identical (e.g. greedy duplicates). A trace that
finished before the decision is still a candidate, with its whole text; a trace that failed is
not. Lock-step replay charges every trace exactly up to the decision checkpoint; live, a trace is
stopped at its first chunk after it.

If the winner ends **without an answer** (e.g. at the length limit), the next candidate (most
window votes, then highest mean similarity at the last checkpoint) is resumed (replay: its
recorded continuation, nothing charged twice), and so on: an extension of the paper, which
always answers with the winner. ``Decision.info`` gives ``c``, the decision point, the winner's
window votes and the number of such fallbacks. With K = 1 the single trace simply finishes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from deepprune.core.errors import ConfigError
from deepprune.core.voting import majority_vote
from deepprune.judges.base import Judge
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    Resume,
    RunContext,
    Stop,
    Strategy,
    TraceFailed,
    TraceFinished,
    TraceProgress,
)
from deepprune.strategies.slim_sc import Checkpoints, similarity_matrix

__all__ = ["STBoNConfig", "STBoNStrategy"]


@dataclass(frozen=True)
class STBoNConfig:
    """Parameters of :class:`STBoNStrategy` (validated on construction)."""

    every: int = 4
    """Tokens between checkpoints (the paper checks every token)."""
    buffer: float = 1.0
    """The paper's ``tau_coeff``: the window after ``c`` is ``ceil(buffer * c)`` tokens
    (0 = decide at ``c`` itself)."""
    min_tokens: int = 0
    """``c`` is never earlier than this many tokens (0 = the paper's rule)."""
    max_tokens: int = 512
    """``c`` is at most this many tokens, even if some prefixes are still identical."""

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ConfigError("every", self.every, "a positive number of tokens")
        if not self.buffer >= 0.0:  # also rejects nan
            raise ConfigError("buffer", self.buffer, "a non-negative multiple of c")
        if self.min_tokens < 0:
            raise ConfigError("min_tokens", self.min_tokens, "a non-negative number of tokens")
        if self.max_tokens < max(1, self.min_tokens):
            raise ConfigError("max_tokens", self.max_tokens, f">= max(1, min_tokens={self.min_tokens})")


class STBoNStrategy(Strategy):
    """ST-BoN on text prefixes (see the module docstring): one trace finishes and answers."""

    name = "st-bon"
    family: ClassVar[str] = "stop-early"
    paper: ClassVar[str] = "Wang et al. 2025, arXiv 2503.01422"

    def __init__(self, judge: Judge, config: STBoNConfig | None = None) -> None:
        self.judge = judge
        self.blocking = judge.blocking  # a model similarity runs off the event loop
        self.cfg = config or STBoNConfig()
        self._ctx: RunContext | None = None
        self._kind = "math"
        self._checks = Checkpoints(self.cfg.every)
        self._running: set[int] = set()
        self._finished: dict[int, tuple[str, str | None]] = {}  # trace -> (text, answer)
        self._failed: set[int] = set()
        self._stopped: set[int] = set()
        self._c: int | None = None
        self._last: int | None = None
        self._votes: dict[int, int] = {}
        self._score: dict[int, float] = {}
        self._ranking: list[int] | None = None
        self._winner: int | None = None
        self._decided_at: int | None = None
        self._fallbacks = 0
        self.judge_calls = 0
        self.judge_tokens = 0

    # ------------------------------------------------------------------ protocol
    def start(self, ctx: RunContext) -> Sequence[Action]:
        self._ctx = ctx
        self._kind = ctx.problem.kind
        self._running = set(range(ctx.budget))
        if ctx.budget == 1:  # nothing to compare: the single trace is the winner
            self._ranking = [0]
            self._winner = 0
        return [Launch(ctx.budget)]

    def watch(self, trace_id: int) -> int | None:
        if self._ranking is not None or trace_id not in self._running:
            return None
        return self._checks.wait(trace_id)

    def on_event(self, event: Event) -> Sequence[Action]:
        tid = event.trace_id
        if isinstance(event, TraceProgress):
            if self._ranking is None and tid in self._running:
                self._checks.note(tid, event.n_tokens, event.text)
        elif isinstance(event, TraceFinished):
            self._running.discard(tid)
            self._finished[tid] = (event.text, event.answer)
        elif isinstance(event, TraceFailed):
            self._running.discard(tid)
            self._failed.add(tid)
        if self._ranking is not None:
            return ()
        for tokens, texts in self._checks.ready(self._running):
            if self._checkpoint(tokens, texts):
                return self._decide(tokens)
        if not self._running:  # every trace ended before the decision point
            if not self._votes:
                self._scores({})
            return self._decide(None)
        return ()

    def on_idle(self) -> Sequence[Action]:
        """The winner ended without an answer: try the next candidate (see the docstring)."""
        if self._ranking is None or self._winner is None or self._answer_of(self._winner) is not None:
            return ()
        if self._winner in self._running:
            return ()
        rest = self._ranking[self._ranking.index(self._winner) + 1:]
        for t in rest:
            self._winner = t
            self._fallbacks += 1
            if t in self._finished:
                if self._finished[t][1] is not None:
                    return ()
                continue
            if t in self._stopped:
                self._stopped.discard(t)
                self._running.add(t)
                return [Resume(t)]
        return ()

    def result(self) -> Decision:
        answer = self._answer_of(self._winner) if self._winner is not None else None
        if answer is None and self._finished:  # no candidate answered: whatever finished votes
            answer = majority_vote([a for _, a in self._finished.values()], kind=self._kind).answer
        return Decision(
            answer,
            judge_calls=self.judge_calls,
            judge_tokens=self.judge_tokens,
            info={"c": self._c, "decided_at": self._decided_at, "winner": self._winner,
                  "window_votes": self._votes.get(self._winner, 0) if self._winner is not None else 0,
                  "fallbacks": self._fallbacks},
        )

    # ------------------------------------------------------------------ internals
    def _answer_of(self, tid: int) -> str | None:
        return self._finished[tid][1] if tid in self._finished else None

    def _checkpoint(self, tokens: int, texts: dict[int, str]) -> bool:
        """Handle one checkpoint; True when the decision falls here."""
        cfg = self.cfg
        if self._c is None:
            everyone = list(texts.values()) + [text for text, _ in self._finished.values()]
            distinct = len(set(everyone)) == len(everyone)
            if (tokens >= cfg.min_tokens and (distinct or self._finished)) or tokens >= cfg.max_tokens:
                self._c = tokens
                tau = math.ceil(cfg.buffer * tokens)
                self._last = tokens + (math.ceil(tau / cfg.every) * cfg.every if tau else 0)
                if tau:
                    return False
            else:
                return False
        self._scores(texts)
        assert self._last is not None
        return tokens >= self._last

    def _scores(self, texts: dict[int, str]) -> None:
        """One window step: every candidate's mean similarity to the others; the best gets a vote."""
        cands = {**{t: text for t, (text, _) in self._finished.items()}, **texts}
        ids = sorted(cands)
        if not ids:
            return
        sims, cost = similarity_matrix(self.judge, [cands[t] for t in ids], ids, self._ctx)
        self.judge_calls += len(ids) * (len(ids) - 1) // 2
        self.judge_tokens += cost
        n = len(ids)
        mean = (sims.sum(axis=1) - 1.0) / max(1, n - 1)
        best = ids[int(np.argmax(mean))]  # first maximum: the lowest trace id wins ties
        self._votes[best] = self._votes.get(best, 0) + 1
        self._score = {t: float(m) for t, m in zip(ids, mean, strict=True)}

    def _decide(self, tokens: int | None) -> list[Action]:
        cands = sorted(set(self._score) | set(self._finished) | self._running)
        self._ranking = sorted(cands, key=lambda t: (-self._votes.get(t, 0), -self._score.get(t, 0.0), t))
        self._winner = self._ranking[0]
        self._decided_at = tokens
        actions: list[Action] = []
        for t in sorted(self._running - {self._winner}):
            self._running.discard(t)
            self._stopped.add(t)
            actions.append(Stop(t))
        return actions
