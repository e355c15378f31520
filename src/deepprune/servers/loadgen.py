"""A load generator for the live client: pre-encoded OpenAI-style SSE streams, as fast as the socket allows.

The replay server (:mod:`deepprune.servers.replay`) serves *recorded* traces and encodes every chunk
as it goes, which makes it the bottleneck long before the client is. This generator measures the
client instead: every stream it serves was encoded once, in advance, with the chunk shapes real
servers send, and is written to the socket in large slices.

Shapes (:class:`Shape`): the endpoint (``/v1/chat/completions`` or ``/v1/completions``, from the
request path), the server's spelling (``vllm`` or ``llamacpp``, a server option) and the number
of top logprobs per token (from the request: chat ``logprobs: true, top_logprobs: K``,
completions ``logprobs: K``; ``0`` = none):

* vLLM chat: ``chat.completion.chunk`` with ``delta.content`` and ``logprobs.content[*]``
  (``token``, ``logprob``, ``bytes``, ``top_logprobs``), a first chunk with ``role``, ``stop_reason``
  next to ``finish_reason``, and with ``stream_options.include_usage`` a last chunk with empty
  ``choices`` and ``usage``;
* vLLM completions: ``text_completion`` chunks with classic ``logprobs`` (``tokens``,
  ``token_logprobs``, ``top_logprobs`` as ``{token: logprob}``, ``text_offset``);
* llama.cpp (chat and completions): ``logprobs.content[*]`` entries with ``id``, the usage in the
  chunk with the finish reason, ``system_fingerprint``.

Every stream has ``min(max_tokens, tokens)`` tokens, one per chunk (``tokens_per_chunk`` batches
several, as vLLM's ``--stream-interval`` does), HTTP/1.1 chunked encoding with one HTTP chunk per
SSE event (as uvicorn and cpp-httplib send them), keep-alive, and ends with ``finish_reason``
``length`` and ``data: [DONE]``. ``rate`` > 0 paces each stream at that many tokens per second
(for many concurrent streams); 0 writes as fast as the client reads. A client that closes its
stream stops it (counted as cancelled). ``GET /stats`` returns the counters as JSON.

>>> body, ends = encode_stream(Shape("chat", "vllm", 0), 3)
>>> body.count(b"data: "), len(ends)
(6, 3)
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from deepprune.core.errors import ConfigError

__all__ = ["FLAVORS", "GeneratorConfig", "LoadGenerator", "Shape", "encode_stream", "token_vocabulary"]

FLAVORS = ("vllm", "llamacpp")

_CREATED = 1_750_000_000


@dataclass(frozen=True, slots=True)
class Shape:
    """What a stream looks like: endpoint, server spelling, top logprobs per token."""

    api: Literal["chat", "completions"]
    flavor: str = "vllm"
    top_logprobs: int = 0


def token_vocabulary() -> list[str]:
    """Token strings the streams cycle through: words with leading spaces, digits, LaTeX, newlines,
    quotes and backslashes (JSON escapes) and non-ASCII text, as a reasoning model writes them."""
    words = ("the", " the", " of", " and", " to", " is", " we", " so", " this", " number", " total",
             " Let", " first", " then", " each", " answer", " step", " find", " which", " that",
             " equation", " value", " sum", " product", " therefore", " clips", " sold", " half")
    pieces = (" 1", "2", "3", "48", " 24", " 72", "0", " =", " +", " -", " *", " /", "(", ")",
              "\\", "frac", "{", "}", "\\boxed{", "\n", "\n\n", ".", ",", ":", " \"", "\"", "**",
              " é", "…", " π", "’s", " x", "^2", " $", "$", "\t")
    return list(words + pieces)


def _chunked(payload: bytes) -> bytes:
    """One SSE event as one HTTP/1.1 chunk."""
    ev = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(ev), ev)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _alternatives(vocab: list[str], i: int, k: int) -> list[tuple[str, float]]:
    """k (token, logprob) pairs for position i: the sampled token first, descending logprobs."""
    base = -0.05 - 0.9 * ((i * 7919) % 97) / 97.0
    out = [(vocab[i % len(vocab)], round(base, 6))]
    for j in range(1, k):
        out.append((vocab[(i * 31 + j * 17) % len(vocab)], round(base - 1.3 * j - 0.01 * (i % 13), 6)))
    return out


def _lp_entry(tok: str, lp: float, alts: list[tuple[str, float]], flavor: str, tid: int) -> dict[str, Any]:
    if flavor == "llamacpp":
        return {"id": tid, "token": tok, "bytes": list(tok.encode()), "logprob": lp,
                "top_logprobs": [{"id": (tid + j) % 151_000, "token": t, "bytes": list(t.encode()), "logprob": v}
                                 for j, (t, v) in enumerate(alts)]}
    return {"token": tok, "logprob": lp, "bytes": list(tok.encode()),
            "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in alts]}


def encode_stream(shape: Shape, n_tokens: int, *, model: str = "loadgen", include_usage: bool = True,
                  tokens_per_chunk: int = 1, prompt_tokens: int = 32) -> tuple[bytes, list[int]]:
    """One whole response body (chunked encoding, the terminating zero chunk included) and, for
    each token, the offset just past the HTTP chunk that carries it."""
    if shape.flavor not in FLAVORS:
        raise ConfigError("flavor", shape.flavor, " or ".join(FLAVORS))
    vocab = token_vocabulary()
    chat = shape.api == "chat"
    llama = shape.flavor == "llamacpp"
    k = shape.top_logprobs
    rid = ("chatcmpl-" if chat else "cmpl-") + "0123456789abcdef0123456789abcdef"
    obj_name = "chat.completion.chunk" if chat else "text_completion"
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n_tokens,
             "total_tokens": prompt_tokens + n_tokens}

    def envelope(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        if llama:
            d: dict[str, Any] = {"choices": choices, "created": _CREATED, "id": rid, "model": model,
                                 "system_fingerprint": "b6000-0000000", "object": obj_name}
        else:
            d = {"id": rid, "object": obj_name, "created": _CREATED, "model": model, "choices": choices}
            if not chat:
                d["usage"] = None
        if extra:
            d.update(extra)
        return d

    parts: list[bytes] = []
    ends: list[int] = []
    size = 0

    def emit(payload: bytes) -> None:
        nonlocal size
        c = _chunked(payload)
        parts.append(c)
        size += len(c)

    if chat:  # the role chunk
        first: dict[str, Any] = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        if not llama:
            first["logprobs"] = None
        emit(_dumps(envelope([first])))
    offset = 0
    i = 0
    while i < n_tokens:
        toks = [(vocab[(i + j) % len(vocab)], i + j) for j in range(min(tokens_per_chunk, n_tokens - i))]
        last = i + len(toks) >= n_tokens
        text = "".join(t for t, _ in toks)
        lp_obj: Any = None
        if k > 0:
            alts = [_alternatives(vocab, pos, k) for _, pos in toks]
            if chat or llama:
                lp_obj = {"content": [_lp_entry(t, a[0][1], a, shape.flavor, 1000 + pos)
                                      for (t, pos), a in zip(toks, alts, strict=True)]}
            else:
                tops = []
                for a in alts:
                    d: dict[str, float] = {}
                    for t, v in a:
                        d.setdefault(t, v)
                    tops.append(d)
                lp_obj = {"text_offset": [offset + sum(len(t) for t, _ in toks[:j]) for j in range(len(toks))],
                          "token_logprobs": [a[0][1] for a in alts], "tokens": [t for t, _ in toks],
                          "top_logprobs": tops}
        offset += len(text)
        finish = "length" if last else None
        ch: dict[str, Any]
        if chat:
            ch = {"index": 0, "delta": {"content": text}, "logprobs": lp_obj, "finish_reason": finish}
            if llama:
                ch = {"finish_reason": finish, "index": 0, "delta": {"content": text}}
                if lp_obj is not None:
                    ch["logprobs"] = lp_obj
            elif last:
                ch["stop_reason"] = None
        else:
            ch = {"index": 0, "text": text, "logprobs": lp_obj, "finish_reason": finish}
            if llama:
                ch = {"text": text, "index": 0, "logprobs": lp_obj, "finish_reason": finish}
            else:
                ch["stop_reason"] = None
        extra = {"usage": usage} if (last and llama) else None
        emit(_dumps(envelope([ch], extra)))
        ends.extend([size] * len(toks))
        i += len(toks)
    if include_usage and not llama:
        emit(_dumps(envelope([], {"usage": usage})))
    emit(b"[DONE]")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts), ends


@dataclass(frozen=True)
class GeneratorConfig:
    """How the generator serves (see the module docstring)."""

    host: str = "127.0.0.1"
    port: int = 0
    flavor: str = "vllm"
    tokens: int = 1024
    """Tokens per stream (a request's ``max_tokens`` lowers it)."""
    rate: float = 0.0
    """Tokens per second per stream; 0 = as fast as the socket allows."""
    tokens_per_chunk: int = 1
    model: str = "loadgen"
    write_size: int = 256 * 1024
    backlog: int = 4096

    def __post_init__(self) -> None:
        if self.flavor not in FLAVORS:
            raise ConfigError("flavor", self.flavor, " or ".join(FLAVORS))
        if self.tokens < 1:
            raise ConfigError("tokens", self.tokens, ">= 1")
        if not self.rate >= 0 or self.rate == float("inf"):
            raise ConfigError("rate", self.rate, "a finite number >= 0")
        if self.tokens_per_chunk < 1:
            raise ConfigError("tokens_per_chunk", self.tokens_per_chunk, ">= 1")


@dataclass
class Stats:
    streams_started: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0
    tokens_sent: int = 0
    bytes_sent: int = 0
    open_connections: int = 0
    max_open_streams: int = 0
    open_streams: int = 0
    bad_requests: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


_JSON_HEADERS = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
_SSE_HEADERS = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                b"transfer-encoding: chunked\r\n\r\n")


