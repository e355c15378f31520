"""Answer kinds beyond math: text and yesno (issue 12, item 1).

Table tests of real cases per kind (last-letter concatenations, names, short phrases, yes/no),
the repro that opened the issue (``answers_equal("yajo", "ojay")`` was True: math-verify reads
letters as a product of symbols), a property-style check that no two distinct letter strings
compare equal as text, kind detection from gold answers, the generic loader's ``kind`` / ``--kind``,
bad kind names, and a cons@K replay on a generated last-letter dataset whose accuracy is known.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

import deepprune as dp
from deepprune.cli import main
from deepprune.core.answers import (
    answers_equal,
    canonical_key,
    detect_kind,
    extract_answer,
    group_answers,
    parse_kind,
    text_key,
    yesno_key,
)
from deepprune.core.errors import ConfigError, DataError
from deepprune.core.types import AnswerKind, Problem, Trace, TraceSet
from deepprune.core.voting import majority_vote
from deepprune.formats.loaders import load_generic, load_traces, parse_mapping
from deepprune.formats.tracefile import read_traces, write_traces
from lastletter import MAPPING, exact_vote_accuracy, make_rows, write

# (gold, prediction, equal) -- text
TEXT_CASES = [
    # the repro: a last-letter concatenation and its permutation
    ("ojay", "yajo", False),
    ("yajo", "ojay", False),
    ("ojay", "ojay", True),
    ("ojay", "OJAY", True),
    ("ojay", " ojay. ", True),
    ("ojay", "**ojay**", True),
    ('ojay', '"ojay"', True),
    ("ojay", r"\text{ojay}", True),
    ("ojay", r"$\mathrm{ojay}$", True),
    ("ojay", "oja", False),
    ("ojay", "ojayy", False),
    ("ojay", "o j a y", False),
    ("nkye", "nkey", False),
    ("abc", "cba", False),
    ("aab", "aba", False),
    # names and places
    ("Eiffel Tower", "The Eiffel Tower", True),
    ("Eiffel Tower", "eiffel tower.", True),
    ("New York", "new  york", True),
    ("New York", "New York City", False),
    ("New York", "York New", False),
    ("Marie Curie", "marie curie!", True),
    ("Marie Curie", "Pierre Curie", False),
    ("St. Louis", "st. louis", True),
    ("St. Louis", "St Louis", False),
    ("Apollo 11", "apollo 11", True),
    ("Apollo 11", "Apollo 13", False),
    ("Zoë", "ZOË", True),
    ("café", "cafe", False),
    ("Ｐａｒｉｓ", "Paris", True),
    # short phrases and articles
    ("the mitochondria", "Mitochondria", True),
    ("an apple", "apple", True),
    ("a", "A", True),
    ("the", "The.", True),
    ("Tower of the Winds", "tower of winds", False),
    ("red and blue", "blue and red", False),
    ("C++", "c++", True),
    ("C++", "C", False),
    ("rock-n-roll", "rock n roll", False),
    ("dog", "dogs", False),
    ("dog", "god", False),
    # text answers are never numbers in disguise
    ("12", "12.0", False),
    ("", "", False),
]

# (gold, prediction, equal) -- yesno
YESNO_CASES = [
    ("yes", "Yes", True),
    ("yes", "yes.", True),
    ("yes", "TRUE", True),
    ("yes", "**Yes**", True),
    ("yes", r"\text{yes}", True),
    ("Yes", "true", True),
    ("no", "No", True),
    ("no", "false", True),
    ("no", "FALSE.", True),
    ("False", "no", True),
    ("yes", "no", False),
    ("yes", "false", False),
    ("true", "No", False),
    ("yes", "maybe", False),
    ("yes", "yes and no", False),
    ("no", "None", False),
    ("no", "know", False),
    ("yes", "yess", False),
]

# (gold, prediction, kind, equal) -- the other kinds keep their behaviour
OTHER_CASES = [
    ("B", r"\text{(B)}", "choice", True),
    ("B", "C", "choice", False),
    ("007", "7", "integer", True),
    ("42", "42.0", "integer", True),
    (r"\frac{1}{2}", "0.5", "math", True),
    ("3", "4", "math", False),
]


@pytest.mark.parametrize(("gold", "pred", "equal"), TEXT_CASES)
def test_text_table(gold: str, pred: str, equal: bool) -> None:
    assert answers_equal(gold, pred, "text") is equal
    assert answers_equal(gold, pred, AnswerKind.TEXT) is equal
    if pred and gold:
        assert (canonical_key(gold, "text") == canonical_key(pred, "text")) is equal


@pytest.mark.parametrize(("gold", "pred", "equal"), YESNO_CASES)
def test_yesno_table(gold: str, pred: str, equal: bool) -> None:
    assert answers_equal(gold, pred, "yesno") is equal


@pytest.mark.parametrize(("gold", "pred", "kind", "equal"), OTHER_CASES)
def test_other_kinds_unchanged(gold: str, pred: str, kind: str, equal: bool) -> None:
    assert answers_equal(gold, pred, kind) is equal


def test_repro_from_the_issue() -> None:
    assert answers_equal("yajo", "ojay", kind="text") is False
    assert detect_kind("ojay") is AnswerKind.TEXT
    assert detect_kind("yajo") is AnswerKind.TEXT


def test_text_key_rules() -> None:
    assert text_key("  The   Eiffel\tTower.  ") == "eiffel tower"
    assert text_key('the "Eiffel Tower"') == "eiffel tower"
    assert text_key(r"\textbf{\text{Paris}}") == "paris"
    assert text_key("(Paris)") == "paris"
    assert text_key("¿Qué?") == "qué"
    assert text_key("The") == "the"  # an article alone is kept
    assert text_key("theory") == "theory"  # not an article
    assert text_key("...") == ""
    assert [yesno_key(a) for a in ("Yes", "yes.", "TRUE", "No", "false", "Nope")] == \
        ["yes", "yes", "yes", "no", "no", "nope"]


def _letter_strings() -> list[str]:
    words = [w.lower() for w in ("ojay", "yajo", "nkye", "abcd", "dcba", "hello", "world", "paris", "tower",
                                   "listen", "silent", "enlist", "evil", "vile", "live", "veil", "stop",
                                   "pots", "tops", "spot", "opts", "post", "ab", "ba", "aa", "aab")]
    perms = {"".join(p) for base in ("ojay", "abcd", "aabc", "xyz") for p in itertools.permutations(base)}
    rng = random.Random(12)
    rand = {"".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 5))) for _ in range(300)}
    return sorted(set(words) | perms | rand)


def test_no_two_distinct_letter_strings_are_equal_as_text() -> None:
    """Property-style: distinct strings of letters never compare equal (under any casing)."""
    strings = _letter_strings()
    assert len(strings) > 300
    keys = [canonical_key(s, "text") for s in strings]
    assert len(set(keys)) == len(strings)
    rng = random.Random(3)
    for a, b in itertools.combinations(strings, 2):
        if rng.random() < 0.05 or sorted(a) == sorted(b):  # every permutation pair, a sample of the rest
            assert not answers_equal(a, b, "text"), (a, b)
            assert not answers_equal(a.upper(), b, "text"), (a, b)
            assert not answers_equal(a, b, "yesno"), (a, b)
    for s in strings:
        assert answers_equal(s, s.upper(), "text")
        assert answers_equal(s, f" {s.capitalize()}. ", "text")


def test_distinct_phrases_are_distinct_as_text() -> None:
    phrases = ["New York", "York New", "New Jersey", "new york city", "The Hague", "Hague", "the who",
               "who", "red and blue", "blue and red", "Louis XIV", "Louis XVI", "Apollo 11", "Apollo 13"]
    groups = group_answers(phrases, "text")
    assert groups == [0, 1, 2, 3, 4, 4, 5, 5, 6, 7, 8, 9, 10, 11]  # a leading article goes: only the/no-the pairs merge


# (text, kind, extracted)
EXTRACT_CASES = [
    ("The last letters are o, j, a, y. The answer is ojay.", "text", "ojay"),
    ("Answer: ojay", "text", "ojay"),
    ("so the final answer is **ojay**.", "text", "ojay"),
    ("Putting them together.\n\n**Final Answer:** Ojay\n", "text", "Ojay"),
    ("Putting them together we get **ojay**", "text", "ojay"),
    (r"The answer is not clear yet... \boxed{\text{ojay}}", "text", "ojay"),
    (r"**ojay** is wrong; \boxed{yajo}", "text", "yajo"),  # \boxed{} first
    ('The answer is "Eiffel Tower".', "text", "Eiffel Tower"),
    ("I do not know", "text", None),
    ("Yes, because penguins are birds.", "yesno", "Yes"),
    ("The answer is: No, since 7 is odd.", "yesno", "No"),
    ("**Answer:** TRUE.", "yesno", "TRUE"),
    ("Let me think.\nSo it is not.\nno", "yesno", "no"),
    (r"\boxed{No}", "yesno", "No"),
    ("Maybe.", "yesno", None),
    # math and choice extraction is unchanged
    (r"so \boxed{\frac{1}{2}}", "math", r"\frac{1}{2}"),
    ("We get **42**", "math", None),
    ("Therefore, the answer is (C).", "choice", "C"),
]


@pytest.mark.parametrize(("text", "kind", "expected"), EXTRACT_CASES)
def test_extract_text_and_yesno(text: str, kind: str, expected: str | None) -> None:
    assert extract_answer(text, kind) == expected


def test_vote_groups_by_the_same_normalisation() -> None:
    vote = majority_vote(["Louvre", "The Eiffel Tower", "eiffel tower.", "louvre museum"], kind="text")
    assert vote.answer == "The Eiffel Tower"
    assert (vote.weight, vote.groups) == (2.0, 3)
    assert group_answers(["Yes", "TRUE", "no", "false.", None, "maybe"], "yesno") == [0, 0, 1, 1, -1, 2]
    assert majority_vote(["yajo", "ojay", "ojay", "jayo", "yajo", "yajo"], kind="text").answer == "yajo"
    assert majority_vote(["yajo", "ojay", "ojay"], kind="text").groups == 2


# (gold, detected kind)
DETECT_CASES = [
    ("ojay", "text"),
    ("New York", "text"),
    ("Marie Curie", "text"),
    ("Apollo 11", "text"),
    (r"\text{Evelyn}", "text"),
    ("yes", "yesno"),
    ("No.", "yesno"),
    ("TRUE", "yesno"),
    ("false", "yesno"),
    ("42", "math"),
    ("-3", "math"),
    ("1,000", "math"),
    ("3.5", "math"),
    (r"\frac{1}{2}", "math"),
    (r"11\sqrt2", "math"),
    ("x^2+1", "math"),
    ("2x", "math"),
    ("x", "math"),
    ("C", "math"),  # a lone letter is never guessed as choice (GPQA files say choice themselves)
    (r"\text{(C)}", "math"),
    ("A, C", "math"),
    ("(1, 2)", "math"),
    ("5 cm", "math"),
    ("2 pi", "math"),
    ("infinity", "math"),
    ("$x$", "math"),
    ("", "math"),
    (None, "math"),
]


@pytest.mark.parametrize(("gold", "kind"), DETECT_CASES)
def test_detect_kind(gold: str | None, kind: str) -> None:
    assert detect_kind(gold) is AnswerKind(kind)


def test_detect_kind_on_shared_benchmark_golds(benchmarks_dir: Path) -> None:
    """Every gold of the shared benchmarks detects as math but MATH-500's five word answers.

    Those (``\\text{Evelyn}`` ...) are words, so text; the math500 file keeps its fixed math kind.
    """
    words = []
    for path in sorted(benchmarks_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):  # not splitlines: U+2028 in texts
            if not line.strip():
                continue
            gold = str(json.loads(line)["answer"])
            if "####" in gold:
                gold = gold.rsplit("####", 1)[1].strip()
            if detect_kind(gold) is not AnswerKind.MATH:
                words.append((path.name, gold, str(detect_kind(gold))))
    assert words == [("math500.jsonl", rf"\text{{{w}}}", "text") for w in ("Evelyn", "east", "even", "ellipse", "Navin")]
    assert {str(p.kind) for p in dp.load_problems(benchmarks_dir / "math500.jsonl")} == {"math"}
    assert answers_equal(r"\text{Evelyn}", "Evelyn", "text")


# ------------------------------------------------------------------ kind names
def test_parse_kind() -> None:
    assert [parse_kind(k) for k in ("math", "INTEGER", " choice ", "text", "yesno")] == list(AnswerKind)
    with pytest.raises(ConfigError, match=r"--kind must be one of math, integer, choice, text, yesno, got 'words'"):
        parse_kind("words", "--kind")


@pytest.mark.parametrize("call", [
    lambda: answers_equal("a", "b", "string"),
    lambda: canonical_key("a", "string"),
    lambda: extract_answer("Answer: a", "string"),
    lambda: group_answers(["a"], "string"),
    lambda: majority_vote(["a"], kind="string"),
])
def test_bad_kind_names_in_the_api(call: object) -> None:
    with pytest.raises(ConfigError, match="kind must be one of math, integer, choice, text, yesno"):
        call()  # type: ignore[operator]


# ------------------------------------------------------------------ loaders
def _generic_file(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "g.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS: list[dict[str, object]] = [
    {"qid": "ll", "gt": "ojay", "resp": ["The answer is ojay.", "Answer: yajo", "**Final answer:** OJAY"]},
    {"qid": "yn", "gt": "yes", "resp": ["Yes, it does.", "The answer is false."]},
    {"qid": "num", "gt": "12", "resp": [r"so \boxed{12}", "The answer is 12."]},
    {"qid": "city", "gt": "The Eiffel Tower", "resp": [r"\boxed{\text{Eiffel Tower}}"]},
]
MAP = parse_mapping("problem_id=qid,gold=gt,text=resp")


def test_generic_loader_detects_kinds(tmp_path: Path) -> None:
    ts = load_traces(_generic_file(tmp_path, ROWS), "generic", mapping=MAP)
    assert [str(p.kind) for p in ts.problems] == ["text", "yesno", "math", "text"]
    assert [t.answer for t in ts.traces_of("ll")] == ["ojay", "yajo", "OJAY"]
    assert [t.answer for t in ts.traces_of("yn")] == ["Yes", "false"]
    results = dp.run_sync(dp.build_strategy("cons"), dp.ReplaySource(ts), ts.problems, budget=8)
    assert {r.problem_id: r.correct for r in results} == {"ll": True, "yn": True, "num": True, "city": True}


def test_generic_loader_kind_overrides(tmp_path: Path) -> None:
    path = _generic_file(tmp_path, ROWS)
    ts = load_generic(path, MAP, kind="text")
    assert {str(p.kind) for p in ts.problems} == {"text"}
    ts = load_generic(path, MAP, kind=AnswerKind.MATH)
    assert {str(p.kind) for p in ts.problems} == {"math"}
    # the explicit kind beats a mapped kind field, which beats detection
    rows = [{**r, "k": "yesno" if r["qid"] == "yn" else "text"} for r in ROWS]
    path = _generic_file(tmp_path, rows)
    mapping = {**MAP, "kind": "k"}
    assert [str(p.kind) for p in load_generic(path, mapping).problems] == ["text", "yesno", "text", "text"]
    assert {str(p.kind) for p in load_generic(path, mapping, kind="integer").problems} == {"integer"}


def test_generic_loader_bad_kinds(tmp_path: Path) -> None:
    path = _generic_file(tmp_path, [{**r, "k": "essay"} for r in ROWS])
    with pytest.raises(ConfigError, match="kind must be one of math, integer, choice, text, yesno, got 'prose'"):
        load_generic(path, MAP, kind="prose")
    with pytest.raises(ConfigError, match="--kind must be one of"):
        load_traces(path, "generic", mapping=MAP, kind="prose")
    with pytest.raises(DataError, match=r"g.jsonl:1, field 'k': unknown answer kind 'essay' "
                                        r"\(one of math, integer, choice, text, yesno\)"):
        load_generic(path, {**MAP, "kind": "k"})


def test_kind_refused_for_files_that_carry_kinds(tmp_path: Path) -> None:
    ts = load_traces(_generic_file(tmp_path, ROWS), "generic", mapping=MAP)
    v1 = tmp_path / "v1.jsonl"
    write_traces(ts, v1)
    with pytest.raises(ConfigError, match="--kind must be used only with --format generic or qwen"):
        load_traces(v1, kind="text")


def test_v1_round_trips_the_new_kinds(tmp_path: Path) -> None:
    problems = (Problem("a", "q", "ojay", AnswerKind.TEXT), Problem("b", "q", "yes", AnswerKind.YESNO),
                Problem("c", "q", "3", AnswerKind.INTEGER))
    traces = {p.id: (Trace(p.id, 0, "t", 1, p.gold),) for p in problems}
    path = tmp_path / "kinds.jsonl"
    write_traces(TraceSet(problems, traces, {}), path)
    back = read_traces(path)
    assert [p.kind for p in back.problems] == [AnswerKind.TEXT, AnswerKind.YESNO, AnswerKind.INTEGER]
    # a problem record without a kind gets the detected one; a bad kind names the values
    lines = path.read_text(encoding="utf-8").splitlines()
    recs = [json.loads(line) for line in lines]
    for rec in recs:
        rec.pop("kind", None)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    assert [str(p.kind) for p in read_traces(path).problems] == ["text", "yesno", "math"]
    recs[1]["kind"] = "Text!"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    with pytest.raises(DataError, match=r"field 'kind': unknown answer kind 'Text!' "
                                        r"\(math, integer, choice, text, yesno\)"):
        read_traces(path)


def test_cli_kind_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "lastletter.jsonl", n_problems=6)
    out = tmp_path / "rows.json"
    assert main(["bench", str(path), "--format", "generic", "--map", MAPPING, "--kind", "text", "-s", "cons",
                 "--no-progress", "--json", str(out)]) == 0
    assert json.loads(out.read_text())[0]["accuracy"] == pytest.approx(exact_vote_accuracy(make_rows(6)))
    capsys.readouterr()
    assert main(["bench", str(path), "--format", "generic", "--map", MAPPING, "--kind", "words", "-s", "cons",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "--kind must be one of math, integer, choice, text, yesno, got 'words'" in err
    assert main(["bench", "default", "--kind", "text", "-s", "cons", "--no-progress"]) == 1
    assert "--kind must be used only with --format generic or qwen" in capsys.readouterr().err


# ------------------------------------------------------------------ cons@K on last-letter data
def test_cons_accuracy_on_last_letter_dataset(tmp_path: Path) -> None:
    """cons@8 on generated last-letter traces equals exact-match voting (math-verify overcounts)."""
    rows = make_rows()
    expected = exact_vote_accuracy(rows)
    path = write(tmp_path / "lastletter.jsonl")
    mapping = parse_mapping(MAPPING)
    detected = load_traces(path, "generic", mapping=mapping)
    assert {str(p.kind) for p in detected.problems} == {"text"}
    (row,) = dp.bench([detected], ["cons"], orderings=3)
    assert row.accuracy == pytest.approx(expected)
    assert expected == pytest.approx(0.45)  # 18 of 40 problems
    # read as math, permutations of the right letters count as right: the old, too-high figure
    (as_math,) = dp.bench([load_traces(path, "generic", mapping=mapping, kind="math")], ["cons"])
    assert as_math.accuracy > expected + 0.2


def test_benchmark_files_detect_unknown_layouts(tmp_path: Path) -> None:
    rows = [{"question": "Last letters of 'Olivia Raj Noah Kay'?", "answer": "ajhy"},
            {"question": "Is 7 prime?", "answer": "Yes"}, {"question": "1+1?", "answer": "2"}]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "lastletter.jsonl").write_text(text, encoding="utf-8")
    (tmp_path / "math_words.jsonl").write_text(text, encoding="utf-8")
    probs = dp.load_problems(tmp_path / "lastletter.jsonl")
    assert [str(p.kind) for p in probs] == ["text", "yesno", "math"]
    assert {str(p.kind) for p in dp.load_problems(tmp_path / "math_words.jsonl")} == {"math"}  # a known layout
    assert {str(p.kind) for p in dp.load_problems(tmp_path / "lastletter.jsonl", kind=AnswerKind.TEXT)} == {"text"}
