"""The zero-shot LLM judge: ask any OpenAI-compatible server whether two partial solutions will
reach the same final answer, and read P(same) from the yes/no log-probabilities.

One request per pair (``/v1/chat/completions``, ``max_tokens=1``, ``temperature=0``,
``logprobs=true``, ``top_logprobs=20``). P(same) = p(yes) / (p(yes) + p(no)), summing the
probability of every alternative of the first token that reads "yes" / "no" (case and spaces
ignored). When neither appears among the alternatives the pair gets 0.5 (logged). Pairs are
sent ``concurrency`` at a time (keep it small next to a server that also generates traces) and
answers are cached per (prefix A, prefix B), so a strategy that asks again pays nothing.

``predict_proba`` is synchronous; inside a running event loop (the live runner) it runs the
requests on a private loop in a worker thread. Prefixes longer than ``max_prefix_chars`` are cut
(from the start: the prefix's beginning is what both traces share).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from deepprune.core.errors import ClientError, ConfigError, ServerError
from deepprune.judges.base import Judge, Pair
from deepprune.judges.registry import register_judge

__all__ = ["DEFAULT_PROMPT", "ZeroShotJudge", "yes_no_probability"]

log = logging.getLogger(__name__)

DEFAULT_PROMPT = (
    "Two students are solving the same math problem. Below are the beginnings of their "
    "solutions (both unfinished).\n\n"
    "Solution A (beginning):\n{a}\n\n"
    "Solution B (beginning):\n{b}\n\n"
    "Will the two solutions reach the same final answer? Answer with one word: yes or no."
)
"""The default question; ``{a}`` and ``{b}`` are replaced by the prefixes."""


def yes_no_probability(top_logprobs: Sequence[dict[str, Any]], *, yes: str = "yes",
                       no: str = "no") -> float | None:
    """P(yes) / (P(yes) + P(no)) from one position's alternatives (``[{"token", "logprob"}]``),
    or None when neither word is among them.

    >>> round(yes_no_probability([{"token": "Yes", "logprob": -0.1}, {"token": " no", "logprob": -2.4}]), 3)
    0.909
    """
    p_yes = p_no = 0.0
    for alt in top_logprobs:
        tok = str(alt.get("token", "")).strip().lower()
        lp = alt.get("logprob")
        if lp is None:
            continue
        if tok == yes:
            p_yes += math.exp(float(lp))
        elif tok == no:
            p_no += math.exp(float(lp))
    if p_yes + p_no == 0.0:
        return None
    return p_yes / (p_yes + p_no)


class ZeroShotJudge(Judge):
    """Yes/no question to an OpenAI-compatible chat endpoint (see the module docstring).

    Parameters
    ----------
    base_url : the server's OpenAI base URL, e.g. ``http://127.0.0.1:8090/v1``.
    model : model name sent in requests (llama.cpp ignores it).
    concurrency : requests in flight at once.
    prompt : template with ``{a}`` and ``{b}``.
    """

    name = "zero-shot"
    blocking = True

    def __init__(self, base_url: str = "http://127.0.0.1:8090/v1", model: str = "default", *,
                 concurrency: int = 2, prompt: str = DEFAULT_PROMPT, timeout_s: float = 120.0,
                 max_prefix_chars: int = 2000, api_key: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url
        self.model = model
        self.concurrency = concurrency
        self.prompt = prompt
        self.timeout_s = timeout_s
        self.max_prefix_chars = max_prefix_chars
        self.api_key = api_key
        self.transport = transport
        self._cache: dict[tuple[str, str], float] = {}
        self.requests = 0
        """Requests sent so far (cache misses)."""
        self.undecided = 0
        """Answers whose first token had neither yes nor no among its alternatives."""

    def _body(self, pair: Pair) -> dict[str, Any]:
        text = self.prompt.format(a=pair.a[: self.max_prefix_chars], b=pair.b[: self.max_prefix_chars])
        return {"model": self.model, "messages": [{"role": "user", "content": text}], "max_tokens": 1,
                "temperature": 0.0, "logprobs": True, "top_logprobs": 20, "stream": False}

    async def _ask(self, client: httpx.AsyncClient, sem: asyncio.Semaphore, pair: Pair) -> float:
        async with sem:
            try:
                r = await client.post("/chat/completions", json=self._body(pair))
            except httpx.TimeoutException as exc:
                raise ClientError(f"zero-shot judge: no answer from {self.base_url} within "
                                  f"{self.timeout_s} s") from exc
            except httpx.HTTPError as exc:
                raise ClientError(f"zero-shot judge: cannot reach {self.base_url}: {exc}") from exc
        self.requests += 1
        if r.status_code != 200:
            raise ServerError(r.status_code, r.text[:300])
        try:
            content = r.json()["choices"][0]["logprobs"]["content"]
            top = content[0]["top_logprobs"] if content else []
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ClientError(f"zero-shot judge: {self.base_url} returned no logprobs (the server must "
                              f"support logprobs/top_logprobs on chat completions): {r.text[:200]}") from exc
        p = yes_no_probability(top)
        if p is None:
            self.undecided += 1
            log.info("zero-shot judge: neither yes nor no among the top tokens %s; using 0.5",
                     [t.get("token") for t in top[:5]])
            return 0.5
        return p

    async def apredict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        """Async version of :meth:`predict_proba`."""
        if self.concurrency < 1:
            raise ConfigError("concurrency", self.concurrency, "a positive integer")
        todo = list(dict.fromkeys((p.a, p.b) for p in pairs if (p.a, p.b) not in self._cache))
        if todo:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            sem = asyncio.Semaphore(self.concurrency)
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s, headers=headers,
                                         transport=self.transport) as client:
                probs = await asyncio.gather(*(self._ask(client, sem, Pair(a, b)) for a, b in todo))
            self._cache.update(zip(todo, probs, strict=True))
        return np.asarray([self._cache[(p.a, p.b)] for p in pairs], dtype=np.float64)

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        if not pairs:
            return np.zeros(0, dtype=np.float64)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.apredict_proba(pairs))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.apredict_proba(pairs)).result()


def _zero_shot(params: dict[str, str]) -> Judge:
    from deepprune.core.spec import take

    return ZeroShotJudge(base_url=take(params, "base_url", str, "http://127.0.0.1:8090/v1"),
                         model=take(params, "model", str, "default"),
                         concurrency=take(params, "concurrency", int, 2),
                         max_prefix_chars=take(params, "max_prefix_chars", int, 2000))


register_judge("zero-shot", _zero_shot, "yes/no question to an OpenAI-compatible server, P from logprobs; "
                                        "base_url=http://127.0.0.1:8090/v1,model=default,concurrency=2")
