"""The `seqgrad` command line: one subcommand per module in seqgrad/commands.

Each command module has `add_parser(subparsers)` and `run(args) -> int`. Errors a
user can fix (bad arguments, a missing file, an incompatible checkpoint) print one
line to stderr and exit non-zero; `seqgrad --debug COMMAND ...` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from .commands._options import one_line_errors

COMMANDS = ("demo", "train", "sample", "graph", "gradflow", "tasks", "codegen", "explore", "export", "seq2seq",
            "translate")


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = one_line_errors(argparse.ArgumentParser(prog="seqgrad", description="See and build recurrent networks."))
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"seqgrad.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"seqgrad.commands.{name}":
                raise
            continue
        command = one_line_errors(module.add_parser(subparsers))
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"seqgrad {args.command}: error:"
    try:
        return int(args.run(args) or 0)
    except UsageError as error:
        return _fail(args, f"{prefix} {error}", 2)
    except OSError as error:
        if error.strerror and error.filename is not None:
            return _fail(args, f"{prefix} {error.strerror}: {error.filename}", 1)
        return _fail(args, f"{prefix} {error.strerror or error}", 1)
    except MemoryError as error:
        detail = f" ({error})" if str(error) else ""
        return _fail(args, f"{prefix} out of memory{detail}; choose smaller sizes", 1)
    except ValueError as error:
        return _fail(args, f"{prefix} {error}", 1)
    except KeyboardInterrupt:
        print(f"seqgrad {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    """Print `message` as one line (the traceback too with --debug); return the exit status."""
    if args.debug:
        traceback.print_exc()
    print(" ".join(message.split()), file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
