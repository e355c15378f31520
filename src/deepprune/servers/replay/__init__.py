"""An OpenAI-compatible server that replays recorded traces as token streams.

``ReplayServer`` serves a :class:`~deepprune.core.types.TraceSet` over HTTP the way vLLM, SGLang or
llama.cpp's ``llama-server`` serve a model, so that the live path (``LiveSource``, ``deepprune
run``) can be tested hermetically and timed without a GPU:

* ``POST /v1/chat/completions`` and ``POST /v1/completions``, streaming (SSE ``data: {...}``
  chunks, one token per chunk, ``data: [DONE]`` at the end) or not; ``logprobs`` with
  ``top_logprobs`` when the trace has them; ``usage`` in the final chunk (or, with
  ``stream_options.include_usage``, in a last chunk with empty ``choices`` as OpenAI does);
* ``GET /v1/models``, ``GET /health``, ``GET /stats`` (JSON), ``GET /metrics`` (Prometheus
  text), ``POST /stats/reset``.

**Which problem.** A request names its problem by an explicit ``problem_id`` (a top-level body
field or ``metadata.problem_id``), else by its prompt: the text of the last user message (chat)
or the ``prompt`` (completions) equal to a problem's question, else the longest question that the
prompt contains (so a client that wraps the question in a template still matches). A prompt that
matches nothing gets HTTP 404 with a message saying what to send.

**Which trace.** ``assign="seed"``: a request's ``seed`` picks the recorded trace with that seed;
else, when the seed is deepprune's ``trace_seed(seed_base, problem_id, k)`` (what a
``LiveSource`` run with ``--seed seed_base`` sends for its k-th trace), trace k; any other seed is
given the problem's next trace not yet given to another seed (in recorded order, wrapping around
when all are taken) and keeps it: the same seed always gets the same trace, distinct seeds get
distinct traces while there are enough. ``"round-robin"``: the problem's traces in recorded
order, one per request, wrapping around; ``"auto"`` (default): by seed when the request carries
one, otherwise round-robin. A request that continues a stopped trace (a trailing assistant
message in chat, or the question followed by more text in a completions prompt) gets that trace
from the token after the given text. Requests never receive more tokens than ``max_tokens``
(then ``finish_reason`` is ``length``).

**Tokens.** A trace with recorded token strings is streamed token by token. Otherwise its text is
cut into ``n_tokens`` pieces at the character positions ``len(text) * i // n_tokens``, so the
text streamed after ``i`` tokens is exactly :meth:`~deepprune.core.types.Trace.text_at` ``(i)``, the
text a replay shows a strategy. Each stream is paced at ``rate`` tokens per second
(``0``: as fast as possible), after ``latency_s`` before the first token.

**Logprobs.** A token's ``logprob`` is the recorded sampled-token logprob, else ``-conf``. Traces
record the DeepConf confidence ``conf = -(1/k) * sum(top-k logprobs)`` but not the top-k
alternatives, so ``top_logprobs`` (k as requested) are *synthesised* so that their mean is
exactly ``-conf``: the sampled token with its logprob plus ``k - 1`` placeholder tokens
(``<alt1>``, ...) sharing the rest, or, when that would need a positive logprob, ``k`` entries
of ``-conf``. A client computing the DeepConf confidence from them gets the recorded value (up
to float rounding). Traces without confidences give only the sampled token's entry; traces with
neither logprobs nor confidences are served without ``logprobs``.

**Cancellation.** The server watches every connection while it streams: when the client closes
the stream, generation stops at once. ``/stats`` counts tokens served and tokens *not* generated
because of cancellation (the rest of the trace up to ``max_tokens``), so a test can prove a stop
saved tokens.

**Faults** (:class:`Fault`) for tests, server-wide (``faults=`` or :meth:`ReplayServer.add_fault`:
a queue; each request gets the first listed fault that still applies, each fault for its first
``times`` matching requests or for all of them) or per request (header
``X-Deepprune-Fault: SPEC``, on top of the server-wide one):
``refuse`` (close the connection without answering), ``status:CODE`` (HTTP 5xx / 429 before the
first token), ``drop:N`` (abort the connection after N tokens), ``stall:N:SECONDS`` (send nothing
for SECONDS after N tokens), ``malformed:N`` (one broken SSE chunk after N tokens),
``nologprobs`` (answer without logprobs).

The package, one job per module:

* :mod:`~deepprune.servers.replay.faults` — :class:`Fault` and its spec language;
* :mod:`~deepprune.servers.replay.config` — :class:`ServerConfig`, :class:`Assign`;
* :mod:`~deepprune.servers.replay.book` — the trace book: which problem, which trace;
* :mod:`~deepprune.servers.replay.request` — a request's options, prompt and prefill;
* :mod:`~deepprune.servers.replay.wire` — the OpenAI wire encoding (SSE chunks of
  :mod:`deepprune.core.wire`'s models, synthesised logprobs);
* :mod:`~deepprune.servers.replay.generation` — pacing, mid-stream faults, cancellation;
* :mod:`~deepprune.servers.replay.stats` — per-request records and totals (``/stats``, ``/metrics``);
* :mod:`~deepprune.servers.replay.errors` — :class:`BadRequest` and OpenAI's error object;
* :mod:`~deepprune.servers.replay.protocol` — connections on aiohttp's low-level server (framing,
  keep-alive, pipelining by aiohttp) with idle and request timeouts and JSON answers to malformed
  requests;
* :mod:`~deepprune.servers.replay.exchange` — one request and its answer: body limits, whole and
  streamed responses, noticing that the client went away, dropping the connection;
* :mod:`~deepprune.servers.replay.server` — :class:`ReplayServer`: lifecycle and routes.

It runs in-process in tests (:meth:`ReplayServer.in_thread`) on a free port.
"""


from __future__ import annotations

from deepprune.servers.replay.config import MAX_TOP_LOGPROBS, Assign, ServerConfig
from deepprune.servers.replay.faults import Fault, FaultKind
from deepprune.servers.replay.server import ReplayServer
from deepprune.servers.replay.stats import RequestRecord, ServerStats
from deepprune.servers.replay.wire import synth_top_logprobs, token_pieces

__all__ = [
    "MAX_TOP_LOGPROBS",
    "Assign",
    "Fault",
    "FaultKind",
    "ReplayServer",
    "RequestRecord",
    "ServerConfig",
    "ServerStats",
    "synth_top_logprobs",
    "token_pieces",
]
