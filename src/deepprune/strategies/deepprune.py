"""DeepPrune: greedy clustering of partial traces by a judge, pruning, vote.

Arxiv 2510.08483 ("Parallel Scaling without Inter-trace Redundancy"), online part. All K traces
are launched in parallel. When a trace's prefix reaches the truncation point
(:mod:`deepprune.core.prefix`, default ``words:25``) it is compared with the clusters formed so far:

* ``sim(t, c)`` = mean judge probability P(same final answer) between ``t`` and the first ``p``
  members of cluster ``c`` (``p = 1``: the cluster's representative, the trace that opened it).
  The pairs for all clusters go to the judge in **one batch** per trace (greedy clustering is
  sequential: a trace's clusters depend on the traces before it, so that is the batch the
  clustering allows).
* If ``max sim > tau`` the trace joins the most similar cluster (ties: the older cluster) and
  **its generation stops at once**; otherwise it opens a new cluster and keeps generating.
* At the cap (``kmax`` clusters, documented choice of the open detail) a trace that would open a
  new cluster joins the most similar one and stops.
* A trace that finishes before reaching the truncation point is clustered at its end with its
  whole text as prefix (its tokens are already spent: it is not stopped).

Final answer (both published descriptions, by name):

``vote=representatives`` (default)
    Every cluster's representative finishes; its answer votes with the weight of its cluster's
    size, so frequency information is kept. With a perfect judge this is exactly the ``oracle``
    row (same prefix rule).
``vote=largest``
    Once every trace is clustered, the running representatives of the other clusters are
    stopped, and the largest cluster (ties: the older) lets its first ``k2`` members (join order)
    finish: the stopped ones are **resumed** from where they stopped (replay: the recorded
    continuation, no token charged twice; live: the source continues the stopped text). The
    finished traces of that cluster vote (unweighted). If every cluster is a singleton, ``k3``
    traces finish: those already finished first, then running ones drawn at random (seeded);
    the rest are stopped; the finished ones vote.

**Recovery** (``recover=N``, default 2; ``0`` = the paper's behaviour). A weak judge merges
traces that end differently, and the representatives vote then silently moves their votes to
another answer. With recovery the vote counts a pruned trace for its cluster's answer only
until it is checked: once every running trace has finished, while the winning answer does not
lead the runner-up by at least ``N`` votes of *finished* traces, or does not lead it strictly
once the pruned traces' predicted votes are added, pruned traces are resumed (replay: the
recorded continuation; live: a continuation request; nothing is charged twice) and then vote
with their own answer. Resumed first: pruned members of clusters voting for the current winner
(else the runner-up, else any), the lowest judge probability first (the likeliest to disagree).
A round resumes as many as the winner still needs votes, or as many as all earlier rounds
together when that is more (``recover_batch=double``, default: a diffuse problem needs ~log2 of
its pruned traces in rounds instead of one round per vote; ``finished`` = at least as many as
have finished, doubling the finished votes each round; ``need`` = only what the winner needs;
``one`` = one at a time), and the moment the vote turns clear the round's traces still running
are stopped again. Each round waits for its traces, so rounds are what recovery costs in wall
clock live. **Verifiers** (``verifiers=n``, default 1, with recovery only): the first ``n``
traces to join each cluster are not stopped at the prefix; they run on beside the
representative, so the check recovery would make once the representative finished happens at
the same time instead of after it (on a cluster whose first member agrees, the same tokens in
about half the time). Resumed traces are counted in ``Decision.info["recovered"]``, resume rounds
in ``info["recovery_rounds"]``, traces stopped again mid-round in ``info["recovery_cancelled"]``.
With a perfect judge a problem whose answer leads by fewer than ``N`` traces is resumed until it
does (or no pruned trace is left); with no pruned trace left the vote is cons@K's.

**Trust** (``trust=q``; default off): a pruned trace that joined its cluster with judge
probability at least ``q`` counts, for recovery, as a finished vote for its cluster's answer and
is never resumed: recovery then checks only the merges the judge was unsure of.

**Futility** (``futile=q``, ``futile_after=n``; default off, ``n`` = 8): once at least ``n``
traces have finished and no answer holds a share ``q`` of them, the problem is diffuse — cons@K's
answer there is a lottery — and recovery stops; the answer is the current winner. Off by
default: chosen by cross-validation by problem on both datasets we hold
(``benchmarks/cv_recovery.py``), no value generalised (held-out accuracy fell 3-5 points on the
diffuse dataset).

**Budget** (``recover_max=n``; default off): recovery stops once ``n`` traces have finished
(representatives and resumed traces together), and the vote then counts the finished traces for
their own answers plus only the *trusted* merges (``trust``, verified probes): an unchecked merge
of a weak judge would otherwise decide the answer it was not checked for. Reported in
``info["recovery_capped"]``. It bounds the spend on a diffuse problem, where no answer ever leads
by ``recover`` votes and uncapped recovery resumes nearly every pruned trace; with ``K <= n`` it
never binds. Off by default: on the diffuse dataset it trades about a point of accuracy for ~28
points of tokens, and no value chosen by cross-validation by problem kept the accuracy bar
(BENCHMARKS.md, "DeepPrune accuracy levers, part 3").

**Answer probes** (``probe=on``; default off; Dynasor-CoT's probe, arXiv 2412.20993, used as
judge evidence): when a trace reaches the prefix the strategy first asks its current answer
(:class:`~deepprune.core.events.Probe`: replay reads the probe recorded by ``deepprune probe``,
live sends a short greedy request) and clusters it when the answer comes back. For a pair whose
two sides both have an answer — the probed one, or the final one of a trace that already
finished — the pair's probability is ``1`` when the answers are equal and ``0`` when they
differ, blended with the judge's by ``probe_weight`` (1 = the probes decide); a pair where a
side has no answer keeps the judge's probability. The probe's generated tokens are charged.
A trace that joined a cluster because its answer agreed with the representative's (``probe_weight``
1) is *verified*: with ``trust_probes`` (default on) recovery counts it as a finished vote for its
cluster's answer and never resumes it, so recovery spends tokens only on merges the judge alone
decided (``trust_probes=off`` resumes them like any other).

If the voters give no answer (e.g. a representative ended without one), the answer is a plain
majority vote over every finished trace. Judge calls (pairs scored) and judge input tokens
(:func:`~deepprune.judges.base.pair_tokens`) are counted in the Decision, apart from generated
tokens. With a judge that never says "same" (``judge=constant``) and ``kmax >= K``,
``vote=representatives`` is exactly cons@K.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from deepprune.core.answers import answers_equal, group_answers
from deepprune.core.confidence import SCORES, trace_score
from deepprune.core.errors import ConfigError, NotApplicable
from deepprune.core.prefix import PrefixWatcher, Truncation
from deepprune.core.tokens import approx_tokens
from deepprune.core.voting import majority_vote
from deepprune.judges.base import Judge, Pair
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    Probe,
    Resume,
    RunContext,
    Stop,
    Strategy,
    TraceFailed,
    TraceFinished,
    TraceProbed,
    TraceProgress,
)
from deepprune.strategies.deepconf import keep_top, need_confidence

__all__ = ["RECOVER_BATCHES", "VOTES", "DeepPruneConfig", "DeepPruneStrategy"]

VOTES = ("representatives", "largest", "confidence")
RECOVER_BATCHES = ("double", "finished", "need", "one")


@dataclass(frozen=True)
class DeepPruneConfig:
    """Parameters of :class:`DeepPruneStrategy` (validated on construction)."""

    tau: float = 0.2
    """Join a cluster when the mean judge probability is strictly above ``tau``; lower = fewer
    tokens, less diversity."""
    p: int = 1
    """Members of each cluster a new trace is compared with (the first ``p``; 1 = representative)."""
    kmax: int | None = 32
    """Most clusters (None = unbounded). At the cap a trace joins its most similar cluster."""
    vote: str = "representatives"
    """``representatives`` (weighted by cluster size) or ``largest`` (see the module docstring)."""
    k2: int = 20
    """``vote=largest``: traces of the largest cluster that finish."""
    k3: int = 10
    """``vote=largest``: traces that finish when every cluster is a singleton."""
    conf_keep: float = 0.9
    """``vote=confidence``: DeepConf's offline filter, the share of votes kept by confidence."""
    conf_score: str = "lowest"
    """``vote=confidence``: the DeepConf trace score (lowest | bottom10 | mean | tail)."""
    conf_window: int = 2048
    """``vote=confidence``: DeepConf's group window (a trace shorter than it scores its mean)."""
    prefix: Truncation = field(default_factory=lambda: Truncation.parse("tokens:64"))
    """Where a trace's prefix ends (``words:25`` or ``tokens:N``)."""
    recover: int = 2
    """``vote=representatives``: resume pruned traces until the winner leads by this many
    finished votes (0 = off, the paper's behaviour). See the module docstring."""
    recover_batch: str = "double"
    """Pruned traces resumed per recovery round: ``need`` = as many as the winner still needs
    votes; ``double`` (default) = that, or as many as all earlier rounds resumed together when
    more (a diffuse problem needs ~log2 rounds instead of one per vote: less wall clock live);
    ``finished`` = at least as many as have finished (each round doubles the finished votes:
    fewer rounds still, for more tokens on diffuse problems); ``one`` = one at a time (most round
    trips)."""
    futile: float = 0.0
    """Recovery gives up on a problem once ``futile_after`` traces have finished and no answer
    holds this share of them (0 = never give up)."""
    futile_after: int = 8
    """Finished traces needed before recovery may give up on a problem."""
    verifiers: int = 1
    """With recovery: the first ``verifiers`` traces to join each cluster are not stopped but run
    on beside its representative, so the check recovery would otherwise make after the
    representative finished (a second wait, live) runs at the same time."""
    recover_max: int | None = None
    """Recovery stops once this many traces have finished (None = no cap); the vote then counts
    finished traces and trusted merges only."""
    probe: bool = False
    """Ask each trace's current answer at the prefix and use answer agreement (see the module doc)."""
    probe_weight: float = 1.0
    """``probe=on``: weight of the answer agreement against the judge's probability (1 = probes decide)."""
    trust_probes: bool = True
    """``probe=on``: recovery counts members merged by answer agreement as votes, never resumes them."""
    trust: float | None = None
    """Recovery counts members that joined with a judge probability >= ``trust`` as votes and never
    resumes them (None = off: every judge merge may be resumed)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.tau <= 1.0:
            raise ConfigError("tau", self.tau, "in [0, 1]")
        if self.p < 1:
            raise ConfigError("p", self.p, "a positive integer")
        if self.kmax is not None and self.kmax < 1:
            raise ConfigError("kmax", self.kmax, "a positive integer or 'none'")
        if self.vote not in VOTES:
            raise ConfigError("vote", self.vote, " or ".join(VOTES))
        if self.k2 < 1 or self.k3 < 1:
            raise ConfigError("k2/k3", (self.k2, self.k3), "positive integers")
        if self.recover < 0:
            raise ConfigError("recover", self.recover, "a non-negative integer (0 = off)")
        if not 0.0 <= self.futile <= 1.0:
            raise ConfigError("futile", self.futile, "a share in [0, 1] (0 = never give up)")
        if self.futile_after < 1:
            raise ConfigError("futile_after", self.futile_after, "a positive integer")
        if self.recover_batch not in RECOVER_BATCHES:
            raise ConfigError("recover_batch", self.recover_batch, " or ".join(RECOVER_BATCHES))
        if self.verifiers < 0:
            raise ConfigError("verifiers", self.verifiers, "a non-negative integer")
        if self.recover_max is not None and self.recover_max < 1:
            raise ConfigError("recover_max", self.recover_max, "a positive integer or 'none'")
        if self.recover and self.vote == "largest":
            raise ConfigError("recover", self.recover, "0 with vote=largest (recovery applies to "
                                                       "vote=representatives or confidence)")
        if not 0.0 < self.conf_keep <= 1.0:
            raise ConfigError("conf_keep", self.conf_keep, "a fraction in (0, 1]")
        if self.conf_score not in SCORES:
            raise ConfigError("conf_score", self.conf_score, " or ".join(SCORES))
        if self.conf_window < 1:
            raise ConfigError("conf_window", self.conf_window, "a positive integer")
        if self.trust is not None and not 0.0 <= self.trust <= 1.0:
            raise ConfigError("trust", self.trust, "a probability in [0, 1] or 'none'")
        if not 0.0 <= self.probe_weight <= 1.0:
            raise ConfigError("probe_weight", self.probe_weight, "a weight in [0, 1]")


_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _judge_lock(judge: Judge) -> threading.Lock:
    """One lock per judge object: with ``blocking`` judges, problems call it from worker threads."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(judge), threading.Lock())


