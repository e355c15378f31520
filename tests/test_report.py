"""The report package: charts leave the process's matplotlib backend alone; tables; live lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from deepprune.engine.bench import bench
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.judges.metrics import JudgeReport
from deepprune.report import judge_table, plot_pareto, plot_roc

ROOT = Path(__file__).resolve().parents[1]


def test_plots_do_not_switch_the_backend_or_touch_pyplot(tmp_path: Path) -> None:
    """A fresh interpreter with a non-Agg backend: drawing every chart keeps it, and pyplot is
    never imported (no global figure state)."""
    code = f"""
import sys
import matplotlib
matplotlib.use("svg")
before = matplotlib.get_backend()
from deepprune.engine.bench import bench
from deepprune.report import plot_auroc_sweep, plot_pareto, plot_roc
from deepprune.formats.synthetic import synthetic_traceset
ts = synthetic_traceset(n_problems=4, k=6, seed=0)
rows = bench([ts], ["cons", "oracle:prefix=tokens:8",
                    "deepprune:judge=noisy-oracle,auroc=0.9,prefix=tokens:8"], orderings=2)
plot_pareto(rows, {str(tmp_path / "p.png")!r})
plot_roc([("a", [0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3])], {str(tmp_path / "r.png")!r})
plot_auroc_sweep(rows, {str(tmp_path / "s.png")!r})
assert matplotlib.get_backend() == before, (before, matplotlib.get_backend())
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    for name in ("p.png", "r.png", "s.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_plots_in_this_process_keep_the_backend(tmp_path: Path) -> None:
    import matplotlib

    before = matplotlib.get_backend()
    rows = bench([synthetic_traceset(n_problems=3, k=4, seed=1)], ["cons"], orderings=1)
    plot_pareto(rows, tmp_path / "p.svg")
    plot_roc([("j", np.array([0, 1]), np.array([0.2, 0.7]))], tmp_path / "r.pdf")
    assert matplotlib.get_backend() == before
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "r.pdf").read_bytes()[:4] == b"%PDF"


def test_judge_table_aligns_columns() -> None:
    r = JudgeReport(judge="lexical", dataset="d", truncation="tokens:8", auroc=0.75, within_auroc=0.625,
                    tnr_at_fnr=0.5, fnr=0.2, pairs=10, positives=4, negatives=6, problems=2, prefixes=5,
                    seconds=0.1, cpu_seconds=0.1, pairs_per_s=100.0, traces_per_s=50.0)
    head, row = judge_table([r]).splitlines()
    assert head.split() == ["judge", "AUROC", "auroc-within", "TNR@FNR=.2", "pairs", "pos", "neg", "pairs/s",
                            "traces/s"]
    assert row.split() == ["lexical", "0.750", "0.625", "0.500", "10", "4", "6", "100", "50"]
    assert head.index("AUROC") == row.index("0.750")
    assert head.index("auroc-within") == row.index("0.625")
