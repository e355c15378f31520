"""Judges of answer equivalence between partial traces."""

from __future__ import annotations

from deepprune.judges.base import Judge, JudgeNotFittedError, Pair, pair_tokens

__all__ = ["Judge", "JudgeNotFittedError", "Pair", "pair_tokens"]
