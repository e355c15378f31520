"""The released DeepPrune judge (``THU-KEG/DeepPrune-Judge-4B``, a fine-tuned Qwen3-4B-Instruct-2507)
as a deepprune :class:`~deepprune.judges.base.Judge`.

deepprune never downloads it. Two ways to use a copy you have:

* **local directory** (``path=DIR``, extra ``[judge]``): loaded with transformers. The head is
  chosen from ``config.json``: a ``*ForSequenceClassification`` model gives P(same) from its
  class probabilities (label ``same_label``, default 1); a ``*ForCausalLM`` model is asked the
  prompt through its chat template and P(same) = p(yes) / (p(yes) + p(no)) from the next-token
  logits (``yes``/``no`` words configurable).
* **behind a server** (``base_url=URL``): vLLM's ``/classify`` endpoint (``mode=classify``) or any
  OpenAI-compatible server as a generative yes/no judge (``mode=generate``, the
  :class:`~deepprune.judges.zero_shot.ZeroShotJudge` machinery with this prompt).

Open (not in the public record we have): the exact instruction template the judge was trained
with. :data:`JUDGE_PROMPT` is ours; pass ``prompt=`` to match a different one. The loading code is
tested on a tiny randomly initialised Qwen3 built from a config (tests/test_judges_deepprune4b.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from deepprune.core.errors import ClientError, ConfigError, DataError, ServerError
from deepprune.judges.base import Judge, Pair
from deepprune.judges.learned import require
from deepprune.judges.registry import register_judge

__all__ = ["JUDGE_PROMPT", "DeepPruneJudge4B"]

log = logging.getLogger(__name__)

JUDGE_PROMPT = (
    "Given two unfinished reasoning traces for the same problem, predict whether they will reach "
    "the same final answer.\n\nTrace 1:\n{a}\n\nTrace 2:\n{b}\n\n"
    "Answer yes if they will reach the same final answer, otherwise no."
)
"""Default instruction; ``{a}``/``{b}`` are the two prefixes."""


class DeepPruneJudge4B(Judge):
    """The DeepPrune-Judge-4B adapter (see the module docstring)."""

    name = "deepprune-4b"
    blocking = True

    def __init__(self, path: str | Path | None = None, *, base_url: str | None = None,
                 mode: str = "auto", model: str = "THU-KEG/DeepPrune-Judge-4B", prompt: str = JUDGE_PROMPT,
                 same_label: int = 1, yes: str = "yes", no: str = "no", batch_size: int = 4,
                 max_length: int = 4096, device: str = "cpu", concurrency: int = 2) -> None:
        self.path = path
        self.base_url = base_url
        self.mode = mode
        self.model = model
        self.prompt = prompt
        self.same_label = same_label
        self.yes = yes
        self.no = no
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.concurrency = concurrency
        self.model_: Any = None
        self.tokenizer_: Any = None
        self.mode_: str | None = None
        self._yes_ids: list[int] = []
        self._no_ids: list[int] = []

    # ------------------------------------------------------------ loading
    def load(self) -> DeepPruneJudge4B:
        """Load the local model (no-op for a server judge)."""
        if self.model_ is not None or self.base_url is not None:
            return self
        if self.path is None:
            raise ConfigError("deepprune-4b judge", "no path and no base_url",
                              "path=DIR (a local copy of THU-KEG/DeepPrune-Judge-4B) or base_url=URL")
        d = Path(self.path)
        if not (d / "config.json").exists():
            raise DataError("no config.json: not a transformers model directory (download "
                            "THU-KEG/DeepPrune-Judge-4B yourself and pass its directory)", path=d)
        transformers = require("transformers")
        torch = require("torch")
        config = transformers.AutoConfig.from_pretrained(str(d), local_files_only=True)
        archs = " ".join(getattr(config, "architectures", None) or [])
        mode = self.mode
        if mode == "auto":
            mode = "classify" if "SequenceClassification" in archs else "generate"
        if mode not in ("classify", "generate"):
            raise ConfigError("mode", self.mode, "'auto', 'classify' or 'generate'")
        self.tokenizer_ = transformers.AutoTokenizer.from_pretrained(str(d), local_files_only=True)
        if self.tokenizer_.pad_token is None:
            self.tokenizer_.pad_token = self.tokenizer_.eos_token
        cls = (transformers.AutoModelForSequenceClassification if mode == "classify"
               else transformers.AutoModelForCausalLM)
        self.model_ = cls.from_pretrained(str(d), dtype=torch.float32, local_files_only=True).to(self.device).eval()
        if mode == "classify" and getattr(self.model_.config, "pad_token_id", None) is None:
            self.model_.config.pad_token_id = self.tokenizer_.pad_token_id
        if mode == "generate":
            self._yes_ids = self._word_ids(self.yes)
            self._no_ids = self._word_ids(self.no)
            if not self._yes_ids or not self._no_ids:
                raise ConfigError("yes/no words", (self.yes, self.no), "words the tokenizer has single tokens for")
        self.mode_ = mode
        log.info("loaded %s as a %s judge (%s)", d, mode, archs)
        return self

    def _word_ids(self, word: str) -> list[int]:
        ids: set[int] = set()
        for variant in (word, word.capitalize(), " " + word, " " + word.capitalize()):
            toks = self.tokenizer_.encode(variant, add_special_tokens=False)
            if len(toks) == 1:
                ids.add(int(toks[0]))
        return sorted(ids)

    def _text(self, pair: Pair) -> str:
        content = self.prompt.format(a=pair.a, b=pair.b)
        if getattr(self.tokenizer_, "chat_template", None):
            return str(self.tokenizer_.apply_chat_template([{"role": "user", "content": content}],
                                                           tokenize=False, add_generation_prompt=True))
        return content

    # ------------------------------------------------------------ scoring
    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        if not pairs:
            return np.zeros(0, dtype=np.float64)
        if self.base_url is not None:
            return self._predict_server(pairs)
        self.load()
        torch = require("torch")
        out = np.empty(len(pairs), dtype=np.float64)
        self.tokenizer_.padding_side = "left"
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start:start + self.batch_size]
            enc = self.tokenizer_([self._text(p) for p in chunk], return_tensors="pt", padding=True,
                                  truncation=True, max_length=self.max_length).to(self.device)
            with torch.no_grad():
                logits = self.model_(**enc).logits.float()
            if self.mode_ == "classify":
                if logits.shape[-1] == 1:
                    p = torch.sigmoid(logits[:, 0])
                else:
                    p = torch.softmax(logits, dim=-1)[:, self.same_label]
            else:
                last = torch.log_softmax(logits[:, -1, :], dim=-1)
                p_yes = last[:, self._yes_ids].exp().sum(-1)
                p_no = last[:, self._no_ids].exp().sum(-1)
                p = p_yes / (p_yes + p_no).clamp_min(1e-30)
            out[start:start + len(chunk)] = p.double().cpu().numpy()
        return out

    def _predict_server(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        assert self.base_url is not None
        mode = "generate" if self.mode == "auto" else self.mode
        if mode == "generate":
            from deepprune.judges.zero_shot import ZeroShotJudge

            zs = ZeroShotJudge(self.base_url, self.model, prompt=self.prompt, concurrency=self.concurrency,
                               max_prefix_chars=1 << 30)
            return zs.predict_proba(pairs)
        # vLLM: POST /classify {"model", "input": [...]} -> {"data": [{"probs": [...]}, ...]}
        root = self.base_url.removesuffix("/").removesuffix("/v1")
        texts = [self.prompt.format(a=p.a, b=p.b) for p in pairs]
        try:
            r = httpx.post(root + "/classify", json={"model": self.model, "input": texts}, timeout=600)
        except httpx.HTTPError as exc:
            raise ClientError(f"deepprune-4b judge: cannot reach {root}/classify: {exc}") from exc
        if r.status_code != 200:
            raise ServerError(r.status_code, r.text[:300])
        try:
            probs = [d["probs"] for d in r.json()["data"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ClientError(f"deepprune-4b judge: unexpected /classify answer: {r.text[:200]}") from exc
        return np.asarray([pr[self.same_label] if len(pr) > 1 else pr[0] for pr in probs], dtype=np.float64)


def _deepprune4b(params: dict[str, str]) -> Judge:
    from deepprune.core.spec import take

    path = take(params, "path", str, "")
    base_url = take(params, "base_url", str, "")
    return DeepPruneJudge4B(path or None, base_url=base_url or None, mode=take(params, "mode", str, "auto"),
                            model=take(params, "model", str, "THU-KEG/DeepPrune-Judge-4B"),
                            batch_size=take(params, "batch_size", int, 4))


register_judge("deepprune-4b", _deepprune4b,
               "the released DeepPrune-Judge-4B from a local copy (path=DIR) or a server (base_url=URL, "
               "mode=classify|generate); never downloaded")
