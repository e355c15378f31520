"""The train/test leakage guard: a trained judge must not be evaluated on problems it was trained on.

A trained judge directory records its training problems (``info_["train_problems"]``, keys
``"<dataset>/<problem id>"`` as in :class:`~deepprune.judges.pairs.PairDataset`). An AUROC measured
on any of them is not a held-out figure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from deepprune.core.errors import ConfigError
from deepprune.judges.base import Judge

__all__ = ["check_held_out", "training_overlap"]

log = logging.getLogger(__name__)


def training_overlap(judge: Judge, problems: Iterable[str]) -> set[str]:
    """The problems among ``problems`` that ``judge`` was trained on (empty for untrained judges)."""
    info = getattr(judge, "info_", None) or {}
    return set(info.get("train_problems", ())) & set(problems)


def check_held_out(name: str, judge: Judge, problems: Iterable[str], *, strict: bool) -> None:
    """Refuse (``strict``: a test-split evaluation) or warn when ``judge`` was trained on any of ``problems``.

    Raises
    ------
    ConfigError
        ``strict`` and the judge has seen at least one of the problems.
    """
    problems = list(problems)
    seen = training_overlap(judge, problems)
    if not seen:
        return
    msg = (f"judge {name} was trained on {len(seen)} of these {len(problems)} problems "
           f"(e.g. {sorted(seen)[0]!r})")
    if strict:
        raise ConfigError("--split test", msg, "disjoint problems: use the judge's --test-fraction/--seed")
    log.warning("%s: its AUROC here is not a held-out figure", msg)
