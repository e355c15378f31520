"""``deepprune datasets``: list the shipped datasets with their counts."""

from __future__ import annotations

import argparse
from typing import Any

from deepprune.formats.datasets import DEFAULT_DATASET, shipped
from deepprune.formats.tracefile import read_traces


def add_parser(sub: Any) -> None:
    p = sub.add_parser("datasets", help="list the trace datasets shipped in the package")
    p.set_defaults(func=cmd_datasets)


def cmd_datasets(args: argparse.Namespace) -> int:
    items = shipped()
    if not items:
        print("no shipped datasets in this installation")
        return 0
    for ds in items:
        ts = read_traces(ds.path)
        counts = [len(ts.traces_of(p.id)) for p in ts.problems]
        tokens = sum(t.n_tokens for v in ts.traces.values() for t in v)
        alias = " (default)" if ds.name == DEFAULT_DATASET else ""
        print(f"{ds.name}{alias}: {len(ts.problems)} problems, {ts.n_traces} traces "
              f"({min(counts, default=0)}-{max(counts, default=0)} per problem), {tokens:,} tokens, "
              f"model {ts.header.get('model')}, confidences: {'yes' if ts.has_confidence else 'no'}")
        if ds.datasheet:
            print(f"  datasheet: {ds.datasheet}")
    return 0
