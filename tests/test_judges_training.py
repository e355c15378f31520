"""Pair datasets, split by problem, metrics, focal loss, oversampling, trained-judge round trip."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from deepprune.core.errors import ConfigError, FormatError, UndefinedMetricWarning
from deepprune.core.types import Problem, Trace, TraceSet
from deepprune.judges.base import Pair
from deepprune.judges.metrics import auroc, tnr_at_fnr
from deepprune.judges.pairs import PairDataset, build_pairs, split_problems
from deepprune.judges.training import JudgeTrainingArgs, focal_loss_value, oversample_indices


def synthetic_traces(n_problems: int = 40, k: int = 6, seed: int = 0, name: str = "synth") -> TraceSet:
    """Traces whose first words announce their answer ("route A ..."), so a judge can learn."""
    rng = np.random.default_rng(seed)
    problems, traces = [], {}
    for p in range(n_problems):
        pid = f"p{p}"
        problems.append(Problem(pid, f"question {p}", gold="1"))
        ts = []
        for i in range(k):
            ans = "1" if rng.random() < 0.75 else "2"
            route = "first we add the numbers" if ans == "1" else "alternatively we multiply everything"
            filler = " ".join(rng.choice(["so", "then", "we", "get", "x", "value", str(p)], size=12))
            text = f"{route} {filler} therefore the result is \\boxed{{{ans}}}"
            ts.append(Trace(pid, i, text, 30, ans))
        traces[pid] = tuple(ts)
    return TraceSet(tuple(problems), traces, name=name)


def test_build_pairs_labels_and_balance() -> None:
    ds = build_pairs([synthetic_traces(5, 4)], "tokens:10")
    assert len(ds) == 5 * 6
    answers = {(p.problem, p.trace_index): ("route A" if p.text.startswith("first") else "B") for p in ds.prefixes}
    for i, j, y in zip(ds.a.tolist(), ds.b.tolist(), ds.labels.tolist(), strict=True):
        pa, pb = ds.prefixes[i], ds.prefixes[j]
        assert pa.problem == pb.problem
        assert y == int(answers[(pa.problem, pa.trace_index)] == answers[(pb.problem, pb.trace_index)])
    bal = ds.balance()
    assert bal.positives + bal.negatives == bal.pairs == 30
    assert all(p.n_tokens == 10 and not p.complete for p in ds.prefixes)


def test_max_pairs_per_problem_is_a_seeded_sample() -> None:
    ts = synthetic_traces(3, 8)
    a = build_pairs([ts], "tokens:5", max_pairs_per_problem=10, seed=1)
    b = build_pairs([ts], "tokens:5", max_pairs_per_problem=10, seed=1)
    assert len(a) == 30 and a.a.tolist() == b.a.tolist() and a.b.tolist() == b.b.tolist()


def test_split_has_no_problem_in_both_sides_and_is_stable() -> None:
    ds = build_pairs([synthetic_traces(60, 4), synthetic_traces(20, 4, name="other")], "tokens:8")
    train, test = ds.split(test_fraction=0.3, seed=3)
    tr, te = set(train.problems), set(test.problems)
    assert tr and te and not tr & te
    assert tr | te == set(ds.problems)
    assert set(train.pair_problems()) <= tr and set(test.pair_problems()) <= te
    assert len(train) + len(test) == len(ds)
    # a problem's side does not depend on the other problems present
    _, test_small = split_problems(ds.problems[:30], test_fraction=0.3, seed=3)
    assert set(test_small) == te & set(ds.problems[:30])
    # same id in two datasets = two problems
    assert "synth/p1" in ds.problems and "other/p1" in ds.problems


def test_pair_dataset_save_load_round_trip(tmp_path: Path) -> None:
    ds = build_pairs([synthetic_traces(4, 5)], "words:2")
    path = tmp_path / "pairs.jsonl.gz"
    ds.save(path)
    back = PairDataset.load(path)
    assert back.prefixes == ds.prefixes and back.truncation == "words:2" and back.sources == ("synth",)
    assert back.a.tolist() == ds.a.tolist() and back.labels.tolist() == ds.labels.tolist()


def test_pair_dataset_load_rejects_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"format": "deepprune/traces-v1"}) + "\n")
    with pytest.raises(FormatError, match="pairs-v1"):
        PairDataset.load(path)


def test_metrics_and_undefined_cases() -> None:
    assert auroc([0, 1, 1], [0.2, 0.9, 0.4]) == 1.0
    assert tnr_at_fnr([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert math.isnan(auroc([1, 1], [0.3, 0.4]))
        assert math.isnan(tnr_at_fnr([0, 0], [0.3, 0.4]))
    assert all(issubclass(x.category, UndefinedMetricWarning) for x in w) and len(w) == 2


def test_focal_loss_matches_hand_computed_values() -> None:
    torch = pytest.importorskip("torch")
    from deepprune.judges.training import focal_loss

    # p = sigmoid(logit); y=1: -a (1-p)^g log p ; y=0: -(1-a) p^g log(1-p)
    logits = torch.tensor([2.0, -1.0, 0.0])
    y = torch.tensor([1.0, 0.0, 1.0])
    a, g = 0.25, 2.0
    p = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0)), 0.5]
    hand = [-a * (1 - p[0]) ** g * math.log(p[0]),
            -(1 - a) * p[1] ** g * math.log(1 - p[1]),
            -a * 0.5 ** g * math.log(0.5)]
    # worked by hand: 0.25 * 0.119203^2 * 0.126928 = 0.00045090
    assert hand[0] == pytest.approx(0.00045090, rel=1e-4)
    got = focal_loss(logits, y, alpha=a, gamma=g, reduction="none")
    assert got.tolist() == pytest.approx(hand, rel=1e-6)
    assert focal_loss(logits, y, alpha=a, gamma=g).item() == pytest.approx(sum(hand) / 3, rel=1e-6)
    assert [focal_loss_value(pi, int(yi), alpha=a, gamma=g) for pi, yi in zip(p, y.tolist(), strict=True)] \
        == pytest.approx(hand, rel=1e-9)
    # gamma = 0: alpha_t times the binary cross-entropy
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    assert focal_loss(logits, y, alpha=0.5, gamma=0.0, reduction="none").tolist() == \
        pytest.approx((0.5 * bce).tolist(), rel=1e-6)


@pytest.mark.parametrize(("factor", "expected_minority"), [(1.0, 20), (2.0, 40), (2.5, 50), (3.0, 60)])
def test_oversampling_ratios(factor: float, expected_minority: int) -> None:
    y = np.array([1] * 80 + [0] * 20)
    idx = oversample_indices(y, factor, seed=0)
    assert (y[idx] == 1).sum() == 80
    assert (y[idx] == 0).sum() == expected_minority
    assert set(idx.tolist()) == set(range(100))  # every example at least once


def test_oversampling_picks_the_rarer_label() -> None:
    y = np.array([0] * 30 + [1] * 10)
    idx = oversample_indices(y, 2.0)
    assert (y[idx] == 1).sum() == 20 and (y[idx] == 0).sum() == 30


def test_training_args_are_validated() -> None:
    with pytest.raises(ConfigError, match="focal_alpha"):
        JudgeTrainingArgs(focal_alpha=1.5)
    with pytest.raises(ConfigError, match="oversample"):
        JudgeTrainingArgs(oversample=0.5)
    with pytest.raises(ConfigError, match="loss"):
        JudgeTrainingArgs(loss="hinge")


class HashEncoder:
    """A stand-in for the MiniLM encoder in fast tests: bag of hashed words, L2-normalised."""

    model_dir = None
    dim = 32

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, hash(w) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def test_trained_judge_learns_saves_and_loads(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from deepprune.judges.registry import make_judge
    from deepprune.judges.trained import TrainedJudge, load_judge, train_judge

    ds = build_pairs([synthetic_traces(50, 6, seed=1)], "tokens:6")
    train, test = ds.split(test_fraction=0.3, seed=0)
    args = JudgeTrainingArgs(epochs=15, hidden=16, seed=0, threads=1)
    judge = train_judge(train, args, encoder=HashEncoder())  # type: ignore[arg-type]
    scores = judge.predict_proba(test.pairs())
    assert scores.shape == (len(test),) and ((scores >= 0) & (scores <= 1)).all()
    assert auroc(test.labels, scores) > 0.9  # the route words give the answer away
    assert judge.info_["train_problems"] == train.problems
    out = judge.save(tmp_path / "judge")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["format"] == "deepprune/judge-v1" and cfg["version"] == 1 and cfg["truncation"] == "tokens:6"
    assert cfg["feature_set"] == judge.feature_set_ == judge.info_["feature_selection"]["chosen"]
    assert set(judge.info_["feature_selection"]["cv_auroc"]) == {"all", "similarity"}
    back = load_judge(out, encoder=HashEncoder())  # type: ignore[arg-type]
    assert back.feature_set_ == judge.feature_set_
    assert np.allclose(back.predict_proba(test.pairs()), scores, atol=1e-6)
    assert back.info_["train_problems"] == train.problems
    # unfitted use is a clear error
    with pytest.raises(Exception, match="not fitted"):
        TrainedJudge().predict_proba([Pair("a", "b")])
    # the registry finds the directory (path loader installed by deepprune.judges.learned)
    assert isinstance(make_judge(str(out)), TrainedJudge)


def test_load_judge_rejects_a_directory_without_config(tmp_path: Path) -> None:
    from deepprune.core.errors import DataError
    from deepprune.judges.trained import load_judge

    with pytest.raises(DataError, match=r"config\.json"):
        load_judge(tmp_path)


def test_sample_pairs_is_balanced_and_seeded() -> None:
    ds = build_pairs([synthetic_traces(30, 6)], "tokens:5")
    s = ds.sample_pairs(40, seed=2)
    assert len(s) == 40 and int(s.labels.sum()) == 20
    assert s.a.tolist() == ds.sample_pairs(40, seed=2).a.tolist()
    assert {p.problem for p in s.prefixes} == set(s.pair_problems())


def _feature_table(signal_in: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from deepprune.judges.trained import TEXT_FEATURES

    rng = np.random.default_rng(seed)
    groups = [f"p{i // 20}" for i in range(800)]
    y = (rng.random(800) < 0.6).astype(np.float32)
    X = rng.normal(size=(800, len(TEXT_FEATURES))).astype(np.float32)
    X[:, TEXT_FEATURES.index(signal_in)] += 1.5 * y
    return X, y, groups


def test_feature_set_selection_by_problem_cv() -> None:
    pytest.importorskip("sklearn")
    from deepprune.judges.trained import LEVEL_FEATURES, TEXT_FEATURES, feature_columns, select_feature_set

    cols = feature_columns("similarity", len(TEXT_FEATURES))
    assert len(cols) == len(TEXT_FEATURES) - len(LEVEL_FEATURES)
    assert not {TEXT_FEATURES[i] for i in cols} & set(LEVEL_FEATURES)
    full = feature_columns("similarity", 10 + len(TEXT_FEATURES))  # embedding columns come first
    assert full[:10].tolist() == list(range(10)) and len(full) == 10 + len(cols)
    # the answer shows in a prefix-level column: keep all features
    chosen, auc = select_feature_set(*_feature_table("log_chars_min"))
    assert chosen == "all" and auc["all"] > auc["similarity"] + 0.2
    # it shows in a pair-similarity column and the level columns are noise: drop them
    chosen, auc = select_feature_set(*_feature_table("lexical_jaccard"))
    assert chosen == "similarity" and auc["similarity"] >= auc["all"]


def test_auto_features_need_the_problems_of_the_pairs() -> None:
    pytest.importorskip("torch")
    from deepprune.judges.trained import TrainedJudge

    ds = build_pairs([synthetic_traces(12, 4)], "tokens:6")
    args = JudgeTrainingArgs(epochs=2, hidden=0, threads=1, encoder="none")
    with pytest.raises(ConfigError, match="groups"):
        TrainedJudge(args).fit(ds.pairs(), ds.labels)
    judge = TrainedJudge(args).fit(ds.pairs(), ds.labels, groups=ds.pair_problems())
    assert judge.feature_set_ in ("all", "similarity")
    fixed = TrainedJudge(JudgeTrainingArgs(epochs=2, hidden=0, threads=1, encoder="none", features="similarity"))
    assert fixed.fit(ds.pairs(), ds.labels).feature_set_ == "similarity"
    with pytest.raises(ConfigError, match="features"):
        JudgeTrainingArgs(features="some")
