"""The row record: one strategy on one dataset, aggregated over orderings (``deepprune bench --json``).

:class:`BenchRow` is what :func:`deepprune.engine.aggregate` makes and ``bench --json`` writes;
:meth:`BenchRow.from_dict` reads one back, validated. :func:`read_row` is the validation itself,
field by field, for readers that accept rows from older or hand-written files where only
``dataset``, ``strategy``, ``accuracy`` and ``tokens`` are present (the leaderboard): every
:class:`~deepprune.core.errors.DataError` names the file and the field (``[3].tokens``).

The per-problem record is :class:`~deepprune.core.types.ProblemResult`: its ``to_dict`` is the result
as the results file of ``deepprune run`` (``deepprune/run-v1``) keeps it, read back validated by
its ``from_dict`` (a :class:`~deepprune.core.errors.DataError` names the file, line and field).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal

from deepprune.core.errors import DataError

__all__ = ["LEADERBOARD_BUDGET", "BenchRow", "read_row"]

LEADERBOARD_BUDGET = 512
"""The published leaderboard's K (cons@512): leaderboard-unit tokens are scaled to it."""

_MISSING = "missing required field (is this `deepprune bench --json` output?)"


@dataclass(frozen=True)
class BenchRow:
    """One strategy on one dataset, aggregated over orderings. JSON-ready via :meth:`to_dict`."""

    dataset: str
    strategy: str
    accuracy: float
    """Mean over orderings of the fraction of problems answered correctly (0..1)."""
    accuracy_std: float
    tokens: float
    """Mean over orderings of total generated tokens (all problems)."""
    tokens_std: float
    tokens_per_problem: float
    reduction: float | None
    """1 - tokens / cons tokens on the same dataset (None when cons was not run)."""
    problems: int
    traces_per_problem: float
    """K: traces available per problem (mean)."""
    orderings: int
    judge_calls: float
    """Mean over orderings of total judge calls."""
    judge_tokens: float
    traces_finished: float
    traces_stopped: float
    leaderboard_tokens_1e8: float
    """Tokens in the published leaderboard's unit: scaled to K = 512 traces, in 1e8."""
    model: str | None = None
    token_count: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    errors: int = 0
    """Problems that failed (with raise_on_error=False), per ordering."""
    not_applicable: str | None = None
    """Why the strategy cannot run on this dataset (e.g. DeepConf without confidences); the
    row's figures are then nan / 0 and tables show "n/a"."""
    family: str | None = field(default=None, compare=False)
    """How the strategy saves tokens (:attr:`deepprune.core.Strategy.family`: ``vote``,
    ``stop-early`` or ``prune``); None when it declares none or the row predates the field.
    Describes the strategy, not the measurement: rows compare equal without it."""
    steps_per_problem: float | None = None
    """Replay: mean decode steps per problem until the decision (:attr:`ProblemResult.steps`: the
    latency with a free server slot per trace, in tokens per stream); None live."""
    latency: float | None = None
    """``steps_per_problem`` over cons@K's on the same dataset: 1.0 = as long as cons@K waits for
    its longest trace (None when either is unknown)."""
    paper: str | None = field(default=None, compare=False)
    """The method the strategy implements (:attr:`deepprune.core.Strategy.paper`, a short citation
    with its arXiv id or venue); None when it implements none or the row predates the field (not
    compared either)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, rec: object, *, path: str = "", index: int = 0) -> BenchRow:
        """A row written by :meth:`to_dict` (extra keys, such as ``command``, are ignored).

        Every field of the row must be present (:func:`read_row` accepts partial rows); ``null``
        or NaN figures are accepted only where bench writes them (n/a rows, no gold answers).
        Raises :class:`~deepprune.core.errors.DataError` naming ``path`` and the field.
        """
        vals = read_row(rec, path=path, index=index)
        assert isinstance(rec, Mapping)  # read_row checked it
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            has_default = f.default is not MISSING or f.default_factory is not MISSING
            if f.name not in rec:
                if has_default:
                    continue
                raise DataError(_MISSING, path=path, field=f"[{index}].{f.name}")
            v = vals[f.name]
            if v is None and f.name in _NAN_ALLOWED:
                v = math.nan
            elif v is None and f.name not in _NONE_ALLOWED:
                raise DataError("must not be null", path=path, field=f"[{index}].{f.name}")
            kwargs[f.name] = v
        return cls(**kwargs)


_NAN_ALLOWED = frozenset({"accuracy", "tokens", "tokens_per_problem", "leaderboard_tokens_1e8"})
"""Figures bench writes as NaN: on an n/a row, and accuracy on a dataset without gold answers."""
_NONE_ALLOWED = frozenset({"reduction", "model", "token_count", "not_applicable", "family", "paper",
                           "steps_per_problem", "latency"})


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: Literal["num", "int", "str", "map"]
    required: bool = False
    low: float | None = None
    positive: bool = False


_RULES: dict[str, _Rule] = {
    "dataset": _Rule("str", required=True),
    "strategy": _Rule("str", required=True),
    "accuracy": _Rule("num"),
    "accuracy_std": _Rule("num", low=0),
    "tokens": _Rule("num"),
    "tokens_std": _Rule("num", low=0),
    "tokens_per_problem": _Rule("num", low=0),
    "reduction": _Rule("num"),
    "problems": _Rule("int", positive=True),
    "traces_per_problem": _Rule("num", positive=True),
    "orderings": _Rule("int", positive=True),
    "judge_calls": _Rule("num", low=0),
    "judge_tokens": _Rule("num", low=0),
    "traces_finished": _Rule("num", low=0),
    "traces_stopped": _Rule("num", low=0),
    "leaderboard_tokens_1e8": _Rule("num", low=0),
    "model": _Rule("str"),
    "token_count": _Rule("str"),
    "params": _Rule("map"),
    "errors": _Rule("int", low=0),
    "not_applicable": _Rule("str"),
    "family": _Rule("str"),
    "paper": _Rule("str"),
    "steps_per_problem": _Rule("num", low=0),
    "latency": _Rule("num", low=0),
    "command": _Rule("str"),
}


def read_row(rec: object, *, path: str = "", index: int = 0) -> dict[str, Any]:
    """The validated fields of one bench row (a JSON object), for every field in :data:`_RULES`.

    Absent, ``null`` and NaN values are None; numbers are floats (``int`` fields ints); ``params``
    is a ``dict[str, str]``; empty strings are None. Required: ``dataset``, ``strategy``, the key
    ``accuracy`` (its value may be null: no gold answers) and ``tokens`` (a number >= 0) unless
    the row is n/a. Raises :class:`~deepprune.core.errors.DataError` with ``path`` and ``[index].field``.

    >>> read_row({"dataset": "d", "strategy": "cons", "accuracy": 0.5, "tokens": 10})["problems"] is None
    True
    """
    if not isinstance(rec, Mapping):
        raise DataError(f"expected a JSON object per row, got {type(rec).__name__}", path=path, field=f"[{index}]")
    out: dict[str, Any] = {}
    for key, rule in _RULES.items():
        out[key] = _value(rec, key, rule, path, index)
    if "accuracy" not in rec:
        raise DataError(_MISSING, path=path, field=f"[{index}].accuracy")
    acc = out["accuracy"]
    if acc is not None and not 0.0 <= acc <= 1.0:
        raise DataError(f"accuracy must be a fraction in [0, 1], got {acc!r}", path=path, field=f"[{index}].accuracy")
    tokens = out["tokens"]
    if out["not_applicable"] is None and (tokens is None or tokens < 0):
        if "tokens" not in rec or rec["tokens"] is None:
            raise DataError(_MISSING, path=path, field=f"[{index}].tokens")
        raise DataError(f"tokens must be a non-negative number, got {rec.get('tokens')!r}", path=path,
                        field=f"[{index}].tokens")
    return out


def _value(rec: Mapping[str, Any], key: str, rule: _Rule, path: str, i: int) -> Any:
    where = f"[{i}].{key}"
    v = rec.get(key)
    if rule.kind == "map":
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            raise DataError(f"expected an object, got {type(v).__name__}", path=path, field=where)
        return {str(a): str(b) for a, b in v.items()}
    if rule.kind == "str":
        if v is None or (isinstance(v, str) and not v.strip()):
            if rule.required:
                raise DataError(_MISSING, path=path, field=where)
            return None
        if not isinstance(v, str):
            raise DataError(f"expected a string, got {type(v).__name__} {v!r}", path=path, field=where)
        return v
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DataError(f"expected a number, got {type(v).__name__} {v!r}", path=path, field=where)
    num: float | int
    if rule.kind == "int":
        if isinstance(v, float) and not v.is_integer():
            raise DataError(f"expected a whole number, got {v!r}", path=path, field=where)
        num = int(v)
    else:
        num = float(v)
        if math.isnan(num):
            return None
        if math.isinf(num):
            raise DataError(f"expected a finite number, got {v!r}", path=path, field=where)
    if (rule.low is not None and num < rule.low) or (rule.positive and num <= 0):
        need = "> 0" if rule.positive else f">= {rule.low:g}"
        raise DataError(f"must be {need}, got {num!r}", path=path, field=where)
    return num
