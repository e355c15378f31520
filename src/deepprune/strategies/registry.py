"""Strategies by name: ``"deepprune:judge=lexical,tau=0.5"`` -> a factory.

Every strategy registers a *builder*: a function that takes the parsed ``key=value`` parameters
(strings) and returns a :data:`~deepprune.strategies.base.StrategyFactory`. Builders convert and
validate their own parameters with :func:`take` and must reject unknown keys (``ConfigError``).
Expensive shared objects (a judge model) are built once in the builder, not per problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from deepprune.errors import ConfigError
from deepprune.strategies.base import StrategyFactory

__all__ = ["StrategySpec", "available", "build", "register", "take"]

Builder = Callable[[dict[str, str]], StrategyFactory]
_REGISTRY: dict[str, tuple[Builder, str]] = {}
T = TypeVar("T")


@dataclass(frozen=True)
class StrategySpec:
    """A strategy name with its parameters, as written on the command line."""

    name: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> StrategySpec:
        """``"name:k=v,k2=v2"`` -> StrategySpec.

        >>> StrategySpec.parse("deepprune:judge=lexical,tau=0.5")
        StrategySpec(name='deepprune', params=(('judge', 'lexical'), ('tau', '0.5')))
        """
        name, _, rest = text.strip().partition(":")
        params: list[tuple[str, str]] = []
        if rest.strip():
            for item in rest.split(","):
                key, eq, value = item.partition("=")
                if not eq or not key.strip():
                    raise ConfigError("strategy parameter", item, "key=value (e.g. tau=0.5)")
                params.append((key.strip(), value.strip()))
        return cls(name.strip(), tuple(params))

    def with_param(self, key: str, value: str) -> StrategySpec:
        params = [(k, v) for k, v in self.params if k != key] + [(key, value)]
        return StrategySpec(self.name, tuple(params))

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.params)

    def __str__(self) -> str:
        return self.label


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


def take(params: dict[str, str], key: str, convert: Callable[[str], T], default: T) -> T:
    """Pop ``key`` from ``params`` and convert it; ConfigError names the key and the value."""
    if key not in params:
        return default
    raw = params.pop(key)
    try:
        return convert(raw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(key, raw, f"convertible by {getattr(convert, '__name__', convert)}") from exc


def _load_builtin() -> None:
    # Importing the modules registers their builders.
    from deepprune.strategies import builtin  # noqa: F401

