"""Training pieces of the learned judge, each separate from the judge itself: the loss, the
minority oversampling, the training arguments.

* :func:`focal_loss` — FL = -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017), as DeepPrune trains
  its judge; ``gamma = 0`` and ``alpha = 0.5`` give half the binary cross-entropy.
* :func:`oversample_indices` — repeat the minority class ``factor`` times (DeepPrune: 2x the
  different-answer pairs).
* :class:`JudgeTrainingArgs` — hyperparameters, validated, with documented defaults.

Torch is imported lazily (extra ``[judge]``); :func:`oversample_indices` and the arguments need
only numpy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from deepprune.core.errors import ConfigError

__all__ = ["JudgeTrainingArgs", "focal_loss", "focal_loss_value", "oversample_indices"]


@dataclass(frozen=True)
class JudgeTrainingArgs:
    """How to train the judge's head. Defaults are the ones measured in BENCHMARKS.md."""

    encoder: str = "minilm"
    """``"minilm"``: the MiniLM cosine + the text features; ``"minilm-full"``: also the 2 x 384
    embedding interactions ``u * v``, ``|u - v|``; ``"none"``: text features only (no transformer)."""
    features: str = "auto"
    """Which pair features the head sees: ``"all"``; ``"similarity"`` (without the four
    prefix-level features — log numbers and log characters, min and max — that describe the
    problem more than the pair and overfit the few training problems at early cuts); ``"auto"``
    (default): the one of the two with the higher AUROC in a 3-fold cross-validation by problem
    on the training data, with small gradient-boosted trees as a fast proxy for the head."""
    loss: str = "focal"
    """``"focal"`` or ``"ce"`` (plain binary cross-entropy)."""
    focal_alpha: float = 0.5
    """Weight of the *same-answer* class (label 1) in the focal loss; the different-answer class
    gets ``1 - alpha``. 0.5 (both equal) as in the public DeepPrune trainer: class balance is
    left to oversampling."""
    focal_gamma: float = 2.0
    """Focusing parameter: 0 = cross-entropy (times 2 alpha_t), 2 = the usual focal loss."""
    oversample: float = 2.0
    """The minority class (whichever label is rarer in training) appears this many times
    (1 = no oversampling; fractional parts are a seeded random draw)."""
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-3
    hidden: int = 64
    """Hidden units of the MLP head (0 = logistic regression on the features)."""
    dropout: float = 0.2
    seed: int = 0
    threads: int = 2
    """torch CPU threads."""

    def __post_init__(self) -> None:
        if self.encoder not in ("minilm", "minilm-full", "none"):
            raise ConfigError("encoder", self.encoder, "'minilm', 'minilm-full' or 'none'")
        if self.features not in ("auto", "all", "similarity"):
            raise ConfigError("features", self.features, "'auto', 'all' or 'similarity'")
        if self.loss not in ("focal", "ce"):
            raise ConfigError("loss", self.loss, "'focal' or 'ce'")
        if not 0.0 < self.focal_alpha < 1.0:
            raise ConfigError("focal_alpha", self.focal_alpha, "in (0, 1)")
        if self.focal_gamma < 0:
            raise ConfigError("focal_gamma", self.focal_gamma, ">= 0")
        if self.oversample < 1.0:
            raise ConfigError("oversample", self.oversample, ">= 1 (1 = no oversampling)")
        for name in ("epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "a positive integer")
        if self.lr <= 0:
            raise ConfigError("lr", self.lr, "> 0")
        if self.hidden < 0 or not 0 <= self.dropout < 1:
            raise ConfigError("hidden/dropout", (self.hidden, self.dropout), "hidden >= 0, dropout in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def focal_loss_value(p: float, y: int, *, alpha: float = 0.5, gamma: float = 2.0) -> float:
    """The focal loss of one prediction ``p`` = P(label 1) for true label ``y`` (pure Python).

    >>> round(focal_loss_value(0.9, 1), 6)   # 0.5 * 0.1**2 * -log(0.9)
    0.000527
    """
    p_t = p if y == 1 else 1.0 - p
    alpha_t = alpha if y == 1 else 1.0 - alpha
    return float(-alpha_t * (1.0 - p_t) ** gamma * math.log(p_t))


def focal_loss(logits: Any, targets: Any, *, alpha: float = 0.5, gamma: float = 2.0,
               reduction: str = "mean") -> Any:
    """Binary focal loss on logits (torch tensors of the same shape; targets in {0, 1}).

    Computed from ``binary_cross_entropy_with_logits`` (= -log p_t, numerically stable), so
    ``gamma = 0`` gives exactly ``alpha_t * BCE``.
    """
    import torch
    import torch.nn.functional as F

    targets = targets.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * targets + (1.0 - p) * (1.0 - targets)
    alpha_t = alpha * targets + (1.0 - alpha) * (1.0 - targets)
    loss = alpha_t * (1.0 - p_t).pow(gamma) * ce
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def oversample_indices(labels: npt.ArrayLike, factor: float = 2.0, *, seed: int = 0) -> npt.NDArray[np.int64]:
    """Indices of a training epoch in which the minority class appears ``factor`` times.

    Every example appears once; minority examples (the rarer label; ties: label 0) appear
    ``floor(factor)`` times plus one more for a seeded random ``factor - floor(factor)`` share of
    them. The result is shuffled.

    >>> idx = oversample_indices([1, 1, 1, 1, 0], 2.0)
    >>> sorted(idx.tolist())
    [0, 1, 2, 3, 4, 4]
    """
    y = np.asarray(labels).astype(np.int64).ravel()
    if factor < 1.0:
        raise ConfigError("oversample", factor, ">= 1")
    rng = np.random.default_rng(seed)
    n_pos = int(y.sum())
    minority = 1 if n_pos < len(y) - n_pos else 0
    idx_min = np.flatnonzero(y == minority)
    whole = math.floor(factor)
    extra_n = round((factor - whole) * len(idx_min))
    parts = [np.arange(len(y), dtype=np.int64)]
    parts += [idx_min] * (whole - 1)
    if extra_n:
        parts.append(rng.choice(idx_min, size=extra_n, replace=False))
    out = np.concatenate(parts).astype(np.int64)
    rng.shuffle(out)
    return out
