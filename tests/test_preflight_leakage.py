"""The live-run preflight (sources layer) and the judges' train/test leakage guard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from deepprune.core.errors import ClientError, ConfigError
from deepprune.judges.base import Judge, Pair
from deepprune.judges.leakage import check_held_out, training_overlap
from deepprune.sources.openai_client import EndpointConfig
from deepprune.sources.preflight import preflight


def endpoint(**kw: object) -> EndpointConfig:
    return EndpointConfig(base_url="http://server.test/v1?api-version=2", model="m", api_key="sk-secret", **kw)  # type: ignore[arg-type]


def run(handler: object) -> None:
    asyncio.run(preflight(endpoint(), transport=httpx.MockTransport(handler)))  # type: ignore[arg-type]


def test_preflight_asks_models_with_the_key_and_the_query() -> None:
    seen: list[httpx.Request] = []

    def ok(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"data": []})

    run(ok)
    (req,) = seen
    assert req.url.path == "/v1/models" and req.url.query == b"api-version=2"
    assert req.headers["authorization"] == "Bearer sk-secret"


@pytest.mark.parametrize("status", [401, 403])
def test_preflight_refused_key(status: int) -> None:
    with pytest.raises(ClientError, match=f"refused the request \\(HTTP {status}\\).*--api-key"):
        run(lambda req: httpx.Response(status))


def test_preflight_connect_error_and_tolerated_failures() -> None:
    def down(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    with pytest.raises(ClientError, match=r"cannot connect.*is the server running"):
        run(down)

    def slow(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=req)

    run(slow)  # not fatal: the run reports real failures
    run(lambda req: httpx.Response(404))


class _Trained(Judge):
    name = "t"

    def __init__(self, problems: list[str]) -> None:
        self.info_ = {"train_problems": problems}

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        return np.full(len(pairs), 0.5)


def test_leakage_guard_refuses_on_test_and_warns_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    judge = _Trained(["d/a", "d/b"])
    assert training_overlap(judge, ["d/b", "d/c"]) == {"d/b"}
    check_held_out("j", judge, ["d/c"], strict=True)  # disjoint: fine
    with pytest.raises(ConfigError, match=r"trained on 1 of these 2 problems \(e.g. 'd/b'\)"):
        check_held_out("j", judge, ["d/b", "d/c"], strict=True)
    with caplog.at_level(logging.WARNING):
        check_held_out("j", judge, ["d/b", "d/c"], strict=False)
    assert "not a held-out figure" in caplog.text
    check_held_out("lexical", _Trained([]), ["d/b"], strict=True)
