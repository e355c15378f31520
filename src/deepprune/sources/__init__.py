"""Trace sources: replay (recorded traces) and live (OpenAI-compatible servers)."""

from __future__ import annotations

from deepprune.sources.base import ProblemSession, TraceSource
from deepprune.sources.live import LiveSession, LiveSource
from deepprune.sources.pool import EndpointPool, PoolConfig
from deepprune.sources.replay import ReplaySession, ReplaySource

__all__ = ["EndpointPool", "LiveSession", "LiveSource", "PoolConfig", "ProblemSession", "ReplaySession", "ReplaySource",
           "TraceSource"]
