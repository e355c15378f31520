"""The demo: every available strategy replayed on one dataset, cons@K as the reference."""

from __future__ import annotations

from pathlib import Path

from deepprune.core.errors import ConfigError
from deepprune.engine.bench import BenchRow, bench
from deepprune.formats.loaders import load_traces
from deepprune.strategies.registry import available, build

__all__ = ["DEMO_STRATEGIES", "demo_rows"]

DEMO_STRATEGIES = (
    "cons",
    "esc",
    "adaptive",
    "deepconf",
    "deepconf-high",
    "deepconf-low",
    "deepconf-high:window=64,warmup=4",
    "cisc",
    "self-certainty",
    "rpc",
    "first-finish",
    "short-m",
    "probe-exit",
    "slim-sc",
    "st-bon",
    "deepprune",
    "deepprune:recover=0",
    "deepprune:judge=noisy-oracle,auroc=0.9",
    "oracle:prefix=tokens:64",
)
"""What the demo runs, in this order, where the strategy exists and fits the data: the published
defaults, plus variants sized for short traces (the embedded traces are ~350 tokens, shorter
than DeepConf's 2048-token window and than 25 reasoning words): a 64-token window / prefix.
``noisy-oracle`` is a simulated judge of AUROC 0.9 (it reads the recorded answers), shown as the
payoff a good judge would give; ``deepprune:recover=0`` shows what recovery of pruned traces buys;
``oracle`` is the bound. ``probe-exit`` needs answer probes (``deepprune probe``), which the
shipped file does not carry: it is listed with that reason."""


def demo_rows(path: str | Path, *, orderings: int = 5, seed: int = 0) -> tuple[list[BenchRow], list[tuple[str, str]]]:
    """Bench rows for :data:`DEMO_STRATEGIES` on ``path``; strategies that are not installed or do
    not fit the data (e.g. DeepConf without confidences) are returned as (name, reason)."""
    ts = load_traces(path)
    names = available()
    specs: list[str] = []
    skipped: list[tuple[str, str]] = []
    for spec in DEMO_STRATEGIES:
        if spec.split(":")[0] not in names:
            skipped.append((spec, "not available in this version"))
            continue
        try:
            build(spec)
        except ConfigError as exc:
            skipped.append((spec, str(exc)))
            continue
        specs.append(spec)
    rows = bench([ts], specs, orderings=orderings, seed=seed)
    skipped += [(r.strategy, r.not_applicable) for r in rows if r.not_applicable]
    return [r for r in rows if not r.not_applicable], skipped
