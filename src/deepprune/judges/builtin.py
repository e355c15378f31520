"""Registration of the judges that need no extra dependencies: lexical, noisy-oracle, constant."""

from __future__ import annotations

from deepprune.core.spec import take
from deepprune.judges.base import Judge
from deepprune.judges.lexical import LexicalJudge
from deepprune.judges.registry import register_judge
from deepprune.judges.simulated import ConstantJudge, NoisyOracleJudge, auroc_to_mu


def _lexical(params: dict[str, str]) -> Judge:
    return LexicalJudge(ngram=take(params, "ngram", int, 2))


def _noisy_oracle(params: dict[str, str]) -> Judge:
    auroc = take(params, "auroc", float, 0.9)
    auroc_to_mu(auroc)  # validate now
    return NoisyOracleJudge(auroc=auroc, seed=take(params, "judge_seed", int, 0))


def _constant(params: dict[str, str]) -> Judge:
    return ConstantJudge(p=take(params, "same", float, 0.0))


register_judge("lexical", _lexical, "Jaccard overlap of word 1-2-gram sets (no model); ngram=2")
register_judge("noisy-oracle", _noisy_oracle,
               "simulation only: reads recorded answers, scores with AUROC auroc=0.9 (judge_seed=0)")
register_judge("constant", _constant, "always P(same) = same=0.0 (tests: never-same makes DeepPrune = cons@K)")
