"""Strategies by name: ``"deepprune:judge=lexical,tau=0.5"`` -> a factory.

Every strategy registers a *builder*: a function that takes the parsed ``key=value`` parameters
(strings) and returns a :data:`~deepprune.strategies.base.StrategyFactory`. Builders convert and
validate their own parameters with :func:`take` (from :mod:`deepprune.core.spec`, as is
:class:`StrategySpec`; both re-exported here) and must reject unknown keys (``ConfigError``).
Expensive shared objects (a judge model) are built once in the builder, not per problem.
"""

from __future__ import annotations

from collections.abc import Callable

from deepprune.core.errors import ConfigError
from deepprune.core.protocol import StrategyFactory
from deepprune.core.spec import StrategySpec, take

__all__ = ["StrategySpec", "available", "build", "describe", "register", "take"]

Builder = Callable[[dict[str, str]], StrategyFactory]
_REGISTRY: dict[str, tuple[Builder, str]] = {}


def register(name: str, description: str = "") -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` under ``name``."""

    def deco(builder: Builder) -> Builder:
        _REGISTRY[name] = (builder, description)
        return builder

    return deco


def available() -> dict[str, str]:
    """Registered strategy names -> one-line descriptions."""
    _load_builtin()
    return {name: desc for name, (_, desc) in sorted(_REGISTRY.items())}


def build(spec: StrategySpec | str) -> StrategyFactory:
    """A factory for the strategy ``spec`` names (raises ConfigError for unknown names/keys)."""
    _load_builtin()
    if isinstance(spec, str):
        spec = StrategySpec.parse(spec)
    if spec.name not in _REGISTRY:
        raise ConfigError("strategy", spec.name, "one of " + ", ".join(sorted(_REGISTRY)))
    builder, _ = _REGISTRY[spec.name]
    params = dict(spec.params)
    factory = builder(params)
    if params:
        raise ConfigError(f"parameters of strategy {spec.name!r}", sorted(params), "known keys")
    return factory


def describe(strategy: StrategySpec | str | StrategyFactory) -> tuple[str, str]:
    """``(family, paper)`` of a strategy (:attr:`~deepprune.core.Strategy.family` and
    :attr:`~deepprune.core.Strategy.paper`; ``""`` where it declares none).

    Takes a factory, or a spec that is built first; the factory is called once to ask (factories
    are cheap: expensive shared objects are made when the spec is built).
    """
    factory = build(strategy) if isinstance(strategy, StrategySpec | str) else strategy
    s = factory()
    return s.family, s.paper


def _load_builtin() -> None:
    # Importing the modules registers their builders.
    from deepprune.strategies import builtin  # noqa: F401

