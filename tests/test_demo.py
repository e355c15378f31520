"""`deepprune demo` and `deepprune datasets` on the shipped dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepprune.cli import main
from deepprune.core.errors import DataError
from deepprune.formats.datasets import DEFAULT_DATASET, resolve, shipped


def _need_default() -> None:
    if DEFAULT_DATASET not in {d.name for d in shipped()}:
        pytest.skip(f"the embedded dataset {DEFAULT_DATASET} is not in this checkout yet")


def test_demo_json_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need_default()
    png = tmp_path / "demo.png"
    assert main(["demo", "--orderings", "2", "--json", "-", "--plot", str(png)]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["strategy"] for r in rows]
    assert names[0] == "cons" and len(rows) >= 2
    cons = rows[0]
    assert all(r["tokens"] <= cons["tokens"] + 1e-9 for r in rows)
    assert png.stat().st_size > 1000


def test_datasets_lists_default(capsys: pytest.CaptureFixture[str]) -> None:
    _need_default()
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert f"{DEFAULT_DATASET} (default)" in out and "traces" in out


def test_resolve_names_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text("{}")
    assert resolve(str(f)) == f
    with pytest.raises(DataError, match="no file and no shipped dataset named 'nosuchname'"):
        resolve("nosuchname")
    with pytest.raises(DataError, match="file not found"):
        resolve(str(tmp_path / "missing.jsonl"))
