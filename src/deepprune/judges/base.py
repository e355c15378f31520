"""The Judge protocol: P(two partial traces end in the same final answer).

Judges follow scikit-learn estimator conventions:

* ``__init__`` only stores hyperparameters (no loading, no validation);
* ``fit(pairs, labels) -> self`` (a no-op returning self for judges that need no training);
* learned / loaded state lives in trailing-underscore attributes (``model_``);
* ``predict_proba(pairs) -> ndarray of shape (n_pairs,)``: **batched**, float64 in [0, 1];
  using a judge that needs fitting before ``fit`` raises :class:`JudgeNotFittedError`.

A *pair* is a :class:`Pair` of two prefixes (the text of each trace up to the truncation point,
see :mod:`deepprune.core.prefix`). Judges that compare traces by their identity in a replay (the
noisy-oracle judge of simulations) also read ``Pair.ids``/``Pair.context``; real judges only
read the texts.

Cost accounting: each pair scored is one *judge call*; ``pair_tokens`` approximates the judge's
input tokens for a pair, reported separately from generated tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from deepprune.core.errors import JudgeNotFittedError
from deepprune.core.tokens import approx_tokens

__all__ = ["Judge", "JudgeNotFittedError", "Pair", "pair_tokens"]


@dataclass(frozen=True, slots=True)
class Pair:
    """Two prefixes to compare."""

    a: str
    b: str
    ids: tuple[int, int] | None = None
    """Trace ids in the current problem (simulation judges only)."""
    context: Any = None
    """Opaque per-problem context (simulation judges only: e.g. answer lookup)."""


def pair_tokens(pair: Pair) -> int:
    """Approximate judge input tokens for one pair (``approx:regex-v1`` of both prefixes)."""
    return approx_tokens(pair.a) + approx_tokens(pair.b)


class Judge(ABC):
    """Base class of judges. Subclasses implement ``predict_proba``; learned ones ``fit`` too."""

    name: str = "judge"
    blocking: bool = False
    """True when ``predict_proba`` may take long (a neural model, a server): strategies using the
    judge then run their event handling off the event loop (:attr:`Strategy.blocking`)."""

    def fit(self, pairs: Sequence[Pair], labels: Sequence[int] | npt.NDArray[Any]) -> Judge:
        """Learn from labelled pairs (1 = same final answer). Default: nothing to learn."""
        return self

    @abstractmethod
    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        """P(same final answer) for each pair, shape ``(len(pairs),)``."""

    def _check_fitted(self, *attrs: str) -> None:
        for attr in attrs:
            if getattr(self, attr, None) is None:
                raise JudgeNotFittedError(
                    f"{type(self).__name__} is not fitted yet: call fit(...) or load(...) first"
                )
