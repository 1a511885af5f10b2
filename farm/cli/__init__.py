"""The ``farm`` command line: render, plan, demo, doctor, look, cache, check, bench, up, down.

Each command module has ``configure_parser(parser)`` and ``run(args) -> int``;
this one builds the parser and turns what a command raises into one message
and an exit code: every :class:`farm.errors.FarmError` its own (65 bad cut or
media, 66 missing input, 69 backend unavailable, 70 internal, 73 cannot write
output), argparse's usage errors 2, Ctrl-C 130. A reader that goes away
(``farm doctor --json | head -1``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from types import ModuleType

from farm import __version__
from farm.cli import bench, cache, check, demo, doctor, down, look, plan, render, up
from farm.errors import FarmError

__all__ = ["build_parser", "main"]

#: exit status of a command whose reader closed stdout: a process killed by SIGPIPE (128 + 13)
EXIT_BROKEN_PIPE = 141

_COMMANDS: tuple[tuple[str, ModuleType, str], ...] = (
    ("render", render, render.HELP),
    ("plan", plan, plan.HELP),
    ("demo", demo, demo.HELP),
    ("doctor", doctor, "GPUs, NVDEC/NVENC, backend choice and Ray resources of this machine"),
    ("look", look, look.HELP),
    ("cache", cache, cache.HELP),
    ("check", check, check.HELP),
    ("bench", bench, bench.HELP),
    ("up", up, up.HELP),
    ("down", down, down.HELP),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``farm`` parser; each subcommand's ``run`` is in ``args.run``."""
    parser = argparse.ArgumentParser(prog="farm", description="Render every variant cut of a film, fast.")
    parser.add_argument("--version", action="version", version=f"farm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in _COMMANDS:
        command = sub.add_parser(name, help=help_text)
        module.configure_parser(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``farm`` command and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        run: Callable[[argparse.Namespace], int] = args.run
        status = run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except FarmError as exc:
        print(f"farm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "farm: interrupted; finished segments stay in the cache and are reused next time", file=sys.stderr
        )
        return 130
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (an embedding replaced it): nothing to guard
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
