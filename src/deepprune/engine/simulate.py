"""Simulated trace sets at cons@512 scale, built from real answer distributions (SIMULATION).

The shared folder ``qwen3_deepconf_brumo_hmmt/prob_analysis`` summarises a public DeepConf re-run
(a strong reasoning model, most likely Qwen3-32B; the 7 problems are HMMT February 2025
problems 1-7) with **512 traces per problem**: for each problem, the answer counts when every
trace is probed after N generated tokens (N = 2048 ... 32768), the gold answer, and the real
cost of the 512 full traces (``total_tokens``, ``avg_tokens_per_trace``). It has no trace text
and no per-trace identity.

:func:`simulate_traceset` turns it into a :class:`~deepprune.core.types.TraceSet` a strategy can be
replayed on, **clearly labelled as simulation** (header ``simulation: true``, dataset name
ending in ``-sim``):

* **answers exactly as recorded** at the largest probe N of each problem (the closest to the final
  answers): a problem whose counts are ``{"1/576": 242, "576": 119, ...}`` gets 242 traces
  answering ``1/576``, 119 answering ``576``, ... Answers are written in sympy syntax in the
  source (``2**18``, ``9/(sqrt(23))``, ``Eq(a + b + c, 15/8)``); equivalent spellings are merged
  into one class by numeric value, and each class is written as one label (the gold string for
  the correct class, a placeholder integer for each wrong one) — see :func:`simulate_traceset`;
* **lengths drawn around the real mean** (seeded): Gamma with mean ``avg_tokens_per_trace`` and
  coefficient of variation ``length_cv`` (default 0.4), then rescaled so that the 512 lengths
  add up to the recorded ``total_tokens`` exactly — cons@512 on the simulated set costs what the
  real run cost. Lengths are independent of the answer (the real data cannot tell us the
  correlation); the trace order is shuffled (seeded);
* **no text**: a trace's text is empty, so only ``tokens:N`` prefix rules make sense, and only
  judges that do not read text (the ``noisy-oracle`` judge) can run. The noisy-oracle judge
  answers the question this simulation exists for: how good must a judge be (AUROC) for
  DeepPrune to pay off against cons@512?
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepprune.core.errors import DataError
from deepprune.core.types import AnswerKind, FinishReason, Problem, Trace, TraceSet
from deepprune.engine.bench import BenchRow, bench
from deepprune.formats.tracefile import FORMAT

__all__ = [
    "DEFAULT_AUROCS",
    "ProbeSummary",
    "auroc_sweep",
    "load_probe_summaries",
    "simulate_traceset",
    "sympy_to_latex",
]

log = logging.getLogger(__name__)

DEFAULT_AUROCS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
_FILE = re.compile(r"analysis_results_qid(\d+)_probtoken_(\d+)\.json$")
_SAFE = re.compile(r"^[0-9A-Za-z_+\-*/().,\s]*$")
_NAMES = {"sqrt", "factorial", "log", "Eq", "pi", "E", "I", "a", "b", "c", "x", "y", "n", "k", "oo"}


@dataclass(frozen=True)
class ProbeSummary:
    """One problem of the source: answer counts at the largest probe, gold, real cost."""

    qid: int
    probe_tokens: int
    """The largest probe N (answers after N generated tokens) found for this problem."""
    answers: tuple[tuple[str, int], ...]
    """(answer as recorded, number of traces), most frequent first."""
    gold: str
    total_tokens: int
    avg_tokens_per_trace: float
    n_traces: int


def sympy_to_latex(answer: str) -> str:
    """A sympy-syntax answer in LaTeX (unevaluated); unparseable or unsafe input is returned as is.

    >>> sympy_to_latex("9/(sqrt(23))")
    '\\\\frac{9}{\\\\sqrt{23}}'
    >>> sympy_to_latex("Eq(a + b + c, 15/8)")
    '\\\\frac{15}{8}'
    """
    s = answer.strip()
    if not _SAFE.match(s) or not set(re.findall(r"[A-Za-z_]\w*", s)) <= _NAMES or len(s) > 120:
        return s
    try:
        from sympy import Eq, latex
        from sympy.parsing.sympy_parser import parse_expr

        expr = parse_expr(s, evaluate=False)
        if isinstance(expr, Eq):
            expr = expr.rhs
        return str(latex(expr))
    except Exception as exc:  # noqa: BLE001 - sympy raises many kinds of errors on odd input
        log.debug("cannot convert %r: %s", s, exc)
        return s


def load_probe_summaries(path: str | Path) -> list[ProbeSummary]:
    """Read ``prob_analysis`` (the folder itself or its parent): the largest probe of each problem."""
    root = Path(path)
    if (root / "prob_analysis").is_dir():
        root = root / "prob_analysis"
    if not root.is_dir():
        raise DataError("not a directory (expected qwen3_deepconf_brumo_hmmt or its prob_analysis)", path=root)
    best: dict[int, tuple[int, Path]] = {}
    for f in root.iterdir():
        m = _FILE.search(f.name)
        if m:
            qid, n = int(m.group(1)), int(m.group(2))
            if qid not in best or n > best[qid][0]:
                best[qid] = (n, f)
    if not best:
        raise DataError("no analysis_results_qid*_probtoken_*.json files", path=root)
    out = []
    for qid in sorted(best):
        n, f = best[qid]
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
            stats = d["deepconf_token_stats"]
            answers = tuple(sorted(((str(a), int(c)) for a, c in d["answers"].items()), key=lambda x: (-x[1], x[0])))
            out.append(ProbeSummary(qid, n, answers, str(d["ground_truth"]), int(stats["total_tokens"]),
                                    float(stats["avg_tokens_per_trace"]), int(stats["total_traces_count"])))
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise DataError(f"unexpected content: {exc}", path=f) from exc
    return out


def _numeric_key(expr: object) -> str | None:
    try:
        from sympy import Basic

        if not isinstance(expr, Basic) or not expr.is_number:
            return None
        value = expr.evalf(10)  # correctly rounded: equal values give equal strings
    except Exception:  # noqa: BLE001 - evalf may fail on odd expressions
        return None
    return str(value)


def _answer_key(answer: str) -> str:
    """Equivalence key of a sympy-syntax answer: its numeric value (12 digits) when it has one."""
    s = answer.strip()
    if _SAFE.match(s) and set(re.findall(r"[A-Za-z_]\w*", s)) <= _NAMES and len(s) <= 120:
        try:
            from sympy import Eq
            from sympy.parsing.sympy_parser import parse_expr

            expr = parse_expr(s)
            if isinstance(expr, Eq):
                expr = expr.rhs
            key = _numeric_key(expr)
            if key is not None:
                return key
        except Exception as exc:  # noqa: BLE001
            log.debug("cannot evaluate %r: %s", s, exc)
    return "str:" + s


def _gold_key(gold: str) -> str | None:
    try:
        from math_verify import parse

        parsed = parse(f"${gold}$")
    except Exception:  # noqa: BLE001
        return None
    for item in parsed:
        key = _numeric_key(item)
        if key is not None:
            return key
    return None


def simulate_traceset(path: str | Path, *, seed: int = 0, length_cv: float = 0.4,
                      name: str = "qwen3-hmmt25-512-sim") -> TraceSet:
    """The simulated TraceSet (see the module docstring). Deterministic for a given ``seed``.

    Answers are grouped into equivalence classes by numeric value (sympy ``evalf(10)``, correctly
    rounded; answers without a numeric value form a class of their own string). Each trace's
    answer is its class label: the gold answer's own string for the class equal to gold, and a
    distinct placeholder integer ``1000001, 1000002, ...`` (by frequency) for every other class.
    That keeps the recorded distribution over classes and every trace's correctness exactly,
    and makes replay voting cheap (no sympy). The header lists each label's recorded strings
    and counts (``answer_classes``).
    """
    if length_cv <= 0:
        raise DataError(f"length_cv must be positive, got {length_cv}")
    summaries = load_probe_summaries(path)
    problems: list[Problem] = []
    traces: dict[str, tuple[Trace, ...]] = {}
    classes_out: dict[str, list[dict[str, object]]] = {}
    for s in summaries:
        rng = np.random.default_rng([seed, s.qid])
        gold_key = _gold_key(s.gold)
        classes: dict[str, list[tuple[str, int]]] = {}
        for answer, count in s.answers:
            classes.setdefault(_answer_key(answer), []).append((answer, count))
        ranked = sorted(classes.items(), key=lambda kv: -sum(c for _, c in kv[1]))
        labels: list[str] = []
        listing: list[dict[str, object]] = []
        wrong = 0
        for key, members in ranked:
            if gold_key is not None and key == gold_key:
                label = s.gold
            else:
                wrong += 1
                label = str(1_000_000 + wrong)
            n_class = sum(c for _, c in members)
            labels.extend([label] * n_class)
            listing.append({"label": label, "traces": n_class, "recorded": [a for a, _ in members]})
        n = len(labels)
        order = rng.permutation(n)
        shape = 1.0 / length_cv**2
        raw = rng.gamma(shape, s.avg_tokens_per_trace / shape, size=n)
        lengths = np.maximum(1, np.round(raw * (s.avg_tokens_per_trace * n / raw.sum()))).astype(int)
        lengths[int(np.argmax(lengths))] += round(s.avg_tokens_per_trace * n) - int(lengths.sum())
        pid = f"hmmt25-qid{s.qid}"
        classes_out[pid] = listing
        problems.append(Problem(pid, f"(simulated) HMMT Feb 2025 problem index {s.qid}", s.gold, AnswerKind.MATH,
                                source="qwen3_deepconf_brumo_hmmt (simulation)",
                                meta={"probe_tokens": s.probe_tokens, "real_total_tokens": s.total_tokens}))
        traces[pid] = tuple(
            Trace(pid, i, "", int(lengths[i]), labels[int(order[i])], FinishReason.STOP, seed=None)
            for i in range(n))
    header = {
        "format": FORMAT, "simulation": True, "token_count": "simulated (real mean per problem)",
        "model": "Qwen3 (DeepConf re-run summaries; simulated traces)",
        "source": "qwen3_deepconf_brumo_hmmt/prob_analysis", "seed": seed, "length_cv": length_cv,
        "answer_classes": classes_out,
    }
    return TraceSet(tuple(problems), traces, header, name=name)


def auroc_sweep(ts: TraceSet, aurocs: Sequence[float] = DEFAULT_AUROCS, *, orderings: int = 5, seed: int = 0,
                prefix: str = "tokens:512", extra: Sequence[str] = ("", "vote=largest")) -> list[BenchRow]:
    """Bench rows: cons, oracle, and DeepPrune with the noisy-oracle judge at each AUROC.

    ``extra`` lists parameter suffixes, one DeepPrune curve each (``""``: the published rule,
    ``tau=0.5`` without recovery).
    """
    specs = ["cons", f"oracle:prefix={prefix}"]
    for ex in extra:
        for a in aurocs:
            # the published rule (tau 0.5, no recovery), as in the BENCHMARKS figures of this sweep
            specs.append(f"deepprune:judge=noisy-oracle,auroc={a:g},prefix={prefix},tau=0.5"
                         + ("" if "vote=largest" in ex else ",recover=0") + (f",{ex}" if ex else ""))
    return bench([ts], specs, orderings=orderings, seed=seed)
