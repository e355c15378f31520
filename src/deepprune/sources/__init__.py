"""Trace sources: replay (recorded traces) and live (OpenAI-compatible servers).

The live half (``LiveSession``, ``LiveSource``, ``EndpointPool``, ``PoolConfig``) is imported on
first use: it brings httpx, which replay does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from deepprune.sources.base import ProblemSession, TraceSource
from deepprune.sources.replay import ReplaySession, ReplaySource

if TYPE_CHECKING:
    from deepprune.sources.live import LiveSession, LiveSource
    from deepprune.sources.pool import EndpointPool, PoolConfig

_LAZY = {"LiveSession": "deepprune.sources.live", "LiveSource": "deepprune.sources.live",
         "EndpointPool": "deepprune.sources.pool", "PoolConfig": "deepprune.sources.pool"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EndpointPool", "LiveSession", "LiveSource", "PoolConfig", "ProblemSession", "ReplaySession", "ReplaySource",
           "TraceSource"]
