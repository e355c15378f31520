"""The ``name:key=value,...`` spec language of strategies (and their judges) on the command line.

>>> StrategySpec.parse("deepprune:judge=lexical,tau=0.5")
StrategySpec(name='deepprune', params=(('judge', 'lexical'), ('tau', '0.5')))

:func:`take` is how a builder reads one parameter: pop it, convert it, and name the key and the
value in the :class:`~deepprune.core.errors.ConfigError` when it does not convert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from deepprune.core.errors import ConfigError

__all__ = ["StrategySpec", "take"]

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


def take(params: dict[str, str], key: str, convert: Callable[[str], T], default: T, *,
         expects: str | None = None) -> T:
    """Pop ``key`` from ``params`` and convert it; ConfigError names the key, the value and what
    was expected (``expects``, e.g. ``"an integer or 'none'"``; default: the converter's name).

    >>> params = {"tau": "0.5"}
    >>> take(params, "tau", float, 0.2), params
    (0.5, {})
    """
    if key not in params:
        return default
    raw = params.pop(key)
    try:
        return convert(raw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(key, raw, expects or f"convertible by {getattr(convert, '__name__', convert)}") from exc
