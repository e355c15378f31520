"""The leaderboard page in a real headless browser (Debian's chromium + chromium-driver, driven by
selenium). Skips when no browser is installed; CI installs one (see docs/leaderboard.md)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deepprune.cli import main

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("DEEPPRUNE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("DEEPPRUNE_CHROMEDRIVER") or shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]


def _rows() -> list[dict[str, Any]]:
    def r(strategy: str, dataset: str, acc: float, tokens: float, model: str | None = "m1",
          latency: float | None = None) -> dict[str, Any]:
        return {"dataset": dataset, "strategy": strategy, "accuracy": acc, "tokens": tokens,
                "traces_per_problem": 8, "problems": 10, "orderings": 2, "tokens_std": tokens / 50,
                "accuracy_std": 0.01, "model": model, "command": f"deepprune bench {dataset} -s {strategy}",
                "latency": latency}

    return [
        r("cons", "ds1", 0.90, 1e6, latency=1.0), r("esc", "ds1", 0.85, 4e5, latency=0.6),
        r("oracle", "ds1", 0.95, 1e5, latency=0.3), r("deepprune:tau=0.5", "ds1", 0.80, 3e5),
        r("cons", "ds2", 0.50, 5e6, None), r("deepprune:tau=0.5", "ds2", 0.60, 9e5, None),
    ]


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="deepprune-chromium-")
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("leaderboard")
    src = d / "results.json"
    src.write_text(json.dumps(_rows()), encoding="utf-8")
    out = d / "leaderboard.html"
    assert main(["leaderboard", str(src), "--html", str(out), "--reference"]) == 0
    return out


def _order(driver: Any, table: str) -> list[str]:
    return list(driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr th[scope=row]'))"
        ".map(function (th) { return th.getAttribute('data-v'); });", f"table#{table}"))


def _button(driver: Any, table: str, col: int) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"table#{table} thead button[data-col='{col}']")


def _sort_state(driver: Any, table: str, col: int) -> str | None:
    th = _button(driver, table, col).find_element("xpath", "..")
    return th.get_attribute("aria-sort")


def test_page_loads_sorts_and_is_screenshot(driver: Any, page: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get(page.as_uri())
    assert driver.title == "deepprune leaderboard"
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == [], errors
    # self-contained: the page fetched nothing
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0

    start = ["cons", "esc", "oracle", "deepprune:tau=0.5"]
    reported = _order(driver, "reported")
    assert _order(driver, "measured") == start

    # column 4 = ds2 tokens (each column group: tokens, accuracy, latency): fewest first; rows
    # without a ds2 result stay last, in input order
    _button(driver, "measured", 4).click()
    assert _order(driver, "measured") == ["deepprune:tau=0.5", "cons", "esc", "oracle"]
    assert _sort_state(driver, "measured", 4) == "ascending"
    _button(driver, "measured", 4).click()
    assert _order(driver, "measured") == ["cons", "deepprune:tau=0.5", "esc", "oracle"]
    assert _sort_state(driver, "measured", 4) == "descending"

    # column 2 = ds1 accuracy: highest first, via the keyboard (Enter, then Space flips it)
    _button(driver, "measured", 2).send_keys(Keys.ENTER)
    assert _order(driver, "measured") == ["oracle", "cons", "esc", "deepprune:tau=0.5"]
    assert _sort_state(driver, "measured", 2) == "descending"
    assert _sort_state(driver, "measured", 4) is None
    _button(driver, "measured", 2).send_keys(Keys.SPACE)
    assert _order(driver, "measured") == ["deepprune:tau=0.5", "esc", "cons", "oracle"]
    assert _sort_state(driver, "measured", 2) == "ascending"
    status = driver.find_element("id", "measured-status").text
    assert "ascending" in status and "ds1 accuracy" in status

    # column 3 = ds1 latency vs cons@K: lowest first; the row without one ("—") last
    _button(driver, "measured", 3).click()
    assert _order(driver, "measured") == ["oracle", "esc", "cons", "deepprune:tau=0.5"]
    assert _sort_state(driver, "measured", 3) == "ascending"

    # system name, alphabetical
    _button(driver, "measured", 0).click()
    assert _order(driver, "measured") == sorted(start)

    # the reported table sorts on its own and never receives measured rows
    assert _order(driver, "reported") == reported
    _button(driver, "reported", 1).click()  # DeepSeek-8B AIME24 tokens
    assert _order(driver, "reported")[0] == "DeepPrune"
    assert set(_order(driver, "reported")) == set(reported)
    assert _order(driver, "measured") == sorted(start)

    # a screenshot of the whole page, as a test artifact
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 100, 6000))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard-test.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    assert [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"] == []


def test_page_fits_a_phone(driver: Any, page: Path) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        driver.get(page.as_uri())
        sizes = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " document.querySelector('table#measured').closest('.scroll').scrollWidth,"
            " document.querySelector('table#measured').closest('.scroll').clientWidth];")
        page_w, view_w, table_w, box_w = sizes
        assert page_w <= view_w  # no sideways scrolling of the page itself
        assert box_w <= view_w and table_w >= box_w  # the wide table scrolls inside its own box
        ARTIFACTS.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "leaderboard-test-phone.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _values(driver: Any, table: str, col: int) -> list[float | None]:
    vals = driver.execute_script(
        "var col = arguments[1]; return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".map(function (tr) { return tr.cells[col].getAttribute('data-v'); });", f"table#{table}", col)
    return [float(v) if v not in (None, "") else None for v in vals]


def test_real_bench_results_sort_in_the_browser(driver: Any, math100_path: Path, tmp_path: Path) -> None:
    """The Done-when check: bench results of the shared MATH traces (and of the embedded dataset,
    when the package ships one), turned into a page that sorts correctly."""
    from deepprune.core.types import TraceSet
    from deepprune.engine.bench import bench
    from deepprune.formats.datasets import resolve, shipped
    from deepprune.formats.loaders import load_traces
    from deepprune.strategies.registry import available

    sets = [load_traces(math100_path)]
    if shipped():
        sets.append(load_traces(resolve("default")))
    small = [TraceSet(ts.problems[:10], {p.id: ts.traces_of(p.id) for p in ts.problems[:10]}, ts.header, ts.name)
             for ts in sets]
    strategies = ["cons", "oracle:prefix=tokens:64"] + [s for s in ("esc",) if s in available()]
    rows = bench(small, strategies, orderings=2)
    src = tmp_path / "bench.json"
    src.write_text(json.dumps([dict(r.to_dict(), command="deepprune bench ...") for r in rows]), encoding="utf-8")
    out = tmp_path / "real.html"
    assert main(["leaderboard", str(src), "--html", str(out)]) == 0
    driver.get(out.as_uri())
    assert [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"] == []
    for j in range(len(small)):
        tok, acc, lat = 1 + 3 * j, 2 + 3 * j, 3 + 3 * j
        _button(driver, "measured", tok).click()
        ts = [v for v in _values(driver, "measured", tok) if v is not None]
        assert ts == sorted(ts) and len(ts) == len(strategies)
        _button(driver, "measured", acc).click()
        accs = [v for v in _values(driver, "measured", acc) if v is not None]
        assert accs == sorted(accs, reverse=True)
        _button(driver, "measured", lat).click()
        lats = [v for v in _values(driver, "measured", lat) if v is not None]
        assert lats == sorted(lats) and len(lats) == len(strategies)  # replayed: every row has one
