"""Registration of the built-in strategies (imported lazily by the registry)."""

from __future__ import annotations

from deepprune.strategies.base import StrategyFactory
from deepprune.strategies.cons import ConsensusStrategy
from deepprune.strategies.oracle import OracleStrategy
from deepprune.strategies.registry import register, take


@register("cons", "self-consistency: all K traces finish, majority vote")
def _cons(params: dict[str, str]) -> StrategyFactory:
    return ConsensusStrategy


@register("oracle", "lower bound: one trace per distinct answer finishes, the rest stop at the prefix (replay only)")
def _oracle(params: dict[str, str]) -> StrategyFactory:
    prefix = take(params, "prefix", str, "tokens:64")  # deepprune's default cut: the bound at the same cut
    OracleStrategy(prefix)  # validate now, not per problem
    return lambda: OracleStrategy(prefix)


# ---------------------------------------------------------------- strategies of issue 4
def _opt_int(raw: str) -> int | None:
    return None if raw.strip().lower() in ("none", "0", "inf", "") else int(raw)


def _int_or_none(raw: str) -> int | None:
    """An integer, or ``none``/``off`` for None (``0`` stays 0, for the config to refuse)."""
    return None if raw.strip().lower() in ("none", "off") else int(raw)


def _recover_batch(raw: str) -> str:
    """``double``, ``finished``, ``need`` or ``one``; the older on/off spelling means ``need`` / ``one``."""
    v = raw.strip().lower()
    if v in ("double", "finished", "need", "one"):
        return v
    return "need" if _bool(v) else "one"


def _opt_float(raw: str) -> float | None:
    return None if raw.strip().lower() in ("none", "off", "") else float(raw)


def _bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


@register("deepprune", "judge clustering at the prefix, redundant traces stopped, pruned ones resumed while the "
                       "vote is contested: judge=lexical,tau=0.2,p=1,kmax=32,vote=representatives|largest|confidence,"
                       "k2=20,k3=10,prefix=tokens:64,recover=2,recover_batch=double|finished|need|one,verifiers=1,futile=0,futile_after=8,recover_max=none,probe=off,probe_weight=1,trust_probes=on,trust=none")
def _deepprune(params: dict[str, str]) -> StrategyFactory:
    return _deepprune_with(params, tau=0.2, prefix="tokens:64", recover=2, futile=0.0)


@register("deepprune-paper", "DeepPrune as published: judge=lexical,tau=0.5,prefix=words:25, no recovery "
                             "(same parameters as deepprune)")
def _deepprune_paper(params: dict[str, str]) -> StrategyFactory:
    return _deepprune_with(params, tau=0.5, prefix="words:25", recover=0, futile=0.0)


def _deepprune_with(params: dict[str, str], *, tau: float, prefix: str, recover: int,
                    futile: float) -> StrategyFactory:
    from deepprune.core.prefix import Truncation
    from deepprune.judges.registry import make_judge
    from deepprune.strategies.deepprune import DeepPruneConfig, DeepPruneStrategy

    default_kmax: int | None = 32
    vote = take(params, "vote", str, "representatives")
    cfg = DeepPruneConfig(
        tau=take(params, "tau", float, tau),
        p=take(params, "p", int, 1),
        kmax=take(params, "kmax", _opt_int, default_kmax, expects="an integer or 'none'"),
        vote=vote,
        k2=take(params, "k2", int, 20),
        k3=take(params, "k3", int, 10),
        prefix=Truncation.parse(take(params, "prefix", str, prefix)),
        recover=take(params, "recover", int, recover if vote != "largest" else 0),
        conf_keep=take(params, "conf_keep", float, 0.9),
        conf_score=take(params, "conf_score", str, "lowest"),
        conf_window=take(params, "conf_window", int, 2048),
        recover_batch=take(params, "recover_batch", _recover_batch, "double", expects="double, finished, need or one"),
        verifiers=take(params, "verifiers", int, 1, expects="a non-negative integer"),
        futile=take(params, "futile", float, futile),
        futile_after=take(params, "futile_after", int, 8),
        recover_max=take(params, "recover_max", _int_or_none, None, expects="a positive integer or 'none'"),
        probe=take(params, "probe", _bool, False, expects="on or off"),
        probe_weight=take(params, "probe_weight", float, 1.0),
        trust_probes=take(params, "trust_probes", _bool, True, expects="on or off"),
        trust=take(params, "trust", _opt_float, None, expects="a probability or 'none'"),
    )
    judge = make_judge(take(params, "judge", str, "lexical"), params)
    return lambda: DeepPruneStrategy(judge, cfg)


