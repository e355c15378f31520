"""How much of a trace's final answer is decided by its first N tokens? (issue 10: the judge ceiling)

Now the product command ``deepprune determinacy`` (library: :mod:`deepprune.engine.determinacy`;
docs/determinacy.md). This script only forwards to it, so the commands in BENCHMARKS.md still run:

    python benchmarks/answer_determinacy.py run default --base-url URL --model M --at 64 ... --out F.jsonl
    python benchmarks/answer_determinacy.py report default F.jsonl --at 64 [--json out.json]

are ``deepprune determinacy default --at tokens:64 ...`` and
``deepprune determinacy report default F.jsonl --at tokens:64 ...``. Header-less files written by
the earlier version of this script are read by ``report``; ``run`` resumes only files of the
command (a header line), so continue an old file into a new --out.
"""

from __future__ import annotations

import sys

from deepprune.cli import main as deepprune_main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("run", "report"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, rest = args[0], args[1:]
    # --at N (the old spelling) -> --at tokens:N
    for i, a in enumerate(rest[:-1]):
        if a == "--at" and rest[i + 1].isdigit():
            rest[i + 1] = f"tokens:{rest[i + 1]}"
    if "--at" not in rest and not any(a.startswith("--at=") for a in rest):
        rest += ["--at", "tokens:64"]
    return deepprune_main(["determinacy", *(["report"] if mode == "report" else []), *rest])


if __name__ == "__main__":
    raise SystemExit(main())
