"""``diffsearch``: the command-line entry point.

Each subcommand lives in its own module under ``ui/commands`` and registers itself; the
handler it sets returns an exit code. Errors users can fix print one readable line and exit 2.
"""

from __future__ import annotations

import argparse
import errno
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
    except OSError as exc:  # a full disk under a file diffsearch writes itself (reports, judgments)
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"diffsearch {args.command}: error: {disk_full_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def disk_full_line(exc: OSError) -> str:
    """One line for a full disk met while writing ``exc.filename`` (outside the store)."""
    name = exc.filename or "a file"
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(str(name))) if exc.filename else ".")
        free = f" ({st.f_bavail * st.f_frsize / 2**20:.1f} MB free there)"
    except OSError:
        free = ""
    return (f"no space left on the disk while writing {name}{free}; free some space (or write "
            "somewhere else) and run the same command again")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