class DeepPruneStrategy(Strategy):
    """Greedy judge clustering with pruning (see the module docstring).

    ``judge`` is shared across problems (built once); the strategy holds per-problem state.
    """

    name = "deepprune"
    family: ClassVar[str] = "prune"
    paper: ClassVar[str] = "Tu et al., DeepPrune: Parallel Scaling without Inter-trace Redundancy, arXiv 2510.08483"

    def __init__(self, judge: Judge, config: DeepPruneConfig | None = None) -> None:
        self.judge = judge
        self.blocking = judge.blocking  # a model judge runs off the event loop (see Strategy.blocking)
        self.cfg = config or DeepPruneConfig()
        self._watcher = PrefixWatcher(self.cfg.prefix)
        self._ctx: RunContext | None = None
        self._k = 0
        self._prefix: dict[int, str] = {}
        self._prefix_tokens: dict[int, int] = {}
        self._cluster_of: dict[int, int] = {}
        self._clusters: list[list[int]] = []
        self._wait: dict[int, int] = {}
        self._finished: dict[int, str | None] = {}
        self._finish_order: list[int] = []
        self._failed: set[int] = set()
        self._running: set[int] = set()
        self._stopped: set[int] = set()
        self._final: list[int] | None = None  # vote=largest: the traces chosen to finish
        self._largest: int | None = None
        self._join_p: dict[int, float] = {}
        self._resumed: list[int] = []
        self._in_round: set[int] = set()
        """Resumed traces still running in the current recovery round."""
        self._cancelled = 0
        self._rounds = 0
        self._capped = False
        """Recovery hit ``recover_max``: the vote counts finished traces and trusted merges only."""
        self._length: dict[int, int] = {}
        self._confs: dict[int, list[float]] = {}
        self._probing: dict[int, str] = {}
        """probe=on: traces at the prefix whose probe is in flight -> their prefix."""
        self._probed: dict[int, str | None] = {}
        self._verified: set[int] = set()
        """Pruned traces merged by answer agreement (probe=on)."""
        self._confident: set[int] = set()
        """Pruned traces merged with a judge probability >= ``trust``."""
        self.probes = 0
        self.judge_calls = 0
        self.judge_tokens = 0

    # ------------------------------------------------------------------ protocol
    def start(self, ctx: RunContext) -> Sequence[Action]:
        if self.cfg.vote == "confidence":
            need_confidence(ctx, "deepprune:vote=confidence")
        if self.cfg.probe and not ctx.can_probe:
            raise NotApplicable("deepprune:probe=on needs answer probes: a live server, or traces with probes "
                                f"recorded at the prefix ('deepprune probe TRACES --at {self.cfg.prefix.unit}:"
                                f"{self.cfg.prefix.k} ...'; probes exist only at token cuts)")
        self._ctx = ctx
        self._k = ctx.budget
        self._running = set(range(ctx.budget))
        return [Launch(ctx.budget)]

    def watch(self, trace_id: int) -> int | None:
        if trace_id in self._cluster_of or trace_id in self._finished or trace_id in self._probing:
            return None
        return self._wait.get(trace_id, self._watcher.wait(0, ""))

    def on_event(self, event: Event) -> Sequence[Action]:
        tid = event.trace_id
        actions: list[Action] = []
        if isinstance(event, TraceProgress):
            if self.cfg.vote == "confidence" and event.new_confs:
                self._confs.setdefault(tid, []).extend(event.new_confs)
            if tid in self._cluster_of or tid in self._probing:
                return ()
            buf, end = event.text_buffer, event.text_end
            prefix = self._watcher.prefix(event.n_tokens, buf, key=tid, end=end)
            if prefix is None:
                self._wait[tid] = self._watcher.wait(event.n_tokens, buf, key=tid, end=end)
                return ()
            if self.cfg.probe:
                self._probing[tid] = prefix
                self._watcher.forget(tid)
                self._wait.pop(tid, None)
                self.probes += 1
                return [Probe(tid)]
            actions.extend(self._assign(tid, prefix, finished=False))
        elif isinstance(event, TraceProbed):
            prefix_or_none = self._probing.pop(tid, None)
            self._probed[tid] = event.answer
            if prefix_or_none is not None and tid not in self._cluster_of and tid not in self._finished:
                actions.extend(self._assign(tid, prefix_or_none, finished=False))
        elif isinstance(event, TraceFinished):
            self._running.discard(tid)
            self._finished[tid] = event.answer
            self._length[tid] = event.n_tokens
            if self.cfg.vote == "confidence" and event.confs is not None:
                self._confs[tid] = list(event.confs)
            self._finish_order.append(tid)
            if tid not in self._cluster_of:
                waiting = self._probing.pop(tid, None)
                prefix = waiting if waiting is not None else (
                    self._watcher.prefix(event.n_tokens, event.text, finished=True, key=tid) or "")
                actions.extend(self._assign(tid, prefix, finished=True))
            if tid in self._in_round:
                self._in_round.discard(tid)
                actions.extend(self._end_round_if_clear())
        elif isinstance(event, TraceFailed):
            self._running.discard(tid)
            self._failed.add(tid)
            self._probing.pop(tid, None)
            self._in_round.discard(tid)
        actions.extend(self._maybe_finalize())
        return actions

    def _end_round_if_clear(self) -> list[Action]:
        """Mid-round: once the vote is clear, the resumed traces still running are stopped again
        (back to pruned members of their clusters; their tokens so far stay charged)."""
        if not self._in_round or self._recovery_need()[0]:
            return []
        out: list[Action] = []
        for t in sorted(self._in_round):
            self._running.discard(t)
            self._stopped.add(t)
            out.append(Stop(t))
        self._cancelled += len(self._in_round)
        self._in_round.clear()
        return out

    def on_idle(self) -> Sequence[Action]:
        return self._start_round()

    def _start_round(self) -> list[Action]:
        if self.cfg.vote == "largest" or not self.cfg.recover:
            return []
        batch = self._next_recovery()
        self._rounds += bool(batch)
        for t in batch:
            self._stopped.discard(t)
            self._running.add(t)
            self._resumed.append(t)
            self._in_round.add(t)
        return [Resume(t) for t in batch]

    def _votes(self) -> list[tuple[int, str | None, float, bool]]:
        """``(trace, answer, weight, finished)`` of every vote, finished traces first (in the order
        they would finish without pruning: ties go to the group holding the shortest finished
        trace, as in cons@K).

        * ``recover=0`` (the paper): representatives, weighted by cluster size;
        * with recovery: every finished trace for its own answer, a representative also carrying
          its cluster's still-pruned members;
        * ``vote=confidence``: every finished trace for its own answer and every pruned trace for
          its cluster's answer, each weighted by its DeepConf score (the whole trace, or the
          prefix it generated), after DeepConf's offline filter keeps the top ``conf_keep``;
        * once ``recover_max`` has stopped recovery, a pruned trace votes only if trusted.
        """
        if self.cfg.vote == "representatives" and not self.cfg.recover:
            size = {c[0]: len(c) for c in self._clusters}
            return [(t, self._finished[t], float(size[t]), True) for t in self._finish_order if t in size]
        finished = sorted((t for t in self._finish_order if t in self._cluster_of),
                          key=lambda t: self._length.get(t, 0))
        trusted = self._trusted() if self._capped else None  # capped: unchecked merges do not vote
        if self.cfg.vote == "representatives":
            pruned_of = {c[0]: sum(1 for m in c[1:] if m not in self._finished and (trusted is None or m in trusted))
                         for c in self._clusters}
            return [(t, self._finished[t], 1.0 + pruned_of.get(t, 0), True) for t in finished]
        entries = [(t, self._finished[t], self._score(t), True) for t in finished]
        for c in self._clusters:
            if c[0] in self._finished:
                entries += [(m, self._finished[c[0]], self._score(m), False) for m in c[1:]
                            if m not in self._finished and (trusted is None or m in trusted)]
        kept = keep_top([w for _, _, w, _ in entries], self.cfg.conf_keep) if entries else []
        return [entries[i] for i in kept]

    def _trusted(self) -> set[int]:
        """Pruned members whose merge recovery takes as a vote (probe agreement, ``trust``)."""
        return (self._verified if (self.cfg.probe and self.cfg.trust_probes) else set()) | self._confident

    def _score(self, tid: int) -> float:
        return trace_score(self._confs.get(tid, ()), self.cfg.conf_score, self.cfg.conf_window)

    def _next_recovery(self) -> list[int]:
        """The pruned traces to resume next (none when the winner leads by ``recover``): as many
        as the winner still needs finished votes to lead by ``recover`` (at least one), or, with
        ``recover_batch=double``, as many as all earlier rounds resumed when that is more; fewer
        when fewer candidates are left or ``recover_max`` leaves less room."""
        pruned = self._unchecked()
        if not pruned:
            return []
        need, ranked, group_of_rep = self._recovery_need()
        if not need:
            return []
        # budget: at most recover_max traces finish
        room = (self._k if self.cfg.recover_max is None else self.cfg.recover_max) - len(self._finished)
        if room <= 0:
            self._capped = True
            return []
        if self.cfg.recover_batch == "one":
            need = 1
        elif self.cfg.recover_batch == "double":
            need = max(need, len(set(self._resumed)))  # each round at least all earlier ones together
        elif self.cfg.recover_batch == "finished":
            need = max(need, len(self._finished))  # each round at least doubles the finished votes
        need = min(need, room)

        def order(ms: list[int]) -> list[int]:
            return sorted(ms, key=lambda m: (self._join_p.get(m, 1.0), m))

        picked: list[int] = []
        for target in ranked[:2]:
            cands = [m for m in pruned if group_of_rep.get(self._clusters[self._cluster_of[m]][0]) == target]
            picked += order(cands)[: need - len(picked)]
            if len(picked) >= need or (picked and self.cfg.recover_batch in ("need", "one")):
                return picked  # the contested clusters first (double/finished: then any, to fill the round)
        rest = [m for m in pruned if m not in picked]
        return picked + order(rest)[: need - len(picked)]

    def _unchecked(self) -> list[int]:
        """Pruned (stopped) members recovery may resume: not trusted, in cluster order."""
        trusted = self._trusted()
        return [m for c in self._clusters for m in c[1:] if m in self._stopped and m not in trusted]

    def _recovery_need(self) -> tuple[int, list[int], dict[int, int]]:
        """``(need, ranked groups, group of each finished voter)``: the finished votes the winner
        still needs to lead by ``recover`` (0: the vote is clear, or futility gave up)."""
        assert self._ctx is not None
        trusted = self._trusted()
        verified_of = {c[0]: sum(1 for m in c[1:] if m in trusted and m not in self._finished)
                       for c in self._clusters}
        kind = self._ctx.problem.kind
        entries = self._votes()
        groups = group_answers([e[1] for e in entries], kind)
        voters = [e[0] for e, g in zip(entries, groups, strict=True) if e[3]]
        est: dict[int, float] = {}
        seen: dict[int, int] = {}
        for g, (t, _, w, done) in zip(groups, entries, strict=True):
            if g >= 0:
                est[g] = est.get(g, 0.0) + w
                seen[g] = seen.get(g, 0) + int(done) + (verified_of.get(t, 0) if done else 0)
        ranked = sorted(est, key=lambda g: (-est[g], g))  # ties: the group that finished first
        group_of_rep = {e[0]: g for e, g in zip(entries, groups, strict=True) if e[3]}
        need = self.cfg.recover
        if ranked:
            a = ranked[0]
            b = ranked[1] if len(ranked) > 1 else None
            lead = seen.get(a, 0) - (seen.get(b, 0) if b is not None else 0)
            if lead >= self.cfg.recover and (b is None or est[a] > est[b]):
                return 0, ranked, group_of_rep
            need = max(1, self.cfg.recover - lead)
        # futility: a diffuse problem (no answer near a clear plurality among enough finished
        # traces) cannot become a clear win by resuming more; stop spending on it
        if self.cfg.futile > 0 and len(voters) >= self.cfg.futile_after and \
                max(seen.values(), default=0) < self.cfg.futile * len(voters):
            return 0, ranked, group_of_rep
        return need, ranked, group_of_rep

    def result(self) -> Decision:
        assert self._ctx is not None
        kind = self._ctx.problem.kind
        if self.cfg.vote != "largest":
            entries = self._votes()
            voters = [e[0] for e in entries]
            vote = majority_vote([e[1] for e in entries], [e[2] for e in entries], kind=kind)
        else:
            chosen = set(self._final) if self._final is not None else set(self._finished)
            voters = [t for t in self._finish_order if t in chosen]
            vote = majority_vote([self._finished[t] for t in voters], kind=kind)
        answer = vote.answer
        fallback = False
        if answer is None and self._finished:
            answer = majority_vote([self._finished[t] for t in self._finish_order], kind=kind).answer
            fallback = answer is not None
        sizes = sorted((len(c) for c in self._clusters), reverse=True)
        return Decision(
            answer,
            judge_calls=self.judge_calls,
            judge_tokens=self.judge_tokens,
            info={"clusters": len(self._clusters), "cluster_sizes": sizes[:10], "voters": len(voters),
                  "fallback_vote": fallback, "recovered": len(set(self._resumed)),
                  "recovery_rounds": self._rounds, "recovery_cancelled": self._cancelled, "recovery_capped": self._capped, **({"probes": self.probes} if self.cfg.probe else {})},
        )

    # ------------------------------------------------------------------ clustering
    def _assign(self, tid: int, prefix: str, *, finished: bool) -> list[Action]:
        assert self._ctx is not None
        self._prefix[tid] = prefix
        self._prefix_tokens[tid] = approx_tokens(prefix)
        self._watcher.forget(tid)
        self._wait.pop(tid, None)
        if not self._clusters:
            return self._open(tid)
        pairs: list[Pair] = []
        owner: list[int] = []
        for ci, members in enumerate(self._clusters):
            for m in members[: self.cfg.p]:
                pairs.append(Pair(prefix, self._prefix[m], ids=(tid, m), context=self._ctx))
                owner.append(ci)
        with _judge_lock(self.judge):  # one judge is shared by the problems running in parallel
            probs = np.asarray(self.judge.predict_proba(pairs), dtype=np.float64)
        if probs.shape != (len(pairs),):
            raise ConfigError("judge output shape", probs.shape, f"({len(pairs)},)")
        agreed = None
        if self.cfg.probe:
            probs, agreed = self._with_probes(tid, probs, [pr.ids[1] for pr in pairs if pr.ids is not None])
        self.judge_calls += len(pairs)
        # = sum(pair_tokens(pair)), with each prefix counted once per trace
        self.judge_tokens += sum(self._prefix_tokens[a] + self._prefix_tokens[b]
                                 for a, b in (pr.ids for pr in pairs if pr.ids is not None))
        sims = np.bincount(owner, weights=probs, minlength=len(self._clusters)) / np.maximum(
            1, np.bincount(owner, minlength=len(self._clusters)))
        best = int(np.argmax(sims))  # first maximum: the older cluster wins ties
        at_cap = self.cfg.kmax is not None and len(self._clusters) >= self.cfg.kmax
        if sims[best] > self.cfg.tau or at_cap:
            self._clusters[best].append(tid)
            self._cluster_of[tid] = best
            self._join_p[tid] = float(sims[best])
            if agreed is not None and self.cfg.probe_weight >= 1.0 and bool(agreed[np.asarray(owner) == best].all()):
                self._verified.add(tid)
            if self.cfg.trust is not None and sims[best] >= self.cfg.trust:
                self._confident.add(tid)
            if finished or (self.cfg.recover and len(self._clusters[best]) - 1 <= self.cfg.verifiers):
                return []  # finished already, or one of the cluster's verifiers: runs on
            self._running.discard(tid)
            self._stopped.add(tid)
            return [Stop(tid)]
        return self._open(tid)

    def _known_answer(self, tid: int) -> str | None:
        """A trace's final answer when it finished, else its probed answer (None: unknown)."""
        if tid in self._finished:
            return self._finished[tid]
        return self._probed.get(tid)

    def _with_probes(self, tid: int, probs: np.ndarray, others: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The pair probabilities with answer agreement blended in, and which pairs agreed."""
        assert self._ctx is not None
        agreed = np.zeros(len(others), dtype=bool)
        mine = self._known_answer(tid)
        if mine is None:
            return probs, agreed
        w = self.cfg.probe_weight
        out = probs.copy()
        for i, m in enumerate(others):
            theirs = self._known_answer(m)
            if theirs is not None:
                same = answers_equal(mine, theirs, self._ctx.problem.kind)
                agreed[i] = same
                out[i] = w * float(same) + (1.0 - w) * probs[i]
        return out, agreed

    def _open(self, tid: int) -> list[Action]:
        self._cluster_of[tid] = len(self._clusters)
        self._clusters.append([tid])
        return []

    # ------------------------------------------------------------------ vote=largest
    def _maybe_finalize(self) -> list[Action]:
        if self.cfg.vote != "largest" or self._final is not None:
            return []
        if len(self._cluster_of) + len(self._failed - set(self._cluster_of)) < self._k:
            return []
        actions: list[Action] = []
        if not self._clusters:
            self._final = []
            return actions
        if len(self._clusters) > 1 and all(len(c) == 1 for c in self._clusters):
            done = list(self._finish_order)
            running = sorted(self._running)
            assert self._ctx is not None
            rng = np.random.default_rng([self._ctx.seed, 3])
            extra = max(0, self.cfg.k3 - len(done))
            picked = [running[i] for i in sorted(rng.permutation(len(running))[:extra])] if running else []
            self._final = done + picked
        else:
            sizes = [len(c) for c in self._clusters]
            self._largest = int(np.argmax(sizes))
            members = self._clusters[self._largest]
            self._final = members[: self.cfg.k2] + [m for m in members[self.cfg.k2:] if m in self._finished]
        chosen = set(self._final)
        for t in sorted(self._running - chosen):
            actions.append(Stop(t))
            self._running.discard(t)
            self._stopped.add(t)
        for t in self._final:
            if t in self._stopped:
                actions.append(Resume(t))
                self._stopped.discard(t)
                self._running.add(t)
        return actions
