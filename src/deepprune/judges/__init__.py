"""Judges of answer equivalence between partial traces."""

from __future__ import annotations

from deepprune.judges.base import Judge, JudgeNotFittedError, Pair, pair_tokens
from deepprune.judges.lexical import LexicalJudge
from deepprune.judges.registry import available_judges, make_judge, register_judge, register_path_loader
from deepprune.judges.simulated import ConstantJudge, NoisyOracleJudge

__all__ = [
    "ConstantJudge",
    "Judge",
    "JudgeNotFittedError",
    "LexicalJudge",
    "NoisyOracleJudge",
    "Pair",
    "available_judges",
    "make_judge",
    "pair_tokens",
    "register_judge",
    "register_path_loader",
]
