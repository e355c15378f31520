from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MATH100 = SHARED / "traces" / "qwen25_math_instruct_math100_x8.jsonl"
BENCHMARKS = SHARED / "benchmarks"


@pytest.fixture(scope="session")
def math100_path() -> Path:
    if not MATH100.exists():
        pytest.skip(f"shared data not found at {MATH100} (the ../shared checkout is absent)")
    return MATH100


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    if not BENCHMARKS.is_dir():
        pytest.skip(f"shared benchmarks not found at {BENCHMARKS}")
    return BENCHMARKS
