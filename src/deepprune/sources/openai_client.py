"""Streaming one completion from an OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, ...).

:class:`StreamClient` opens **one streaming request per trace** (``n=1``, the trace's own
``seed``) on ``/chat/completions`` (default) or ``/completions`` and yields :class:`TokenChunk`
objects, then one :class:`StreamEnd`.

Tokens. With logprobs (``top_logprobs > 0``) each entry of the chunk's ``logprobs.content``
(chat and llama.cpp completions) or ``logprobs.tokens`` (classic completions) is one token, with
its sampled logprob and the DeepConf confidence ``-(1/k) * sum of the top-k logprobs`` (k = the
alternatives the server returned, normally ``top_logprobs``). Without logprobs, each non-empty
content delta counts as one token (servers stream one token per chunk), and the final
``usage.completion_tokens`` corrects the count when the server sends it.

Failures. Connect errors, read timeouts and HTTP 429/5xx **before the first token** are retried
with exponential backoff (``retries`` times); afterwards, or for other statuses, a typed error is
raised: :class:`~deepprune.core.errors.ServerError` (HTTP status), :class:`~deepprune.core.errors.RequestTimeout`
(no token for ``stall_timeout_s``), :class:`~deepprune.core.errors.StreamError` (broken stream,
malformed chunk, missing logprobs). The API key is sent as a bearer token and never appears in
logs, error messages or ``repr``: messages name the server by :attr:`EndpointConfig.display_url`
(no userinfo, no query string) and everything a server or httpx says goes through
:func:`deepprune.core.redact.redact` (which also hides the key when a server echoes it).

Framing. The response's bytes are read as server-sent events by :class:`SSEFramer`, the one SSE
parser here (the rules of the SSE spec and of ``httpx-sse``, which it replaced for speed: lines end
at CR, LF or CRLF only, ``data:`` lines joined, comments and events without data skipped,
``[DONE]`` ends the stream, an event left unterminated when the connection closes is
discarded); a 200 answer that is not ``text/event-stream`` is a
:class:`~deepprune.core.errors.StreamError`. A body in a charset other than UTF-8 is transcoded to UTF-8
first; undecodable bytes are replaced, as httpx's text decoding does. Each event's data is decoded
into :mod:`deepprune.core.wire`'s typed chunk models (the ones the replay server encodes); data
they do not fit (other types, ``NaN``, an ``error`` object, ...) goes to :func:`parse_chunk`, the
validating reader of the decoded JSON, with the same results.

Closing the async generator (``aclose()``, or cancelling the task iterating it) closes the HTTP
response, which is how a server learns that a stopped trace should stop generating.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import json
import logging
import os
import random
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import httpx

from deepprune.core import wire
from deepprune.core.errors import ClientError, ConfigError, RequestTimeout, ServerError, StreamError
from deepprune.core.redact import redact, redact_url, register, url_secrets
from deepprune.core.types import FinishReason

_orjson: Any
try:  # the fast JSON decoder (a dependency; the standard library's is the fallback)
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson installed
    _orjson = None

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "EndpointConfig",
    "SSEFramer",
    "StreamClient",
    "StreamEnd",
    "TokenChunk",
    "confidence",
    "parse_chunk",
]

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
"""The system prompt used by ``collect`` and ``run`` unless told otherwise."""

_T = TypeVar("_T")

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class EndpointConfig:
    """Where and how to sample. ``api_key`` defaults to ``$OPENAI_API_KEY`` (see :meth:`resolved_key`)."""

    base_url: str
    """e.g. ``http://127.0.0.1:8080/v1``."""
    model: str
    api_key: str | None = field(default=None, repr=False)
    chat: bool = True
    """``/chat/completions`` with a system + user message; False: ``/completions`` with a plain prompt."""
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 0.95
    top_logprobs: int = 20
    """Alternatives per token for the DeepConf confidence; 0 = request no logprobs."""
    max_concurrency: int = 8
    """Streams open at once (per client)."""
    connect_timeout_s: float = 10.0
    first_token_timeout_s: float = 300.0
    """Longest wait for the first token (queueing and prompt processing included)."""
    stall_timeout_s: float = 60.0
    """Longest wait between two tokens before the stream counts as stalled."""
    retries: int = 3
    backoff_s: float = 0.5
    """First retry delay; doubled each retry, with jitter."""
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    """Extra request fields (e.g. ``{"top_k": 20}``), merged last."""

    def __post_init__(self) -> None:
        register(self.api_key, *url_secrets(self.base_url))
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("base_url", redact_url(self.base_url), "an http:// or https:// URL")
        if self.max_tokens < 1:
            raise ConfigError("max_tokens", self.max_tokens, ">= 1")
        if self.max_concurrency < 1:
            raise ConfigError("max_concurrency", self.max_concurrency, ">= 1")
        if not 0 <= self.top_logprobs <= 20:
            raise ConfigError("top_logprobs", self.top_logprobs, "between 0 and 20 (OpenAI's limit)")

    def __repr__(self) -> str:
        return f"EndpointConfig(base_url={self.display_url!r}, model={self.model!r}, chat={self.chat!r}, ...)"

    @property
    def display_url(self) -> str:
        """``base_url`` without credentials (userinfo and query string masked): for messages and files."""
        return redact_url(self.base_url)

    def resolved_key(self) -> str | None:
        key = self.api_key or os.environ.get("OPENAI_API_KEY") or None
        register(key)
        return key

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters, as recorded in a dataset header (no key, no URL secrets)."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "top_logprobs": self.top_logprobs, "n": 1,
                **{k: v for k, v in self.extra_body.items() if isinstance(v, int | float | str | bool)}}


