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
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from farm import __version__
from farm.errors import FarmError

__all__ = ["build_parser", "entry", "main"]

#: exit status of a command whose reader closed stdout: a process killed by SIGPIPE (128 + 13)
EXIT_BROKEN_PIPE = 141

#: each command, its module under ``farm.cli`` and its one-line help. Only the module of the command
#: being run is imported (a render never loads the code of ``bench``, ``doctor`` or ``cache``).
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("render", "render variants of a project to MP4 files"),
    ("plan", "show each variant's frames and segments, what they share, and what the cache already holds"),
    ("demo", 'write the "In a City" demo project and render it'),
    ("doctor", "GPUs, NVDEC/NVENC, backend choice and Ray resources of this machine"),
    ("look", "match a clip's colour to a reference and write the look as a .cube"),
    ("cache", "list, measure and trim the segment cache"),
    ("check", "compare each variant's render with its approved golden (JUnit for CI)"),
    ("bench", "time a cold render stage by stage (JSON, Chrome trace, picture), optionally against FFmpeg"),
    ("up", "start a local Ray that later renders join (no start-up per render)"),
    ("down", "stop the local Ray that farm up started"),
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``farm`` parser; each subcommand's ``run`` is in ``args.run``.

    With ``only``, just that command's module is imported and its options configured (the others
    are listed with their help, for ``farm --help``); by default every command is.
    """
    parser = argparse.ArgumentParser(prog="farm", description="Render every variant cut of a film, fast.")
    parser.add_argument("--version", action="version", version=f"farm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in _COMMANDS:
        command = sub.add_parser(name, help=help_text)
        if only is None or name == only:
            module = importlib.import_module(f"farm.cli.{name}")
            module.configure_parser(command)
            command.set_defaults(run=module.run)
    return parser


def entry() -> None:
    """The ``farm`` program: :func:`main` in a child process (:mod:`farm.cli.supervise` words a native
    crash), then the process ends.

    A render that joined a running Ray (``farm up``) leaves it by ending the process, output
    flushed, rather than by ``ray.shutdown()``, which waits about 0.3 s for nothing a user needs.
    """
    from farm.cli import supervise

    watched = supervise.watch()  # in the parent: the child ran the command, this is its status
    if watched is not None:
        os._exit(watched)  # nothing to clean up here, and an interpreter's teardown costs ~20 ms
    from farm.execute import local_ray

    local_ray.LEAVE_BY_EXIT = True
    status = main()
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    sys.exit(status)


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (its first word that is not an option), if it is one of farm's."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in dict(_COMMANDS) else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one ``farm`` command and return its exit status."""
    parser = build_parser(_command_of(sys.argv[1:] if argv is None else argv))
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
