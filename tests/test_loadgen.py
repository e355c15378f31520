"""The load generator, and many concurrent streams through the live client against it."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from deepprune.core.errors import ConfigError
from deepprune.core.types import FinishReason, Problem
from deepprune.servers.loadgen import GeneratorConfig, LoadGenerator, Shape, encode_stream
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig, StreamClient, StreamEnd, TokenChunk
from deepprune.strategies.base import TraceFinished


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("flavor", ["vllm", "llamacpp"])
@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize("top", [0, 20])
def test_every_shape_parses_with_every_token_and_its_confidence(flavor: str, chat: bool, top: int) -> None:
    async def go() -> tuple[int, int, StreamEnd | None]:
        async with LoadGenerator(GeneratorConfig(flavor=flavor, tokens=50)) as gen:
            cfg = EndpointConfig(base_url=gen.base_url, model="m", chat=chat, top_logprobs=top, max_tokens=40)
            n = confs = 0
            end = None
            async with StreamClient(cfg) as c:
                async for item in c.stream("q", seed=1):
                    if isinstance(item, TokenChunk):
                        n += item.n
                        confs += len(item.confs or ())
                    else:
                        end = item
            return n, confs, end

    n, confs, end = asyncio.run(go())
    assert n == 40 and confs == (40 if top else 0)
    assert end == StreamEnd(FinishReason.LENGTH, 40)


def test_encoded_stream_offsets_and_config_checks() -> None:
    body, ends = encode_stream(Shape("chat", "vllm", 20), 10, tokens_per_chunk=3)
    assert len(ends) == 10 and ends == sorted(ends) and ends[-1] < len(body)
    assert body.endswith(b"0\r\n\r\n") and body.count(b"data: ") == 1 + 4 + 1 + 1  # role, 4 chunks, usage, DONE
    with pytest.raises(ConfigError):
        GeneratorConfig(flavor="tgi")
    with pytest.raises(ConfigError):
        GeneratorConfig(rate=-1)


def test_200_concurrent_live_streams_all_complete_accounted_without_fd_leak() -> None:
    n_streams, tokens = 200, 60

    async def go() -> tuple[list[int], dict[str, int]]:
        cfg0 = GeneratorConfig(tokens=tokens, rate=150.0)
        async with LoadGenerator(cfg0) as gen:
            cfg = EndpointConfig(base_url=gen.base_url, model="m", top_logprobs=20, max_tokens=tokens,
                                 max_concurrency=n_streams)
            async with LiveSource(cfg) as src, src.session(Problem("p", "q", "42")) as sess:
                for tid in range(n_streams):
                    await sess.launch(tid)
                counts = []
                while (ev := await sess.next_event()) is not None:
                    assert isinstance(ev, TraceFinished), ev
                    assert ev.confs is not None and len(ev.confs) == ev.n_tokens
                    counts.append(ev.n_tokens)
            async with httpx.AsyncClient() as h:
                stats = (await h.get(gen.base_url.removesuffix("/v1") + "/stats")).json()
            return counts, stats

    before = _open_fds()
    counts, stats = asyncio.run(go())
    assert counts == [tokens] * n_streams
    assert stats["streams_completed"] == n_streams and stats["streams_cancelled"] == 0
    assert stats["tokens_sent"] == n_streams * tokens
    assert stats["max_open_streams"] == n_streams  # they really were open at once
    assert _open_fds() <= before


def test_stopped_streams_are_cancelled_at_the_generator() -> None:
    async def go() -> dict[str, int]:
        async with LoadGenerator(GeneratorConfig(tokens=400, rate=200.0)) as gen:
            cfg = EndpointConfig(base_url=gen.base_url, model="m", top_logprobs=0, max_tokens=400,
                                 max_concurrency=8)
            async with LiveSource(cfg) as src, src.session(Problem("p", "q", "42")) as sess:
                sess.set_watch(lambda _tid: 10)
                for tid in range(8):
                    await sess.launch(tid)
                await sess.next_event()
                for tid in range(4):
                    await sess.stop(tid)
                while await sess.next_event() is not None:
                    pass
            for _ in range(100):
                if gen.stats.open_streams == 0:
                    break
                await asyncio.sleep(0.02)
            return gen.stats.as_dict()

    stats = asyncio.run(go())
    assert stats["streams_completed"] == 4 and stats["streams_cancelled"] == 4
    assert stats["tokens_sent"] < 8 * 400
