"""The live client's hot path gives exactly what the validating parser gives.

``_parse_typed`` (the typed decode of :mod:`deepprune.core.wire`, on an event's bytes) against
:func:`deepprune.sources.openai_client.parse_chunk` (results and errors), on the chunk shapes of the
load generator and on hostile variants; and a token containing U+2028
(a line separator for ``str.splitlines``, not for SSE) reaches the client whole.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest

from deepprune.servers.loadgen import Shape, encode_stream
from deepprune.sources.openai_client import (
    EndpointConfig,
    StreamClient,
    StreamEnd,
    TokenChunk,
    _parse_typed,
    parse_chunk,
)
from fake_openai import FakeServer


def _events(shape: Shape, n: int = 6, tpc: int = 1) -> list[dict[str, Any]]:
    body, _ = encode_stream(shape, n, tokens_per_chunk=tpc)
    out = []
    for line in body.split(b"\r\n"):
        if line.startswith(b"data: ") and line.strip() != b"data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


def _outcome(fn: Any, obj: Any, chat: bool, want: bool) -> Any:
    try:
        return ("ok", repr(fn(obj, chat=chat, want_logprobs=want)))  # repr: NaN equals itself
    except Exception as exc:  # noqa: BLE001 - any error must be the same error
        return ("error", type(exc).__name__, str(exc))


def _fast(obj: Any, chat: bool, want_logprobs: bool) -> Any:
    """The typed path on the bytes a server would send for ``obj``."""
    return _parse_typed(json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"), chat, want_logprobs)


def _fast_then_full(obj: Any, *, chat: bool, want_logprobs: bool) -> Any:
    got = _fast(obj, chat, want_logprobs)
    return got if got is not None else parse_chunk(obj, chat=chat, want_logprobs=want_logprobs)


def _mutations(obj: dict[str, Any]) -> list[Any]:
    """Hostile variants of one chunk."""
    out: list[Any] = [obj]
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((node, k))
                walk(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((node, i))
                walk(v)

    walk(obj)
    for idx in range(len(paths)):
        for value in (None, True, 1, 2.5, "s", [], {}, [1], {"logprob": "x"}, float("nan"), 2**70):
            o = copy.deepcopy(obj)
            opaths: list[tuple[Any, Any]] = []
            del paths[:]
            walk(o)
            opaths = list(paths)
            node, key = opaths[idx]
            node[key] = value
            out.append(o)
    walk(obj)
    return out


@pytest.mark.parametrize("shape", [Shape(api, fl, k) for api in ("chat", "completions")  # type: ignore[arg-type]
                                   for fl in ("vllm", "llamacpp") for k in (0, 3)])
def test_fast_parser_equals_parse_chunk_on_real_shapes_and_hostile_variants(shape: Shape) -> None:
    chat = shape.api == "chat"
    extra = [{"error": {"message": "boom"}}, {"choices": {}}, {"choices": [1]}, {"choices": None},
             {"choices": [{"delta": {"reasoning_content": "think ", "content": "x"}}]},
             {"choices": [{"delta": {"reasoning": 5, "content": "x"}}]},
             {"choices": [{"delta": {"content": 5}}]},
             {"choices": [{"delta": {"content": "x"}, "logprobs": {"content": []}}]},
             {"choices": [{"text": "x", "logprobs": {"content": []}}]},
             {"usage": {"completion_tokens": True}, "choices": []}]
    # every shape real servers send takes the typed path (classic completions logprobs included)
    assert all(_fast(ev, chat, shape.top_logprobs > 0) is not None for ev in _events(shape))
    for ev in _events(shape, tpc=2) + _events(shape) + extra:
        for obj in _mutations(ev) if len(json.dumps(ev)) < 2000 else [ev]:
            for want in (False, True):
                assert _outcome(_fast_then_full, obj, chat, want) == _outcome(parse_chunk, obj, chat, want), obj


def test_a_token_with_a_unicode_line_separator_arrives_whole() -> None:
    tok = "a\u2028b\x85c"
    chunk = {"choices": [{"index": 0, "delta": {"content": tok},
                          "logprobs": {"content": [{"token": tok, "logprob": -0.5,
                                                    "top_logprobs": [{"token": tok, "logprob": -0.5}]}]},
                          "finish_reason": "stop"}]}

    def script(body: dict[str, Any]) -> list[str | float | Exception]:
        return [f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n", "data: [DONE]\n\n"]

    async def go() -> list[TokenChunk | StreamEnd]:
        cfg = EndpointConfig(base_url="http://fake/v1", model="m", top_logprobs=1, retries=0)
        async with StreamClient(cfg, transport=FakeServer(script=script).transport()) as c:
            return [item async for item in c.stream("q", seed=1)]

    items = asyncio.run(go())
    assert items[0] == TokenChunk(tok, (tok,), (-0.5,), (0.5,))
    assert isinstance(items[-1], StreamEnd)