@dataclass(frozen=True, slots=True)
class TokenChunk:
    """Tokens received in one stream chunk."""

    text: str
    tokens: tuple[str, ...]
    logprobs: tuple[float, ...] | None = None
    confs: tuple[float, ...] | None = None

    @property
    def n(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The stream ended normally."""

    finish_reason: FinishReason
    completion_tokens: int | None = None
    """``usage.completion_tokens`` when the server sent it."""


def confidence(top: Sequence[float]) -> float:
    """DeepConf token confidence: minus the mean of the top-k logprobs (higher = more confident).

    >>> round(confidence([-0.1, -2.0, -3.9]), 3)
    2.0
    """
    if not top:
        return 0.0
    return -sum(top) / len(top)


def _finish(value: object) -> FinishReason | None:
    if value is None:
        return None
    s = str(value)
    if s in ("stop", "eos", "stop_sequence", "end_turn"):
        return FinishReason.STOP
    if s in ("length", "max_tokens"):
        return FinishReason.LENGTH
    return FinishReason.UNKNOWN


def parse_chunk(payload: Mapping[str, Any], *, chat: bool, want_logprobs: bool) -> tuple[
        TokenChunk | None, FinishReason | None, int | None]:
    """One decoded ``data:`` payload -> (tokens, finish reason, usage completion tokens).

    Raises :class:`StreamError` for an error payload or a chunk whose shape makes no sense.
    """
    if "error" in payload:
        err = payload["error"]
        msg = err.get("message", err) if isinstance(err, Mapping) else err
        raise StreamError(f"server sent an error in the stream: {redact(str(msg))}")
    usage = payload.get("usage")
    completion_tokens = None
    if isinstance(usage, Mapping) and isinstance(usage.get("completion_tokens"), int):
        completion_tokens = int(usage["completion_tokens"])
    choices = payload.get("choices")
    if choices is None or choices == []:
        return None, None, completion_tokens
    if not isinstance(choices, list) or not isinstance(choices[0], Mapping):
        raise StreamError(f"malformed chunk: 'choices' is {type(choices).__name__}, expected a list of objects")
    ch = choices[0]
    if chat:
        delta = ch.get("delta") or {}
        if not isinstance(delta, Mapping):
            raise StreamError("malformed chunk: 'delta' is not an object")
        text = delta.get("content") or ""
        # reasoning models on vLLM/SGLang stream their thoughts separately; they are generated tokens
        text = (delta.get("reasoning_content") or delta.get("reasoning") or "") + text
    else:
        text = ch.get("text") or ""
    if not isinstance(text, str):
        raise StreamError(f"malformed chunk: content is {type(text).__name__}, expected a string")
    finish = _finish(ch.get("finish_reason"))
    lp = ch.get("logprobs")
    tokens: list[str] = []
    logprobs: list[float] = []
    confs: list[float] = []
    if isinstance(lp, Mapping) and isinstance(lp.get("content"), list):
        for entry in lp["content"]:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("logprob"), int | float):
                raise StreamError("malformed chunk: a logprobs.content entry has no numeric 'logprob'")
            tokens.append(str(entry.get("token", "")))
            logprobs.append(float(entry["logprob"]))
            top = entry.get("top_logprobs") or []
            confs.append(confidence([float(t["logprob"]) for t in top
                                     if isinstance(t, Mapping) and isinstance(t.get("logprob"), int | float)]))
    elif isinstance(lp, Mapping) and isinstance(lp.get("tokens"), list):  # classic completions
        toks = lp["tokens"]
        tlp = lp.get("token_logprobs") or [0.0] * len(toks)
        tops = lp.get("top_logprobs") or [{}] * len(toks)
        for tok, l1, top in zip(toks, tlp, tops, strict=False):
            tokens.append(str(tok))
            logprobs.append(float(l1 or 0.0))
            confs.append(confidence([float(v) for v in (top or {}).values()]))
    elif text:
        if want_logprobs:
            raise StreamError("the server sent tokens without logprobs although top_logprobs was requested; "
                              "it may not support logprobs: use --top-logprobs 0 and a strategy that does not "
                              "need token confidence")
        tokens.append(text)
    if not tokens and not text:
        return None, finish, completion_tokens
    have_lp = bool(logprobs)
    chunk = TokenChunk(text if text else "".join(tokens), tuple(tokens),
                       tuple(logprobs) if have_lp else None, tuple(confs) if have_lp else None)
    return chunk, finish, completion_tokens


class StreamClient:
    """Streams completions with bounded concurrency. Use as an async context manager.

    ``transport`` is for tests (``httpx.MockTransport``). ``semaphore`` bounds the open streams
    (callers hold it around :meth:`stream`; default: a new one of ``config.max_concurrency``),
    pass one to share the bound between clients.
    """

    def __init__(self, config: EndpointConfig, *, transport: httpx.AsyncBaseTransport | None = None,
                 semaphore: asyncio.Semaphore | None = None) -> None:
        self.config = config
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self.semaphore = semaphore or asyncio.Semaphore(config.max_concurrency)

    def __repr__(self) -> str:
        return f"StreamClient(base_url={self.config.display_url!r}, model={self.config.model!r})"

    async def __aenter__(self) -> StreamClient:
        c = self.config
        headers = {"Accept": "text/event-stream"}
        key = c.resolved_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(connect=c.connect_timeout_s, read=None, write=30.0, pool=None)
        limits = httpx.Limits(max_connections=c.max_concurrency + 4, max_keepalive_connections=c.max_concurrency)
        base, params = split_query(c.base_url)
        self._client = httpx.AsyncClient(base_url=base.rstrip("/") + "/", params=params, headers=headers,
                                         timeout=timeout, limits=limits, transport=self._transport,
                                         verify=_ssl_context())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def request_body(self, prompt: str, *, seed: int, max_tokens: int | None = None,
                     prefill: str = "") -> dict[str, Any]:
        """The JSON body for one trace. ``prefill`` continues an earlier, stopped text (resume)."""
        c = self.config
        body: dict[str, Any] = {"model": c.model, "stream": True, "n": 1, "seed": int(seed),
                                "max_tokens": int(max_tokens or c.max_tokens), "temperature": c.temperature,
                                "top_p": c.top_p, "stream_options": {"include_usage": True}}
        if c.chat:
            messages: list[dict[str, str]] = []
            if c.system_prompt:
                messages.append({"role": "system", "content": c.system_prompt})
            messages.append({"role": "user", "content": prompt})
            if prefill:
                # continue the assistant's partial message (llama.cpp prefills a trailing assistant
                # message; vLLM needs the two flags below)
                messages.append({"role": "assistant", "content": prefill})
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
            body["messages"] = messages
            if c.top_logprobs > 0:
                body["logprobs"] = True
                body["top_logprobs"] = c.top_logprobs
        else:
            body["prompt"] = prompt + prefill
            if c.top_logprobs > 0:
                body["logprobs"] = c.top_logprobs
        body.update(c.extra_body)
        return body

    async def stream(self, prompt: str, *, seed: int, max_tokens: int | None = None,
                     prefill: str = "") -> AsyncGenerator[TokenChunk | StreamEnd, None]:
        """Stream one trace: TokenChunks, then one StreamEnd. See the module docstring for errors."""
        if self._client is None:
            raise ClientError("StreamClient used outside 'async with'")
        c = self.config
        body = self.request_body(prompt, seed=seed, max_tokens=max_tokens, prefill=prefill)
        path = "chat/completions" if c.chat else "completions"
        attempt = 0
        while True:
            got_token = False
            try:
                async for item in self._one_attempt(path, body):
                    got_token = got_token or isinstance(item, TokenChunk)
                    yield item
                return
            except (ServerError, _Retryable) as exc:
                status = exc.status if isinstance(exc, ServerError) else None
                retryable = isinstance(exc, _Retryable) or status in _RETRY_STATUS
                if got_token or not retryable or attempt >= c.retries:
                    if isinstance(exc, _Retryable):
                        raise exc.as_typed(c.display_url, attempt + 1) from exc.__cause__
                    raise
                delay = c.backoff_s * (2 ** attempt) * (0.5 + random.random())
                log.info("request to %s failed before the first token (%s); retry %d/%d in %.1f s",
                         c.display_url, exc, attempt + 1, c.retries, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _one_attempt(self, path: str, body: dict[str, Any]) -> AsyncIterator[TokenChunk | StreamEnd]:
        c = self.config
        assert self._client is not None
        loop = asyncio.get_running_loop()
        got_token = False
        # Deadlines bound only the awaits on the network, never a ``yield`` (a timeout spanning a
        # yield would cancel whatever the consumer is doing at that moment). One lazy timer per
        # attempt (_Deadline), not one asyncio.timeout per read: entering and leaving one costs
        # about 10 us, more than decoding a token.
        dl = _Deadline(loop, loop.time() + c.first_token_timeout_s)
        try:
            request = self._client.build_request("POST", path, json=body)
            resp = await dl.guard(self._client.send(request, stream=True))
            try:
                if resp.status_code != 200:
                    raw = await dl.guard(resp.aread())
                    raise ServerError(resp.status_code,
                                      redact(_error_message(raw.decode("utf-8", errors="replace")[:300])))
                content_type = resp.headers.get("content-type", "").partition(";")[0]
                if "text/event-stream" not in content_type:
                    raise StreamError(f"{c.display_url} answered without an event stream (Content-Type "
                                      f"{redact(content_type)!r}, expected 'text/event-stream'): does the "
                                      "endpoint stream?")
                finish: FinishReason | None = None
                usage: int | None = None
                want_lp = c.top_logprobs > 0
                chat = c.chat
                framer = SSEFramer()
                # bytes as they arrive; aiter_raw skips httpx's decoder layer when there is nothing to
                # decode (and cannot be used on a body already read, e.g. by a test transport)
                raw_ok = (resp.headers.get("content-encoding", "identity").strip().lower() in ("", "identity")
                          and not resp.is_stream_consumed)
                chunks = cast(AsyncGenerator[bytes, None], resp.aiter_raw() if raw_ok else resp.aiter_bytes())
                transcode = None if _is_utf8(resp.encoding) else codecs.getincrementaldecoder(
                    resp.encoding or "utf-8")(errors="replace")
                eof = False
                try:
                    while not eof:
                        # the hot loop: one network read under the lazy deadline (no asyncio.timeout
                        # per read), then every event it completed. This is _Deadline.guard inlined:
                        # awaiting dl.guard(anext(chunks)) instead costs ~7% of the client's tokens per
                        # CPU-second (bench_client_throughput.py --modes StreamClient, 2026-12-02)
                        task = asyncio.current_task()
                        assert task is not None
                        dl.arm_wait(task)
                        cancelling = task.cancelling()
                        try:
                            raw = await anext(chunks)
                        except StopAsyncIteration:
                            eof = True
                        except asyncio.CancelledError:
                            if dl.expired and task.uncancel() <= cancelling:
                                raise TimeoutError from None
                            raise
                        finally:
                            dl.waiting = False
                        if eof:
                            events = framer.close()
                        else:
                            if transcode is not None:
                                raw = transcode.decode(raw).encode("utf-8")
                            events = framer.feed(raw)
                        for data in events:
                            if not data:
                                continue  # an event without data (a named ping): nothing to read
                            if b"[DONE]" in data and data.decode("utf-8", "replace").strip() == "[DONE]":
                                yield StreamEnd(finish or FinishReason.UNKNOWN, usage)
                                return
                            parsed = _parse_typed(data, chat, want_lp)
                            if parsed is None:  # anything unusual: the full, validating parser
                                obj = _decode(data, c)
                                if not isinstance(obj, Mapping):
                                    raise StreamError(f"malformed SSE chunk from {c.display_url}: "
                                                      "expected a JSON object")
                                parsed = parse_chunk(obj, chat=chat, want_logprobs=want_lp)
                            chunk, fin, used = parsed
                            if used is not None:
                                usage = used
                            if fin is not None:
                                finish = fin
                            if chunk is not None and chunk.n > 0:
                                got_token = True
                                dl.extend(loop.time() + c.stall_timeout_s)
                                yield chunk
                finally:
                    await chunks.aclose()
                if finish is None:
                    raise StreamError(f"stream from {c.display_url} ended without a finish reason or [DONE] "
                                      "(connection dropped?)")
                yield StreamEnd(finish, usage)
            finally:
                await resp.aclose()
        except TimeoutError as exc:
            if got_token:
                raise RequestTimeout(f"stream from {c.display_url} stalled: no token for {c.stall_timeout_s:g} s"
                                     ) from exc
            raise _Retryable("timeout", f"no first token within {c.first_token_timeout_s:g} s") from exc
        except httpx.ConnectError as exc:
            raise _Retryable("connect", f"cannot connect: {redact(str(exc))}") from exc
        except httpx.TimeoutException as exc:
            if got_token:
                raise RequestTimeout(f"timeout talking to {c.display_url}: {redact(str(exc))}") from exc
            raise _Retryable("timeout", redact(str(exc)) or type(exc).__name__) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if got_token:
                raise StreamError(f"stream from {c.display_url} broke off: {redact(str(exc)) or type(exc).__name__}"
                                  ) from exc
            raise _Retryable("connection", redact(str(exc)) or type(exc).__name__) from exc
        except httpx.HTTPError as exc:  # anything else httpx can raise: not retried
            raise StreamError(f"HTTP error talking to {c.display_url}: {type(exc).__name__}: {redact(str(exc))}"
                              ) from exc
        finally:
            dl.close()


class _Deadline:
    """The deadline of one attempt's network awaits, with one lazy timer instead of an
    ``asyncio.timeout`` per read.

    ``deadline`` may move at any time (:meth:`extend`); the timer re-arms itself when it fires
    early. It cancels the task only while the task awaits the network (``waiting``), and the
    await's ``except CancelledError`` turns that cancellation into :class:`TimeoutError` exactly as
    ``asyncio.timeout`` does (``uncancel``, so a cancellation from outside still propagates). When
    the deadline passes while the consumer runs, the next network await that has to suspend
    times out (``asyncio.timeout_at`` with a past deadline behaves the same).
    """

    __slots__ = ("deadline", "expired", "handle", "loop", "task", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self.loop = loop
        self.deadline = deadline
        self.task: asyncio.Task[Any] | None = None
        self.waiting = False
        self.expired = False
        self.handle: asyncio.Handle | None = loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self.handle = None
        if self.loop.time() < self.deadline:
            self.handle = self.loop.call_at(self.deadline, self._fire)
        elif self.waiting and not self.expired and self.task is not None:
            self.expired = True
            self.task.cancel()

    def extend(self, deadline: float) -> None:
        """Move the deadline (later: lazily; earlier, e.g. from the first-token to the stall
        timeout: the timer moves now)."""
        self.deadline = deadline
        if self.expired:
            return
        h = self.handle
        if h is None or (isinstance(h, asyncio.TimerHandle) and deadline < h.when()):
            if h is not None:
                h.cancel()
            self.handle = self.loop.call_at(deadline, self._fire)

    def arm_wait(self, task: asyncio.Task[Any]) -> None:
        """Called before each network await (which must clear ``waiting`` after)."""
        self.task = task
        self.waiting = True
        if self.handle is None and not self.expired:  # past the deadline: fire once the await suspends
            self.handle = self.loop.call_soon(self._fire)

    async def guard(self, aw: Awaitable[_T]) -> _T:
        """Await ``aw`` under the deadline (for the rare awaits outside the hot loop)."""
        task = asyncio.current_task()
        assert task is not None
        self.arm_wait(task)
        cancelling = task.cancelling()
        try:
            return await aw
        except asyncio.CancelledError:
            if self.expired and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            self.waiting = False

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class SSEFramer:
    r"""Server-sent events on bytes: :meth:`feed` the body's bytes as they arrive, get the data of
    each event they complete (the one SSE parser of the stream client).

    The event-stream rules a client needs (WHATWG HTML, "Parsing an event stream"; what
    ``httpx-sse`` did): lines end at CR, LF or CRLF and nowhere else (a U+2028 inside a JSON string
    is not a line end; a CR at the end of a read waits for the next byte, which may be its LF); a
    line starting with ``:`` is a comment; ``data:`` lines (one space after the colon dropped; a
    bare ``data`` line is empty data) are joined with LF; a blank line ends an event, whose data is
    returned (``b""`` for an event whose only data is empty; events without any ``data`` line
    — ``event:``, ``id:``, ``retry:`` alone — return nothing). :meth:`close` ends the stream: an
    event not ended by a blank line is discarded.

    The usual read, one whole ``data: ...`` event and nothing else, takes a fast path.

    >>> f = SSEFramer()
    >>> f.feed(b'data: {"a": 1}\r\n\r\n: ping\n\nevent: x\ndata: x\ndata:y\r'), f.feed(b'\n\ndata: lost'), f.close()
    ([b'{"a": 1}'], [b'x\ny'], [])
    """

    __slots__ = ("_buf", "_cr", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._cr = False
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of each event that ``chunk`` completes, in order."""
        n = len(chunk)
        if (not self._buf and not self._data and not self._cr and chunk[:6] == b"data: "
                and chunk[-2:] == b"\n\n" and chunk.find(b"\n", 6) == n - 2 and b"\r" not in chunk):
            return [chunk[6:-2]]  # one whole event with one data line: the usual case
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        buf = self._buf + chunk if self._buf else chunk
        if buf.endswith(b"\r"):  # may be the first half of a CRLF: decide with the next bytes
            self._cr = True
            buf = buf[:-1]
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        return self._lines(lines)

    def close(self) -> list[bytes]:
        """The end of the stream: a pending CR ends the last line (which may end an event); an
        unterminated line or event is discarded."""
        out = self._lines([self._buf]) if self._cr else []
        self._buf, self._cr, self._data = b"", False, []
        return out

    def _lines(self, lines: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
            elif line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line == b"data":
                data.append(b"")
        return out


def _is_utf8(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "utf-8").name == "utf-8"
    except LookupError:
        return False


def _decode(data: bytes, config: EndpointConfig) -> Any:
    """One event's JSON: orjson on the bytes when it can, else (bytes that are not UTF-8: replaced
    as httpx's text decoding does; ``NaN``, huge integers, lone surrogates, ... which the standard
    library accepts) the decoded text, by orjson then ``json.loads``."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass
    text = data.decode("utf-8", errors="replace")
    if _orjson is not None:
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StreamError(f"malformed SSE chunk from {config.display_url} (not JSON): {redact(text[:120])!r}"
                          ) from exc


def _parse_typed(data: bytes, chat: bool, want_lp: bool) -> tuple[
        TokenChunk | None, FinishReason | None, int | None] | None:
    """:func:`parse_chunk` on one event's bytes, decoded by :func:`deepprune.core.wire.decode` into
    the typed models (no dicts); None for anything those do not fit (errors included), which goes
    to :func:`parse_chunk`. Same results (``tests/test_client_fastpath.py``), faster than
    ``orjson.loads`` into dicts and walking them."""
    chunk = wire.decode(data, chat=chat)
    if chunk is None:
        return None
    usage = chunk.usage
    completion_tokens = usage.completion_tokens if usage is not None else None
    choices = chunk.choices
    if not choices:
        return None, None, completion_tokens
    ch = choices[0]
    if isinstance(ch, wire.ChatChoice):
        delta = ch.delta
        text = ""
        if delta is not None:
            text = delta.content or ""
            thought = delta.reasoning_content or delta.reasoning
            if thought:
                text = thought + text
    else:
        text = ch.text or ""
    fr = ch.finish_reason
    finish = None if fr is None else _finish(fr)
    lp = ch.logprobs
    tokens: list[str] = []
    logprobs: list[float] = []
    confs: list[float] = []
    if lp is not None and lp.content is not None:
        for entry in lp.content:
            tokens.append(entry.token)
            logprobs.append(entry.logprob)
            top = entry.top_logprobs
            confs.append(-sum([t.logprob for t in top], 0.0) / len(top) if top else 0.0)
    elif lp is not None and lp.tokens is not None:  # classic completions
        toks = lp.tokens
        for tok, l1, alts in zip(toks, lp.token_logprobs or [0.0] * len(toks), lp.top_logprobs or [{}] * len(toks),
                                 strict=False):
            tokens.append(tok)
            logprobs.append(float(l1 or 0.0))
            confs.append(confidence(list((alts or {}).values())))
    elif text:
        if want_lp:
            return None  # parse_chunk raises the explanatory error
        return TokenChunk(text, (text,)), finish, completion_tokens
    if not tokens:
        return (None, finish, completion_tokens) if not text else (TokenChunk(text, ()), finish, completion_tokens)
    return (TokenChunk(text or "".join(tokens), tuple(tokens), tuple(logprobs), tuple(confs)),
            finish, completion_tokens)


class _Retryable(Exception):
    """Internal: a failure before the first token that may be retried."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def as_typed(self, base_url: str, attempts: int) -> ClientError:
        msg = f"{base_url}: {self} (after {attempts} attempt(s)); is the server running and reachable?"
        if self.kind == "timeout":
            return RequestTimeout(msg)
        return ClientError(msg)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle (~0.1-0.5 s), which
    would otherwise be paid by each problem's session."""
    return httpx.create_ssl_context()


def split_query(url: str) -> tuple[str, str]:
    """``url`` without its query string, and the query string: a base URL's query
    (``?api-version=...``, ``?key=...``) is sent with every request, after the endpoint's path."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment)), parts.query


def _error_message(text: str) -> str:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return text.strip() or "(empty body)"
    if isinstance(obj, Mapping):
        err = obj.get("error", obj)
        if isinstance(err, Mapping):
            return str(err.get("message", err))
        return str(err)
    return text