@register("deepconf", "offline DeepConf: all K finish, keep the top keep=0.9 by score=lowest|bottom10|mean|tail, "
                      "confidence-weighted vote (needs confidences)")
def _deepconf(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.deepconf import DeepConfOffline, DeepConfOfflineConfig

    cfg = DeepConfOfflineConfig(
        score=take(params, "score", str, "lowest"),
        keep=take(params, "keep", float, 0.9),
        weighted=take(params, "weighted", _bool, True, expects="on or off"),
        window=take(params, "window", int, 2048),
    )
    return lambda: DeepConfOffline(cfg)


def _deepconf_online(params: dict[str, str], keep: float, name: str) -> StrategyFactory:
    from deepprune.strategies.deepconf import DeepConfOnline, DeepConfOnlineConfig

    cfg = DeepConfOnlineConfig(
        keep=take(params, "keep", float, keep),
        warmup=take(params, "warmup", int, 16),
        window=take(params, "window", int, 2048),
        consensus=take(params, "consensus", float, 0.95),
        parallel=take(params, "parallel", int, 16),
    )

    def factory() -> DeepConfOnline:
        s = DeepConfOnline(cfg)
        s.name = name
        return s

    return factory


@register("deepconf-low", "online DeepConf keeping the top 10% of warm-up confidence (warmup=16, window=2048, "
                          "consensus=0.95, parallel=16; needs confidences)")
def _deepconf_low(params: dict[str, str]) -> StrategyFactory:
    return _deepconf_online(params, 0.1, "deepconf-low")


@register("deepconf-high", "online DeepConf keeping the top 90% of warm-up confidence (needs confidences)")
def _deepconf_high(params: dict[str, str]) -> StrategyFactory:
    return _deepconf_online(params, 0.9, "deepconf-high")


@register("esc", "early-stopping self-consistency: windows of w=5 traces, stop at a unanimous window")
def _esc(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.esc import EarlyStoppingSC

    w = take(params, "w", int, 5)
    EarlyStoppingSC(w)
    return lambda: EarlyStoppingSC(w)


@register("adaptive", "adaptive-consistency: sample until the Beta test settles the leader "
                      "(threshold=0.95, parallel=1)")
def _adaptive(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.adaptive import AdaptiveConsistency

    threshold = take(params, "threshold", float, 0.95)
    parallel = take(params, "parallel", int, 1)
    AdaptiveConsistency(threshold, parallel)
    return lambda: AdaptiveConsistency(threshold, parallel)


# ---------------------------------------------------------------- issue 12: short-m@k
@register("short-m", "short-m@k: launch K, stop all once the first m finish with an answer, vote among them: m=3")
def _short_m(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.short_m import ShortMStrategy

    m = take(params, "m", int, 3)
    ShortMStrategy(m)  # validate now, not per problem
    return lambda: ShortMStrategy(m)


@register("first-finish", "short-1@k: launch K, the first trace to finish with an answer answers")
def _first_finish(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.short_m import FirstFinishStrategy

    return FirstFinishStrategy


# ---------------------------------------------------------------- issue 12: confidence-weighted votes
@register("cisc", "confidence-informed self-consistency: all K finish, softmax(score / temperature) weights: "
                  "score=prob|logprob|mean|lowest|bottom10|tail, temperature=0.1 (inf: cons), window=2048 "
                  "(needs confidences)")
def _cisc(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.cisc import CISCConfig, CISCStrategy

    cfg = CISCConfig(score=take(params, "score", str, "prob"), temperature=take(params, "temperature", float, 0.1),
                     window=take(params, "window", int, 2048))
    return lambda: CISCStrategy(cfg)


@register("self-certainty", "self-certainty Borda vote: all K finish, ranked by mean KL from uniform over the "
                            "top-k, weight (N - rank + 1)^p: p=0.5, k=20 (needs confidences)")
def _self_certainty(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.self_certainty import SelfCertaintyConfig, SelfCertaintyStrategy

    cfg = SelfCertaintyConfig(p=take(params, "p", float, 0.5), k=take(params, "k", int, 20))
    return lambda: SelfCertaintyStrategy(cfg)


@register("rpc", "reasoning-pruning perplexity consistency: all K finish, low-probability traces pruned "
                 "(prune=weibull|mean|none), vote weighted by exp(mean logprob), dedup=true "
                 "(needs sampled-token logprobs)")
def _rpc(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.rpc import RPCConfig, RPCStrategy

    cfg = RPCConfig(prune=take(params, "prune", str, "weibull"), dedup=take(params, "dedup", _bool, True, expects="on or off"))
    return lambda: RPCStrategy(cfg)


# ---------------------------------------------------------------- issue 12: probe-based early exit
@register("probe-exit", "Dynasor-CoT early exit: probe every running trace every=64 tokens, stop a trace once its "
                        "last agree=3 probes agree (it votes with that answer), stop the problem when all answers "
                        "and running probes agree (consensus=on, min_traces=2) (needs probes)")
def _probe_exit(params: dict[str, str]) -> StrategyFactory:
    from deepprune.strategies.probe_exit import ProbeExitStrategy

    every = take(params, "every", int, 64)
    agree = take(params, "agree", int, 3)
    consensus = take(params, "consensus", _bool, True, expects="on or off")
    min_traces = take(params, "min_traces", int, 2)
    ProbeExitStrategy(every, agree, consensus, min_traces)  # validate now
    return lambda: ProbeExitStrategy(every, agree, consensus, min_traces)


# ---------------------------------------------------------------- issue 12: similarity-based pruning
@register("slim-sc", "Slim-SC (arXiv 2509.13990): every=64 tokens, stop one trace of each running pair more "
                     "similar than threshold=0.9 (sim=lexical|minilm, prune=random|redundant); finished traces vote")
def _slim_sc(params: dict[str, str]) -> StrategyFactory:
    from deepprune.judges.registry import make_judge
    from deepprune.strategies.slim_sc import SlimSCConfig, SlimSCStrategy

    cfg = SlimSCConfig(threshold=take(params, "threshold", float, 0.9), every=take(params, "every", int, 64),
                       prune=take(params, "prune", str, "random"))
    judge = make_judge(take(params, "sim", str, "lexical"), params)
    return lambda: SlimSCStrategy(judge, cfg)


@register("st-bon", "ST-BoN self-truncation (arXiv 2503.01422), text variant: decode all K until every pair of "
                    "prefixes differs (every=4, min_tokens=0, max_tokens=512) plus buffer=1.0 x that, keep the trace "
                    "most similar to the others (sim=lexical|minilm), stop the rest; it answers")
def _st_bon(params: dict[str, str]) -> StrategyFactory:
    from deepprune.judges.registry import make_judge
    from deepprune.strategies.st_bon import STBoNConfig, STBoNStrategy

    cfg = STBoNConfig(every=take(params, "every", int, 4), buffer=take(params, "buffer", float, 1.0),
                      min_tokens=take(params, "min_tokens", int, 0), max_tokens=take(params, "max_tokens", int, 512))
    judge = make_judge(take(params, "sim", str, "lexical"), params)
    return lambda: STBoNStrategy(judge, cfg)
