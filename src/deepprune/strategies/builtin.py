"""Registration of the built-in strategies (imported lazily by the registry)."""

from __future__ import annotations

from deepprune.strategies.base import StrategyFactory
from deepprune.strategies.cons import ConsensusStrategy
from deepprune.strategies.oracle import OracleStrategy
from deepprune.strategies.registry import register, take


@register("cons", "self-consistency: all K traces finish, majority vote")
def _cons(params: dict[str, str]) -> StrategyFactory:
    return ConsensusStrategy


@register("oracle", "lower bound: one trace per distinct answer finishes, the rest stop at the prefix (replay only)")
def _oracle(params: dict[str, str]) -> StrategyFactory:
    prefix = take(params, "prefix", str, "words:25")
    OracleStrategy(prefix)  # validate now, not per problem
    return lambda: OracleStrategy(prefix)
