"""The `seqgrad` command line: one subcommand per module in seqgrad/commands.

Each command module has `add_parser(subparsers)` and `run(args) -> int`. Errors a
user can fix (bad arguments, a missing file, an incompatible checkpoint) print one
line to stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("demo", "train", "sample", "graph", "gradflow", "tasks", "codegen", "explore", "export", "seq2seq",
            "translate")


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqgrad", description="See and build recurrent networks.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"seqgrad.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"seqgrad.commands.{name}":
                raise
            continue
        command = module.add_parser(subparsers)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UsageError as error:
        print(f"seqgrad {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        print(f"seqgrad {args.command}: error: {error.strerror}: {error.filename}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"seqgrad {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
