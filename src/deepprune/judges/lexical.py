"""The lexical-overlap judge: P(same) = Jaccard similarity of the two prefixes' n-gram sets.

No model, no training, no dependencies: the baseline every learned judge must beat. Text is
lowercased and split into words, numbers (``12``, ``3.5``) and single symbols; the features of a
prefix are all its 1..``ngram``-grams (default 2), and the score is
``|A ∩ B| / |A ∪ B|`` (1.0 for two empty prefixes). Features are computed once per distinct
prefix (cached), so the cost grows with the number of traces, not of pairs.

AUROC on all within-problem pairs of the shared MATH-100x8 traces: 0.66 with ``words:3``
prefixes, 0.76 with ``words:5`` (``benchmarks/lexical_judge_auroc.py``; BENCHMARKS.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from deepprune.core.errors import ConfigError
from deepprune.judges.base import Judge, Pair

__all__ = ["LexicalJudge", "ngram_set"]

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+|[^\w\s]")


@functools.lru_cache(maxsize=16384)
def ngram_set(text: str, ngram: int = 2) -> frozenset[tuple[str, ...]]:
    """The set of 1..``ngram``-grams of ``text`` (lowercased words, numbers and symbols).

    >>> sorted(ngram_set("So x = 2", 1))
    [('2',), ('=',), ('so',), ('x',)]
    """
    toks = [t.lower() for t in _TOKEN.findall(text)]
    out: set[tuple[str, ...]] = set()
    for n in range(1, ngram + 1):
        out.update(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))
    return frozenset(out)


class LexicalJudge(Judge):
    """Jaccard overlap of n-gram sets as P(same final answer).

    Parameters
    ----------
    ngram : int, default 2
        Longest n-gram used as a feature (1 = bag of words).

    >>> j = LexicalJudge()
    >>> float(j.predict_proba([Pair("so x = 2", "so x = 2"), Pair("so x = 2", "hmm y")])[0])
    1.0
    """

    name = "lexical"

    def __init__(self, ngram: int = 2) -> None:
        self.ngram = ngram

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        if self.ngram < 1:
            raise ConfigError("ngram", self.ngram, "a positive integer")
        out = np.empty(len(pairs), dtype=np.float64)
        for i, pair in enumerate(pairs):
            a = ngram_set(pair.a, self.ngram)
            b = ngram_set(pair.b, self.ngram)
            union = len(a | b)
            out[i] = 1.0 if union == 0 else len(a & b) / union
        return out