@dataclass
class LoadGenerator:
    """The server. ``async with LoadGenerator(cfg) as g: ... g.base_url``; or :meth:`serve_forever`."""

    config: GeneratorConfig = field(default_factory=GeneratorConfig)
    stats: Stats = field(default_factory=Stats)
    _server: asyncio.Server | None = None
    _bodies: dict[tuple[Shape, int, bool], tuple[bytes, list[int]]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}/v1"

    async def start(self) -> LoadGenerator:
        self._server = await asyncio.start_server(self._handle, self.config.host, self.config.port,
                                                  backlog=self.config.backlog, limit=1 << 20)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):  # handlers see their connection end and return
                w.transport.abort()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=5.0)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> LoadGenerator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    def body(self, shape: Shape, n_tokens: int, include_usage: bool) -> tuple[bytes, list[int]]:
        key = (shape, n_tokens, include_usage)
        got = self._bodies.get(key)
        if got is None:
            if len(self._bodies) > 64:
                self._bodies.clear()
            got = encode_stream(shape, n_tokens, model=self.config.model, include_usage=include_usage,
                                tokens_per_chunk=self.config.tokens_per_chunk)
            self._bodies[key] = got
        return got

    # ------------------------------------------------------------------ connection handling
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.stats.open_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    await self._reply(writer, 400, {"error": {"message": "bad request line"}})
                    return
                method, target, _ = parts
                length = 0
                close = False
                for h in lines[1:]:
                    name, _, value = h.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        try:
                            length = int(value.strip())
                        except ValueError:
                            length = -1
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if length < 0:
                    await self._reply(writer, 400, {"error": {"message": "bad content-length"}})
                    return
                try:
                    raw = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                path = target.split("?", 1)[0]
                if not await self._route(writer, method, path, raw):
                    return
                if close:
                    return
        finally:
            self.stats.open_connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)

    async def _reply(self, writer: asyncio.StreamWriter, status: int, obj: Any) -> None:
        body = _dumps(obj)
        reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
        writer.write(_JSON_HEADERS % (status, reason, len(body)) + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _route(self, writer: asyncio.StreamWriter, method: str, path: str, raw: bytes) -> bool:
        """Answer one request; False when the connection must close."""
        if method == "GET":
            if path in ("/health", "/v1/health"):
                await self._reply(writer, 200, {"status": "ok"})
            elif path == "/stats":
                await self._reply(writer, 200, self.stats.as_dict())
            elif path == "/v1/models":
                await self._reply(writer, 200, {"object": "list", "data": [{"id": self.config.model, "object": "model"}]})
            else:
                await self._reply(writer, 404, {"error": {"message": f"no route {path}"}})
            return True
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            await self._reply(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            self.stats.bad_requests += 1
            await self._reply(writer, 400, {"error": {"message": "body is not a JSON object"}})
            return True
        chat = path.endswith("chat/completions")
        if chat:
            k = int(req.get("top_logprobs") or 0) if req.get("logprobs") else 0
        else:
            lp = req.get("logprobs")
            k = int(lp) if isinstance(lp, int) and not isinstance(lp, bool) else 0
        if not 0 <= k <= 20:
            self.stats.bad_requests += 1
            await self._reply(writer, 400, {"error": {"message": "top_logprobs must be between 0 and 20"}})
            return True
        n = self.config.tokens
        mt = req.get("max_tokens") or req.get("max_completion_tokens")
        if isinstance(mt, int) and mt > 0:
            n = min(n, mt)
        so = req.get("stream_options")
        include_usage = isinstance(so, dict) and bool(so.get("include_usage"))
        body, ends = self.body(Shape("chat" if chat else "completions", self.config.flavor, k), n, include_usage)
        return await self._stream(writer, body, ends)

    async def _stream(self, writer: asyncio.StreamWriter, body: bytes, ends: list[int]) -> bool:
        st = self.stats
        st.streams_started += 1
        st.open_streams += 1
        st.max_open_streams = max(st.max_open_streams, st.open_streams)
        view = memoryview(body)
        sent = 0
        try:
            writer.write(_SSE_HEADERS)
            rate = self.config.rate
            step = self.config.write_size
            if rate <= 0:
                while sent < len(body):
                    writer.write(view[sent:sent + step])
                    sent = min(len(body), sent + step)
                    await writer.drain()
            else:
                t0 = time.monotonic()
                tick = max(0.005, 1.0 / rate)
                n = len(ends)
                while sent < len(body):
                    due = int((time.monotonic() - t0) * rate) + 1
                    upto = len(body) if due >= n else ends[due - 1]
                    if upto > sent:
                        writer.write(view[sent:upto])
                        sent = upto
                        await writer.drain()
                    if sent < len(body):
                        await asyncio.sleep(tick)
            st.streams_completed += 1
            return True
        except (ConnectionError, OSError):
            st.streams_cancelled += 1
            return False
        finally:
            st.open_streams -= 1
            st.tokens_sent += bisect.bisect_right(ends, sent)
            st.bytes_sent += sent
