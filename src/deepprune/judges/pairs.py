"""Pair datasets for training and evaluating judges, split by problem.

A :class:`PairDataset` holds, for a set of problems, the **prefix** of every trace (its text up to
the truncation point, see :mod:`deepprune.core.prefix`) once, and the within-problem pairs as index
pairs into that list, each with a label:

=========================  =============================================================
Input                      Meaning
=========================  =============================================================
``prefix_a``, ``prefix_b``  the two traces' texts up to the truncation point
``label``                  1 if the two traces' *final* answers are equivalent, else 0
=========================  =============================================================

Labels come from :func:`deepprune.core.answers.group_answers` (math-verify equivalence). Two traces
that both end without an answer count as the same outcome (label 1), as in the ``oracle``
strategy: pruning one of them loses nothing for the vote.

Problems are keyed ``"<dataset name>/<problem id>"`` so that files can be combined. Splits are
**by problem** (:func:`split_problems`): a problem goes to the test side when a seeded hash of its
key falls below the test fraction. The split of a problem therefore never depends on which other
problems are present, and a judge trained on one file's training side never sees a problem of
the test side of the same file.

**Partial traces only.** A judge is meant to predict from a *partial* trace; a prefix that is the
whole trace (it ended before the cut) or already shows its final answer (``\boxed{...}`` or
"the answer is ...", :func:`deepprune.core.answers.extract_answer`) measures nothing. By default
:func:`build_pairs` leaves out every pair with such a prefix, counts them
(:attr:`PairDataset.excluded`, :attr:`PairDataset.whole_prefixes`, shown by
:meth:`PairDataset.balance`) and warns when the cut leaves most traces whole or answered;
``partial_only=False`` keeps them (``--include-whole`` on the CLI).

On disk (:meth:`PairDataset.save`, ``.jsonl`` or ``.jsonl.gz``), format ``deepprune/pairs-v1``::

    {"format": "deepprune/pairs-v1", "truncation": "tokens:64", "sources": [...],
     "n_prefixes": ..., "n_pairs": ..., "positives": ..., "negatives": ...,
     "excluded_pairs": ..., "whole_prefixes": ...}
    {"type": "prefix", "problem": "...", "trace_index": 0, "text": "...", "n_tokens": 64,
     "complete": false, "answer_visible": false}

(``answer_visible`` and the header's ``excluded_pairs``, ``whole_prefixes`` and ``cuts`` — per
problem ``[problem, traces, whole or answered, pairs left out]`` — are optional on reading: files
written before they existed still load, with ``false`` / none.)
    {"type": "pair", "a": 0, "b": 1, "label": 1}
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepprune.core.answers import extract_answer, group_answers
from deepprune.core.errors import ConfigError, DataError, FormatError
from deepprune.core.prefix import Truncation
from deepprune.core.types import Trace, TraceSet
from deepprune.formats.tracefile import iter_json_lines, open_text
from deepprune.judges.base import Pair

__all__ = [
    "PAIRS_FORMAT",
    "ClassBalance",
    "PairDataset",
    "PrefixRecord",
    "build_pairs",
    "prefix_of",
    "split_problems",
]

log = logging.getLogger(__name__)

PAIRS_FORMAT = "deepprune/pairs-v1"


@dataclass(frozen=True, slots=True)
class PrefixRecord:
    """The prefix of one trace."""

    problem: str
    """Problem key, ``"<dataset name>/<problem id>"``."""
    trace_index: int
    text: str
    """The trace's text up to the truncation point (its whole text when it ended before)."""
    n_tokens: int
    """Generated tokens up to the truncation point (what generating this prefix cost)."""
    complete: bool
    """True when the trace ended before the truncation point (the prefix is the whole trace)."""
    answer_visible: bool = False
    """True when the prefix already shows the trace's final answer (boxed or "the answer is")."""

    @property
    def partial(self) -> bool:
        """A real partial trace: cut before its end, final answer not yet shown."""
        return not (self.complete or self.answer_visible)


