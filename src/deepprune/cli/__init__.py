"""The ``deepprune`` command line. Each subcommand lives in its own module in this package and
exposes ``add_parser(subparsers)``; the module parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import sys
from collections.abc import Sequence

from deepprune.core.errors import DeepPruneError
from deepprune.core.redact import install_log_redaction, redact

__all__ = ["main"]

# Subcommand modules, in help order. Modules that are not present are skipped.
COMMANDS = ["demo", "bench", "datasets", "collect", "probe", "determinacy", "run", "local_server", "replay_server",
            "loadgen", "judge", "leaderboard", "simulate"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepprune",
        description="Cheap parallel reasoning: prune redundant self-consistency traces.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"deepprune.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"deepprune.cli.{name}":
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.command_line = "deepprune " + shlex.join(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()  # no credential in any log line (ours or httpx's request URLs)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DeepPruneError as exc:
        print(f"deepprune: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deepprune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
