"""``diffsearch``: the command-line entry point.

Each subcommand lives in its own module under ``ui/commands`` and registers itself; the
handler it sets returns an exit code. Errors users can fix print one readable line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

import ui.commands
from ui.errors import user_error_types
from ui.interrupts import exit_code, sigterm_as_interrupt

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffsearch",
        description="Search your documents with diffusion-LM and AR-LM embeddings, side by side.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(ui.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"ui.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    user_errors = user_error_types()
    try:
        from ui.options import apply_vector_args

        apply_vector_args(args)  # --dim/--quantize/--pool-template: into each -e's name
        with sigterm_as_interrupt():  # SIGTERM unwinds like Ctrl-C (ui/interrupts.py)
            return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as ui.interrupts.Terminated
        print("interrupted", file=sys.stderr)
        return exit_code(exc)
    except user_errors as exc:
        print(f"diffsearch {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