@dataclass(frozen=True, slots=True)
class ClassBalance:
    """Counts of a pair dataset."""

    problems: int
    prefixes: int
    pairs: int
    positives: int
    """Pairs whose final answers are equivalent (label 1)."""
    negatives: int
    excluded: int = 0
    """Pairs left out because a prefix was the whole trace or showed its answer."""
    whole_prefixes: int = 0
    """Prefixes (of all traces, before exclusion) that were whole or showed their answer."""
    traces: int = 0
    """Traces cut (before exclusion)."""

    @property
    def positive_rate(self) -> float:
        return self.positives / self.pairs if self.pairs else float("nan")

    @property
    def whole_share(self) -> float:
        """Share of traces the cut left whole or with their answer visible."""
        return self.whole_prefixes / self.traces if self.traces else float("nan")

    def __str__(self) -> str:
        rate = f"{100 * self.positive_rate:.1f}%" if self.pairs else "—"
        out = (f"{self.problems} problems, {self.prefixes} prefixes, {self.pairs} pairs: "
               f"{self.positives} same ({rate}), {self.negatives} different")
        if self.traces:
            out += (f"; {100 * self.whole_share:.1f}% of {self.traces} traces whole or answered at the cut"
                    f" ({self.excluded} pairs left out)")
        return out


