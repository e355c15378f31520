"""Slim-SC: at checkpoints, stop one of every two running traces that are too similar.

Hong, Guo, Singh, Choukse and Ustiugov, *Slim-SC: Thought Pruning for Efficient Scaling with
Self-Consistency* (EMNLP 2025, arXiv 2509.13990). Correct and incorrect chains form separate
semantic clusters and the redundant ones are dense, so a chain whose thoughts are nearly the same
as another running chain's adds a vote without adding information: Slim-SC stops it at once and
votes over the chains that finish. No judge model, no confidences: the similarity of two texts
decides (the paper: cosine similarity of sentence embeddings of the chains' thoughts).

What runs here (a text port; the open choices and ours):

* **Checkpoints** every ``every`` generated tokens (default 64) stand in for the paper's thought
  boundaries (the end of a thought segment). At checkpoint ``t`` the **prefixes** of the running
  traces (all their text up to ``t`` tokens) are compared pairwise, in one batch.
  Replay is lock-step, so every prefix has exactly ``t`` tokens; live, a trace's prefix is its
  text at its first chunk at or after ``t`` (a fast stream keeps generating while the checkpoint
  waits for the slow ones: its extra tokens are charged).
* **Similarity** (``sim=``): any judge of :mod:`deepprune.judges.registry` scores a pair:
  ``lexical`` (default, judge-free Jaccard of word 1-2-gram sets) or ``minilm`` (extra
  ``[judge]``; ``(1 + cos) / 2`` of all-MiniLM-L6-v2 embeddings, so the paper's cosine 0.98 is
  ``threshold=0.99``). The paper's public code embeds with all-mpnet-base-v2; we reuse the
  judges' MiniLM encoder instead of adding a model.
* **Pruning**: pairs with similarity strictly above ``threshold`` are taken from the most
  similar down; while both traces of a pair still run, one of them is stopped:
  ``prune=random`` (default; the paper's *random pruning*, seeded by the run seed) or
  ``prune=redundant`` (stop the one with the higher mean similarity to the other running
  traces, keeping the more distinct one: our text reading of the paper's *diversity-based
  pruning*, which, as we read it, keeps the chain whose own thoughts are more diverse). One trace of every
  similar pair survives, so a checkpoint never stops every trace. ``threshold > 1`` never
  prunes: the strategy is then cons@K.
* Finished traces are not compared (their tokens are spent) and a checkpoint with fewer than
  two running traces does nothing.
* **Vote**: majority vote over the traces that finished; **stopped traces do not vote**, as in
  the paper (their answer is unknown). Ties go to the answer whose first trace finished earliest.

Similarity work is reported as judge cost (``judge_calls`` = pairs scored, ``judge_tokens`` =
approximate tokens of both prefixes per pair). With a model similarity (``sim=minilm``) the
strategy is ``blocking``: the live runner calls it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from deepprune.core.errors import ConfigError
from deepprune.core.tokens import approx_tokens
from deepprune.core.voting import majority_vote
from deepprune.judges.base import Judge, Pair
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    RunContext,
    Stop,
    Strategy,
    TraceFailed,
    TraceFinished,
    TraceProgress,
)
from deepprune.strategies.deepprune import _judge_lock

__all__ = ["PRUNE_RULES", "Checkpoints", "SlimSCConfig", "SlimSCStrategy", "similarity_matrix"]

PRUNE_RULES = ("random", "redundant")


def similarity_matrix(judge: Judge, texts: Sequence[str], ids: Sequence[int],
                      context: Any = None) -> tuple[npt.NDArray[np.float64], int]:
    """The symmetric ``(n, n)`` matrix of the judge's scores for all pairs of ``texts``
    (diagonal 1), computed in one batch, and the judge input tokens it cost.

    >>> from deepprune.judges.lexical import LexicalJudge
    >>> m, _ = similarity_matrix(LexicalJudge(), ["so x = 2", "so x = 2", "hmm"], [0, 1, 2])
    >>> m.round(2).tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    n = len(texts)
    out = np.eye(n, dtype=np.float64)
    if n < 2:
        return out, 0
    rows, cols = np.triu_indices(n, 1)
    pairs = [Pair(texts[i], texts[j], ids=(ids[i], ids[j]), context=context)
             for i, j in zip(rows.tolist(), cols.tolist(), strict=True)]
    with _judge_lock(judge):  # one judge is shared by the problems running in parallel
        probs = np.asarray(judge.predict_proba(pairs), dtype=np.float64)
    if probs.shape != (len(pairs),):
        raise ConfigError("similarity output shape", probs.shape, f"({len(pairs)},)")
    out[rows, cols] = probs
    out[cols, rows] = probs
    toks = [approx_tokens(t) for t in texts]
    return out, sum(toks[i] + toks[j] for i, j in zip(rows.tolist(), cols.tolist(), strict=True))


