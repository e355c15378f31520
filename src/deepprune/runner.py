"""The Runner (re-exported from :mod:`deepprune.engine.runner`, where it lives)."""

from __future__ import annotations

from deepprune.engine.runner import OnResult, RunOptions, run, run_many, run_problem, run_sync

__all__ = ["OnResult", "RunOptions", "run", "run_many", "run_problem", "run_sync"]