def prefix_of(trace: Trace, rule: Truncation) -> tuple[str, int, bool]:
    """``(text, n_tokens, complete)`` of ``trace`` cut by ``rule``.

    Tokens rule: the first ``k`` tokens (:meth:`Trace.text_at`). Words rule: the text up to and
    including the k-th reasoning word; its token count is the same fraction of ``n_tokens`` as of
    the characters. A trace shorter than the truncation point gives its whole text.
    """
    if rule.unit == "tokens":
        if trace.n_tokens <= rule.k:
            return trace.text, trace.n_tokens, True
        return trace.text_at(rule.k), rule.k, False
    cut = rule.cut(trace.text)
    if cut is None:
        return trace.text, trace.n_tokens, True
    n = -(-trace.n_tokens * cut // max(1, len(trace.text)))
    return trace.text[:cut], min(trace.n_tokens, max(1, n)), False


def _hash_unit(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def split_problems(problems: Iterable[str], *, test_fraction: float = 0.3,
                   seed: int = 0) -> tuple[list[str], list[str]]:
    """Split problem keys into ``(train, test)`` by a seeded hash of each key.

    A problem's side depends only on ``(seed, key, test_fraction)``, never on the other
    problems, so the same problem is on the same side in every file and every run.

    >>> train, test = split_problems([f"d/{i}" for i in range(1000)], test_fraction=0.3)
    >>> 250 < len(test) < 350 and not set(train) & set(test)
    True
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ConfigError("test_fraction", test_fraction, "in [0, 1]")
    train: list[str] = []
    test: list[str] = []
    for key in dict.fromkeys(problems):
        (test if _hash_unit(seed, key) < test_fraction else train).append(key)
    return train, test


@dataclass(frozen=True, eq=False)
class PairDataset:
    """Prefixes of traces and labelled within-problem pairs of them (see the module docstring).

    ``a``, ``b``: int arrays of shape ``(n_pairs,)`` indexing :attr:`prefixes`; ``labels``:
    int8 array of shape ``(n_pairs,)``, 1 = same final answer.
    """

    prefixes: tuple[PrefixRecord, ...]
    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int8]
    truncation: str
    """The truncation rule the prefixes were cut with (``"tokens:64"``)."""
    sources: tuple[str, ...] = ()
    """Names of the trace datasets the pairs come from."""
    cuts: tuple[tuple[str, int, int, int], ...] = ()
    """Per problem, before exclusion: ``(problem, traces, traces whole or answered at the cut,
    pairs left out)`` (empty when unknown, e.g. a file written before it existed)."""

    @property
    def excluded(self) -> int:
        """Pairs left out because a prefix was not partial (see the module docstring)."""
        return sum(c[3] for c in self.cuts)

    @property
    def whole_prefixes(self) -> int:
        """Traces whose prefix was whole or showed the answer."""
        return sum(c[2] for c in self.cuts)

    @property
    def traces(self) -> int:
        """Traces cut, before exclusion."""
        return sum(c[1] for c in self.cuts)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def problems(self) -> list[str]:
        """Problem keys in first-appearance order."""
        return list(dict.fromkeys(p.problem for p in self.prefixes))

    def pair_problems(self) -> list[str]:
        """The problem key of each pair."""
        return [self.prefixes[i].problem for i in self.a.tolist()]

    def pairs(self) -> list[Pair]:
        """The pairs as judge input, with ``ids`` set to the two trace indices."""
        P = self.prefixes
        return [Pair(P[i].text, P[j].text, ids=(P[i].trace_index, P[j].trace_index))
                for i, j in zip(self.a.tolist(), self.b.tolist(), strict=True)]

    def balance(self) -> ClassBalance:
        pos = int(self.labels.sum())
        return ClassBalance(problems=len(self.problems), prefixes=len(self.prefixes), pairs=len(self),
                            positives=pos, negatives=len(self) - pos, excluded=self.excluded,
                            whole_prefixes=self.whole_prefixes, traces=self.traces)

    def subset(self, problems: Iterable[str]) -> PairDataset:
        """The pairs (and prefixes) of the given problems only."""
        keep = set(problems)
        old = [i for i, p in enumerate(self.prefixes) if p.problem in keep]
        remap = np.full(len(self.prefixes), -1, dtype=np.int64)
        remap[old] = np.arange(len(old))
        mask = remap[self.a] >= 0
        return PairDataset(tuple(self.prefixes[i] for i in old), remap[self.a[mask]],
                           remap[self.b[mask]], self.labels[mask].copy(), self.truncation, self.sources,
                           tuple(c for c in self.cuts if c[0] in keep))

    def split(self, *, test_fraction: float = 0.3, seed: int = 0) -> tuple[PairDataset, PairDataset]:
        """``(train, test)`` by problem, see :func:`split_problems`."""
        train, test = split_problems(self.problems, test_fraction=test_fraction, seed=seed)
        return self.subset(train), self.subset(test)

    def sample_pairs(self, n: int, *, seed: int = 0) -> PairDataset:
        """A seeded sample of ``n`` pairs, balanced: ``n // 2`` of the rarer label (or all of
        them when fewer), the rest of the other. Prefixes are kept as they are."""
        rng = np.random.default_rng(seed)
        pos = np.flatnonzero(self.labels == 1)
        neg = np.flatnonzero(self.labels == 0)
        rare, common = (pos, neg) if len(pos) < len(neg) else (neg, pos)
        k_rare = min(len(rare), n // 2)
        k_common = min(len(common), n - k_rare)
        pick = np.sort(np.concatenate([rng.choice(rare, k_rare, replace=False),
                                       rng.choice(common, k_common, replace=False)]))
        used = np.unique(np.concatenate([self.a[pick], self.b[pick]]))
        remap = np.full(len(self.prefixes), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return PairDataset(tuple(self.prefixes[i] for i in used.tolist()), remap[self.a[pick]],
                           remap[self.b[pick]], self.labels[pick].copy(), self.truncation, self.sources)

    # ---------------------------------------------------------------- on disk
    def save(self, path: str | Path) -> None:
        """Write the dataset as JSON Lines (gzip when the name ends in ``.gz``)."""
        bal = self.balance()
        header = {"format": PAIRS_FORMAT, "truncation": self.truncation, "sources": list(self.sources),
                  "n_prefixes": bal.prefixes, "n_pairs": bal.pairs, "positives": bal.positives,
                  "negatives": bal.negatives, "excluded_pairs": self.excluded,
                  "whole_prefixes": self.whole_prefixes, "cuts": [list(c) for c in self.cuts]}
        with open_text(path, "wt") as fh:
            fh.write(json.dumps(header) + "\n")
            for p in self.prefixes:
                fh.write(json.dumps({"type": "prefix", "problem": p.problem, "trace_index": p.trace_index,
                                     "text": p.text, "n_tokens": p.n_tokens, "complete": p.complete,
                                     "answer_visible": p.answer_visible},
                                    ensure_ascii=False) + "\n")
            for i, j, y in zip(self.a.tolist(), self.b.tolist(), self.labels.tolist(), strict=True):
                fh.write(json.dumps({"type": "pair", "a": i, "b": j, "label": y}) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> PairDataset:
        """Read a file written by :meth:`save` (checks the format and every record)."""
        prefixes: list[PrefixRecord] = []
        a: list[int] = []
        b: list[int] = []
        labels: list[int] = []
        header: dict[str, Any] | None = None
        for lineno, rec in iter_json_lines(path):
            if header is None:
                if not isinstance(rec, dict) or rec.get("format") != PAIRS_FORMAT:
                    raise FormatError(f"not a pair dataset: the first record must have "
                                      f"format {PAIRS_FORMAT!r}", path=path, line=lineno,
                                      field="format")
                header = rec
                continue
            kind = rec.get("type") if isinstance(rec, dict) else None
            try:
                if kind == "prefix":
                    prefixes.append(PrefixRecord(str(rec["problem"]), int(rec["trace_index"]),
                                                 str(rec["text"]), int(rec["n_tokens"]),
                                                 bool(rec["complete"]), bool(rec.get("answer_visible", False))))
                elif kind == "pair":
                    i, j, y = int(rec["a"]), int(rec["b"]), int(rec["label"])
                    if not (0 <= i < len(prefixes) and 0 <= j < len(prefixes)) or y not in (0, 1):
                        raise DataError(f"pair ({i}, {j}, label {y}) out of range", path=path,
                                        line=lineno)
                    a.append(i)
                    b.append(j)
                    labels.append(y)
                else:
                    raise DataError("unknown record type (expected 'prefix' or 'pair')", path=path,
                                    line=lineno, field="type")
            except KeyError as exc:
                raise DataError("missing field", path=path, line=lineno, field=str(exc.args[0])) from exc
            except (TypeError, ValueError) as exc:
                if isinstance(exc, DataError):
                    raise
                raise DataError(f"a field has the wrong type ({exc})", path=path, line=lineno) from exc
        if header is None:
            raise DataError("empty file", path=path)
        return cls(tuple(prefixes), np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64),
                   np.asarray(labels, dtype=np.int8), str(header.get("truncation", "")),
                   tuple(header.get("sources", ())), _cuts(header.get("cuts", []), path))


def _cuts(raw: Any, path: str | Path) -> tuple[tuple[str, int, int, int], ...]:
    try:
        return tuple((str(c[0]), int(c[1]), int(c[2]), int(c[3])) for c in raw)
    except (TypeError, ValueError, IndexError) as exc:
        raise DataError(f"bad 'cuts' in the header ({exc})", path=path, line=1, field="cuts") from exc


def build_pairs(
    tracesets: Sequence[TraceSet],
    truncation: str | Truncation = "words:25",
    *,
    max_pairs_per_problem: int | None = None,
    seed: int = 0,
    partial_only: bool = True,
) -> PairDataset:
    """All within-problem pairs of the traces (or a seeded sample of at most
    ``max_pairs_per_problem`` per problem), with prefixes cut by ``truncation``.

    ``partial_only`` (default): leave out pairs with a prefix that is the whole trace or shows its
    final answer, and count them (see the module docstring); a warning is logged when that is
    most traces.

    >>> from deepprune.core.types import Problem, Trace, TraceSet
    >>> ts = TraceSet((Problem("p", "q"),), {"p": tuple(
    ...     Trace("p", i, f"so x = {a}", 4, a) for i, a in enumerate(["1", "1", "2"]))}, name="d")
    >>> ds = build_pairs([ts], "tokens:2")
    >>> ds.labels.tolist(), str(ds.balance()).split(";")[0]
    ([1, 0, 0], '1 problems, 3 prefixes, 3 pairs: 1 same (33.3%), 2 different')
    >>> len(build_pairs([ts], "tokens:8"))  # every trace ends before 8 tokens: nothing partial
    0
    """
    rule = Truncation.parse(truncation)
    rng = np.random.default_rng(seed)
    prefixes: list[PrefixRecord] = []
    a: list[int] = []
    b: list[int] = []
    labels: list[int] = []
    cuts: list[tuple[str, int, int, int]] = []
    for ts in tracesets:
        for problem in ts.problems:
            traces = ts.traces_of(problem.id)
            if len(traces) < 2:
                continue
            key = f"{ts.name}/{problem.id}"
            groups = group_answers([t.answer for t in traces], problem.kind)
            base = len(prefixes)
            for t in traces:
                text, n, complete = prefix_of(t, rule)
                visible = not complete and extract_answer(text, problem.kind) is not None
                prefixes.append(PrefixRecord(key, t.index, text, n, complete, visible))
            ii, jj = np.triu_indices(len(traces), k=1)
            left_out = 0
            if partial_only:
                ok = np.asarray([p.partial for p in prefixes[base:]], dtype=bool)
                keep = ok[ii] & ok[jj]
                left_out = int((~keep).sum())
                ii, jj = ii[keep], jj[keep]
            cuts.append((key, len(traces), sum(not p.partial for p in prefixes[base:]), left_out))
            if max_pairs_per_problem is not None and len(ii) > max_pairs_per_problem:
                pick = np.sort(rng.choice(len(ii), size=max_pairs_per_problem, replace=False))
                ii, jj = ii[pick], jj[pick]
            for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
                a.append(base + i)
                b.append(base + j)
                labels.append(int(groups[i] == groups[j]))
    n_traces, whole = sum(c[1] for c in cuts), sum(c[2] for c in cuts)
    if n_traces and whole / n_traces > 0.5:
        log.warning("truncation %s leaves %.0f%% of the traces whole or with their final answer visible: "
                    "%s", rule, 100 * whole / n_traces,
                    "their pairs are left out (judge figures on the rest only)" if partial_only
                    else "judge figures on such pairs measure nothing; choose an earlier cut")
    return PairDataset(tuple(prefixes), np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64),
                       np.asarray(labels, dtype=np.int8), str(rule), tuple(ts.name for ts in tracesets),
                       tuple(cuts))
