"""Deterministic per-trace sampling seeds, shared by ``collect``, live runs and the replay server."""

from __future__ import annotations

import zlib

__all__ = ["trace_seed"]


def trace_seed(seed: int, problem_id: str, index: int) -> int:
    """The sampling seed of trace ``index`` of ``problem_id`` (stable across runs and machines).

    >>> trace_seed(0, "gsm8k-1", 3) == trace_seed(0, "gsm8k-1", 3)
    True
    """
    return zlib.crc32(f"{seed}|{problem_id}|{index}".encode()) & 0x7FFFFFFF
