"""Synthetic trace sets for tests and benchmarks (clearly labelled as such in their header).

Each problem has a gold answer and a skewed answer distribution: the majority answer (correct
with probability ``p_correct_majority``) and a few alternatives, like real self-consistency runs
where most traces agree. Lengths are log-normal around ``mean_tokens``. Texts are short
reasoning-like sentences ending in ``\\boxed{answer}``; with ``with_confs`` every trace carries
per-token confidences (higher on average for traces reaching the majority answer, as DeepConf
observes) and sampled-token logprobs derived from them (``-exp(-conf)``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from deepprune.core.types import AnswerKind, AnswerProbe, FinishReason, Problem, Trace, TraceSet
from deepprune.formats.tracefile import FORMAT

__all__ = ["synthetic_traceset"]

_WORDS = ("so", "then", "wait", "therefore", "but", "thus", "since", "hence", "now", "first", "next")


def synthetic_traceset(
    n_problems: int = 10,
    k: int = 16,
    *,
    seed: int = 0,
    mean_tokens: int = 400,
    n_answers: int = 4,
    majority_share: float = 0.7,
    p_correct_majority: float = 0.85,
    with_confs: bool = False,
    with_tokens: bool = False,
    no_answer_rate: float = 0.02,
    name: str = "synthetic",
    probe_every: int | None = None,
) -> TraceSet:
    """Generate a reproducible synthetic TraceSet (see the module docstring)."""
    rng = np.random.default_rng(seed)
    problems: list[Problem] = []
    traces: dict[str, tuple[Trace, ...]] = {}
    sigma = 0.35
    mu = np.log(mean_tokens) - sigma**2 / 2
    for i in range(n_problems):
        pid = f"syn-{i}"
        gold = str(int(rng.integers(1, 1000)))
        answers = [gold] + [str(int(a)) for a in rng.choice(np.arange(1000, 2000), n_answers - 1, replace=False)]
        if rng.random() > p_correct_majority:
            answers[0], answers[1] = answers[1], answers[0]
        rest = (1 - majority_share) * rng.dirichlet(np.ones(n_answers - 1))
        probs = np.concatenate([[majority_share], rest])
        problems.append(Problem(pid, f"Synthetic question {i}?", gold, AnswerKind.INTEGER, source=name))
        out = []
        for j in range(k):
            a_idx = int(rng.choice(n_answers, p=probs))
            answer: str | None = answers[a_idx]
            if rng.random() < no_answer_rate:
                answer = None
            n = max(8, int(rng.lognormal(mu, sigma)))
            words = rng.choice(_WORDS, size=max(4, n // 8))
            body = " ".join(f"{w} step {a_idx}-{t}" for t, w in enumerate(words))
            text = body + (f" \\boxed{{{answer}}}" if answer is not None else " I give up")
            tokens = None
            if with_tokens:
                per = len(text) // n
                tokens = tuple(text[t * per:(t + 1) * per] if t < n - 1 else text[(n - 1) * per:]
                               for t in range(n))
            confs = logprobs = None
            if with_confs:
                base = 2.5 if a_idx == 0 else 1.8
                confs = tuple(float(x) for x in np.clip(rng.normal(base, 0.6, n), 0.01, None))
                # the sampled token's logprob, from its confidence (no extra draw: the other
                # fields stay as they were): a more peaked distribution, a likelier token
                logprobs = tuple(-float(np.exp(-c)) for c in confs)
            out.append(Trace(pid, j, text, n, answer, FinishReason.STOP, seed=j, tokens=tokens, confs=confs,
                             logprobs=logprobs))
        traces[pid] = tuple(out)
    header = {"format": FORMAT, "model": "synthetic", "token_count": "synthetic",
              "synthetic": True, "seed": seed}
    if probe_every is not None:
        traces = _with_probes(traces, probe_every, seed)
        header["probe"] = {"model": "synthetic", "at": f"every {probe_every} tokens"}
    return TraceSet(tuple(problems), traces, header, name=name)


def _with_probes(traces: dict[str, tuple[Trace, ...]], every: int, seed: int) -> dict[str, tuple[Trace, ...]]:
    """Answer probes every ``every`` tokens (own RNG: the traces are otherwise unchanged). A probe
    after ``c`` of ``n`` tokens gives the trace's final answer with probability ``0.2 + 0.8 c/n``,
    else another answer of the problem, or none (10%)."""
    rng = np.random.default_rng([seed, 0x9B0BE])
    out: dict[str, tuple[Trace, ...]] = {}
    for pid, trs in traces.items():
        pool = sorted({t.answer for t in trs if t.answer is not None})
        new = []
        for t in trs:
            probes = []
            for c in range(every, t.n_tokens, every):
                r = rng.random()
                if r < 0.1:
                    ans = None
                elif r < 0.1 + 0.9 * (0.2 + 0.8 * c / t.n_tokens) and t.answer is not None:
                    ans = t.answer
                else:
                    ans = pool[int(rng.integers(len(pool)))] if pool else None
                probes.append(AnswerProbe(c, ans, -0.2, 3))
            new.append(dataclasses.replace(t, probes=tuple(probes)))
        out[pid] = tuple(new)
    return out
