"""``import deepprune`` stays light, and the public API is what people construct (issue 11, item 7)."""

from __future__ import annotations

import json
import subprocess
import sys

import deepprune

HEAVY = ("matplotlib", "torch", "sentence_transformers", "transformers", "scipy", "httpx", "tqdm", "jinja2",
         "numpy")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import sys, json; {code}; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_deepprune_imports_no_heavy_module() -> None:
    loaded = _modules_after("import deepprune")
    assert not {m for m in loaded for h in HEAVY if m == h or m.startswith(h + ".")}
    assert "deepprune.judges" not in loaded and "deepprune.sources.live" not in loaded


def test_lazy_names_load_on_use() -> None:
    loaded = _modules_after("import deepprune; deepprune.LexicalJudge; deepprune.ConsensusStrategy")
    assert "deepprune.judges.lexical" in loaded and "matplotlib" not in loaded and "torch" not in loaded


def test_public_api_exports_strategies_and_judges() -> None:
    for name in ("ConsensusStrategy", "OracleStrategy", "EarlyStoppingSC", "AdaptiveConsistency", "DeepConfOffline",
                 "DeepConfOnline", "DeepPruneStrategy", "DeepPruneConfig", "ShortMStrategy", "FirstFinishStrategy",
                 "LexicalJudge", "ConstantJudge", "NoisyOracleJudge", "MiniLMJudge", "TrainedJudge", "ZeroShotJudge",
                 "DeepPruneJudge4B", "Judge", "make_judge", "LiveSource", "EndpointConfig"):
        assert name in deepprune.__all__, name
        assert getattr(deepprune, name).__name__ == name
    assert issubclass(deepprune.ShortMStrategy, deepprune.Strategy)
    # the llama.cpp build-and-launch helper is not public API, but older code still finds it
    assert "LocalServer" not in deepprune.__all__ and "LocalServer" not in dir(deepprune)
    assert deepprune.LocalServer.__module__ == "deepprune.servers.local"
    strat = deepprune.DeepPruneStrategy(deepprune.LexicalJudge())
    assert strat.judge.name == "lexical"
