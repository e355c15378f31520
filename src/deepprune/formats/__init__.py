"""Reading and writing trace datasets and problem files."""

from __future__ import annotations

from deepprune.formats.benchmarks import load_problems
from deepprune.formats.loaders import detect_format, load_traces, parse_mapping
from deepprune.formats.tracefile import FORMAT, ReadReport, TraceWriter, read_traces, write_traces

__all__ = [
    "FORMAT",
    "ReadReport",
    "TraceWriter",
    "detect_format",
    "load_problems",
    "load_traces",
    "parse_mapping",
    "read_traces",
    "write_traces",
]