class Checkpoints:
    """Collects the running traces' texts at checkpoints ``every, 2 * every, ...`` tokens.

    ``note(trace_id, n_tokens, text)`` records a progress event; ``ready(running)`` pops the
    checkpoints every running trace has reached, in order, as ``(tokens, {trace_id: text})``
    of the traces running when each is popped
    (a trace's text at a checkpoint is its text at its first event at or after it). Traces
    that finish or stop are simply no longer in ``running``.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self.done = 0
        """Index of the last checkpoint handed out (checkpoint j is at ``j * every`` tokens)."""
        self._pending: dict[int, dict[int, str]] = {}
        self._seen: dict[int, int] = {}

    def wait(self, trace_id: int) -> int:
        """Tokens until the next checkpoint of ``trace_id``."""
        n = self._seen.get(trace_id, 0)
        return (n // self.every + 1) * self.every - n

    def note(self, trace_id: int, n_tokens: int, text: str) -> None:
        last = self._seen.get(trace_id, 0) // self.every
        self._seen[trace_id] = n_tokens
        for j in range(max(last, self.done) + 1, n_tokens // self.every + 1):
            self._pending.setdefault(j, {})[trace_id] = text

    def ready(self, running: set[int]) -> Iterator[tuple[int, dict[int, str]]]:
        """Lazily: ``running`` is read again before each checkpoint, so traces stopped at one
        checkpoint are not part of the next one (live, several can be ready at once)."""
        while True:
            j = self.done + 1
            got = self._pending.get(j)
            if got is None or not running or not running <= got.keys():
                return
            self.done = j
            del self._pending[j]
            yield j * self.every, {t: got[t] for t in sorted(running)}


@dataclass(frozen=True)
class SlimSCConfig:
    """Parameters of :class:`SlimSCStrategy` (validated on construction)."""

    threshold: float = 0.9
    """Stop one trace of a pair whose similarity is strictly above this (> 1: never)."""
    every: int = 64
    """Tokens between checkpoints (the stand-in for the paper's thought boundaries)."""
    prune: str = "random"
    """Which trace of a similar pair stops: ``random`` (seeded) or ``redundant`` (the one more
    similar, on average, to the other running traces)."""

    def __post_init__(self) -> None:
        if not self.threshold >= 0.0:  # also rejects nan
            raise ConfigError("threshold", self.threshold, "a similarity >= 0 (> 1 never prunes)")
        if self.every < 1:
            raise ConfigError("every", self.every, "a positive number of tokens")
        if self.prune not in PRUNE_RULES:
            raise ConfigError("prune", self.prune, " or ".join(PRUNE_RULES))


class SlimSCStrategy(Strategy):
    """Slim-SC (see the module docstring): similar running traces are pruned at checkpoints,
    the finished ones vote."""

    name = "slim-sc"
    family: ClassVar[str] = "prune"
    paper: ClassVar[str] = "Hong et al. 2025, arXiv 2509.13990"

    def __init__(self, judge: Judge, config: SlimSCConfig | None = None) -> None:
        self.judge = judge
        self.blocking = judge.blocking  # a model similarity runs off the event loop
        self.cfg = config or SlimSCConfig()
        self._ctx: RunContext | None = None
        self._kind = "math"
        self._rng = np.random.default_rng(0)
        self._checks = Checkpoints(self.cfg.every)
        self._running: set[int] = set()
        self._stopped: dict[int, int] = {}
        self._answers: list[str | None] = []
        self._checkpoints = 0
        self.judge_calls = 0
        self.judge_tokens = 0

    def start(self, ctx: RunContext) -> Sequence[Action]:
        self._ctx = ctx
        self._kind = ctx.problem.kind
        self._rng = np.random.default_rng([ctx.seed, 2509_13990])
        self._running = set(range(ctx.budget))
        return [Launch(ctx.budget)]

    def watch(self, trace_id: int) -> int | None:
        if trace_id not in self._running or len(self._running) < 2:
            return None
        return self._checks.wait(trace_id)

    def on_event(self, event: Event) -> Sequence[Action]:
        tid = event.trace_id
        if isinstance(event, TraceProgress):
            if tid not in self._running:
                return ()
            self._checks.note(tid, event.n_tokens, event.text)
        elif isinstance(event, TraceFinished):
            self._running.discard(tid)
            self._answers.append(event.answer)
        elif isinstance(event, TraceFailed):
            self._running.discard(tid)
        actions: list[Action] = []
        for tokens, texts in self._checks.ready(self._running):
            actions.extend(self._checkpoint(tokens, texts))
        return actions

    def _checkpoint(self, tokens: int, texts: dict[int, str]) -> list[Action]:
        if len(texts) < 2:
            return []
        self._checkpoints += 1
        ids = list(texts)
        sims, cost = similarity_matrix(self.judge, [texts[t] for t in ids], ids, self._ctx)
        self.judge_calls += len(ids) * (len(ids) - 1) // 2
        self.judge_tokens += cost
        alive = np.ones(len(ids), dtype=bool)
        rows, cols = np.triu_indices(len(ids), 1)
        above = [(float(sims[i, j]), i, j) for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
                 if sims[i, j] > self.cfg.threshold]
        above.sort(key=lambda x: (-x[0], x[1], x[2]))  # the most similar pair first
        actions: list[Action] = []
        for _, i, j in above:
            if not (alive[i] and alive[j]):
                continue
            victim = self._victim(i, j, sims, alive)
            alive[victim] = False
            tid = ids[victim]
            self._running.discard(tid)
            self._stopped[tid] = tokens
            actions.append(Stop(tid))
        return actions

    def _victim(self, i: int, j: int, sims: npt.NDArray[np.float64], alive: npt.NDArray[np.bool_]) -> int:
        if self.cfg.prune == "random":
            return j if self._rng.random() < 0.5 else i
        others = alive.copy()
        others[[i, j]] = False
        # mean similarity to the other running traces (just the pair: each other, a tie)
        si = float(sims[i, others].mean()) if others.any() else 0.0
        sj = float(sims[j, others].mean()) if others.any() else 0.0
        return i if si > sj else j  # ties: the later-launched trace stops

    def result(self) -> Decision:
        vote = majority_vote(self._answers, kind=self._kind)
        return Decision(
            vote.answer,
            judge_calls=self.judge_calls,
            judge_tokens=self.judge_tokens,
            info={"voters": sum(a is not None for a in self._answers), "stopped": len(self._stopped),
                  "stopped_at": dict(sorted(self._stopped.items())), "checkpoints": self._checkpoints,
                  "share": vote.share},
        )
