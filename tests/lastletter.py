"""A small, seeded last-letter-concatenation trace dataset (generic JSON Lines), for answer-kind tests.

Each problem asks for the last letters of three names, concatenated ("Olivia Raj Noah Kay" ->
``ajhy``); each of its K traces ends in a final answer written in one of the phrasings models use
(``\\boxed{}``, "The answer is X.", "Answer: X", "**Final answer:** X"). A trace is right with a
per-problem probability; a wrong trace gives the right letters in the wrong order (the usual
slip) or one letter wrong. Under math-verify a permutation is the same product of symbols, so a
math-kind replay counts those problems as solved; under the ``text`` kind it does not.

Run as a script to write the file: ``python tests/lastletter.py OUT.jsonl``.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

NAMES = [
    "Olivia", "Raj", "Noah", "Kay", "Liam", "Emma", "Sofia", "Mateo", "Yuki", "Ravi", "Ingrid", "Omar",
    "Chen", "Fatima", "Lucas", "Zoe", "Hugo", "Aditi", "Pablo", "Greta", "Tariq", "Mei", "Jonas",
    "Amara", "Felix", "Nadia", "Kofi", "Elif", "Diego", "Hana", "Bjorn", "Lena", "Tomas", "Priya",
    "Sven", "Ayla", "Marek", "Ines", "Dev", "Rosa",
]

TEMPLATES = [
    "The last letters are {letters}. Concatenating them gives \\boxed{{{answer}}}.",
    "Taking the last letter of each word: {letters}. The answer is {answer}.",
    "Last letters: {letters}.\nAnswer: {answer}",
    "Let me take the last letters: {letters}. Putting them together.\n\n**Final answer:** {answer}",
]


def _wrong(gold: str, rng: random.Random) -> str:
    letters = list(gold)
    if len(set(letters)) > 1 and rng.random() < 0.6:
        while "".join(letters) == gold:
            rng.shuffle(letters)
        return "".join(letters)
    i = rng.randrange(len(letters))
    letters[i] = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != letters[i]])
    return "".join(letters)


def make_rows(n_problems: int = 40, k: int = 8, seed: int = 0) -> list[dict[str, Any]]:
    """One JSON object per problem: ``id``, ``question``, ``gold``, ``texts`` (K traces).

    Every problem's answers have a strict plurality (no tie), so exact-match majority voting
    has one right result: :func:`exact_vote_accuracy`.
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n_problems):
        words = rng.sample(NAMES, 3)
        gold = "".join(w[-1].lower() for w in words)
        p_right = rng.uniform(0.15, 0.65)
        wrongs = [_wrong(gold, rng) for _ in range(2)]  # a problem's errors repeat, so they can win a vote
        while True:  # redraw until one answer has a strict plurality: the right vote is unambiguous
            answers = [gold if rng.random() < p_right else rng.choice(wrongs) for _ in range(k)]
            counts = sorted(Counter(answers).values(), reverse=True)
            if len(counts) == 1 or counts[0] > counts[1]:
                break
        texts = [rng.choice(TEMPLATES).format(letters=", ".join(a), answer=a) for a in answers]
        question = f'Take the last letters of the words in "{" ".join(words)}" and concatenate them.'
        rows.append({"id": f"lastletter-{i}", "question": question, "gold": gold, "texts": texts})
    return rows


def answer_of(text: str) -> str:
    """The final answer a generated trace was written with (the generator's own record)."""
    for marker in ("\\boxed{", "The answer is ", "Answer: ", "**Final answer:** "):
        if marker in text:
            return text.rsplit(marker, 1)[1].split("}")[0].split(".")[0].strip()
    raise ValueError(text)


def exact_vote_accuracy(rows: list[dict[str, Any]]) -> float:
    """cons@K accuracy by exact string majority (the right figure for this dataset)."""
    right = 0
    for row in rows:
        winner, _ = Counter(answer_of(t) for t in row["texts"]).most_common(1)[0]
        right += winner == row["gold"]
    return right / len(rows)


MAPPING = "problem_id=id,question=question,gold=gold,text=texts"
"""The ``--map`` of the file :func:`write` makes."""


def write(path: Path, **kwargs: Any) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in make_rows(**kwargs)), encoding="utf-8")
    return path


if __name__ == "__main__":
    out = write(Path(sys.argv[1]))
    acc = exact_vote_accuracy(make_rows())
    sys.stdout.write(f"wrote {out}; load with --format generic --map {MAPPING}; exact-vote cons@8 {acc:.1%}\n")
