"""Token counting: the documented approximation and the real tokenizer of a llama.cpp server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from deepprune.core.errors import ClientError
from deepprune.core.tokens import APPROX_RULE, ServerTokenizer, approx_tokens
from deepprune.formats import load_traces


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("12345", 5), ("x = 3.5", 5), ("internationalization", 2), (r"\frac{1}{2}", 8)],
)
def test_approx_rule(text: str, expected: int) -> None:
    assert approx_tokens(text) == expected


def _mock_tokenizer() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/tokenize"
        content = json.loads(request.content)["content"]
        return httpx.Response(200, json={"tokens": list(range(len(content.split())))})

    return httpx.MockTransport(handler)


def test_server_tokenizer_counts_and_header(math100_path: Path) -> None:
    counter = ServerTokenizer("http://tok.invalid/v1", transport=_mock_tokenizer())
    assert counter.count(["a b c", "d"]) == [3, 1]
    ts = load_traces(math100_path, counter=counter)
    assert ts.header["token_count"] == "tokenizer:http://tok.invalid/tokenize"
    t = ts.traces_of(ts.problems[0].id)[0]
    assert t.n_tokens == len(t.text.split())


def test_server_tokenizer_error_names_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="boom")

    counter = ServerTokenizer("http://tok.invalid", transport=httpx.MockTransport(handler))
    with pytest.raises(ClientError, match=r"http://tok\.invalid/tokenize"):
        counter.count(["x"])


@pytest.mark.slow
def test_real_qwen_tokenizer_agrees_with_approximation() -> None:
    """Against the real llama.cpp server with the shipped Qwen2.5 GGUF (the calibration of
    approx:regex-v1 in deepprune.core.tokens)."""
    localserver = pytest.importorskip("deepprune.servers.local")
    if localserver.find_server() is None:
        pytest.skip("llama-server is not built (run `deepprune local-server` once to build it)")
    texts = [
        r"To find the value, we compute $\frac{3}{8} \cdot 16 = 6$. Therefore the answer is $\boxed{6}$.",
        "First, Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 remain.",
    ]
    with localserver.LocalServer(localserver.LocalServerConfig(parallel=1, threads=1)) as server:
        real = ServerTokenizer(server.url).count(texts)
    assert real == [len_ for len_ in real if len_ > 10]
    for r, t in zip(real, texts, strict=True):
        assert 0.75 < r / approx_tokens(t) < 1.3
    assert APPROX_RULE == "approx:regex-v1"
