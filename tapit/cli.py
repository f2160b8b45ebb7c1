"""tapit's command line: the fixed grammar, dispatched to the command modules.

Only the standard library is imported here; each command imports what it
needs when it runs, so `tapit --help` stays fast and never pays for the TUI,
SSH or the agent's HTTP server.
"""

from __future__ import annotations

import os
import sys

# verb -> (nouns it takes, flags it accepts)
FLAGS = {
    ("create", "task"): {"-w": "wait", "--wait": "wait", "--json": "json"},
    ("show", "task"): {"--json": "json"},
    ("show", "logs"): {"-f": "follow", "--follow": "follow", "--replay": "replay"},
    ("list", "tasks"): {"--json": "json", "--wide": "wide", "--all": "all"},
    ("stop", "task"): {},
    ("delete", "task"): {},
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from tapit.errors import TapitError  # small, stdlib-only module

    try:
        return dispatch(argv)
    except TapitError as exc:
        print(f"tapit: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line for the user, the traceback kept for a report
        if os.environ.get("TAPIT_DEBUG"):
            raise
        print(internal_error(exc), file=sys.stderr)
        return 1


def internal_error(exc: BaseException) -> str:
    """Keeps the traceback of a bug in errors.log; returns the one line to tell the user."""
    from tapit.output import one_line

    return f"tapit: internal error: {type(exc).__name__}: {one_line(str(exc))} (details in {_save_traceback(exc)})"


def _save_traceback(exc: BaseException) -> str:
    import traceback

    try:
        from tapit.paths import state_dir

        path = state_dir() / "errors.log"
        with open(path, "a") as log:
            traceback.print_exception(exc, file=log)
        return str(path)
    except OSError:
        return "nowhere: the state directory is not writable; rerun with TAPIT_DEBUG=1"


def dispatch(argv: list[str]) -> int:
    from tapit.errors import UsageError

    argv = take_ssh_option(argv)
    if not argv or argv == ["tui"]:
        from tapit.commands.tui import run_tui

        return run_tui()
    if argv[0] in ("-h", "--help"):
        return print_usage()
    if argv[0] == "help":
        from tapit.commands.help import help_command

        return help_command(argv[1:])
    if argv[0] == "--version":
        from tapit import __version__

        print(f"tapit {__version__}")
        return 0
    verb, rest = argv[0], argv[1:]
    if "-h" in rest or "--help" in rest:
        from tapit.commands.help import help_command

        return help_command([verb, *rest[:1]])
    if verb == "agent":
        from tapit.commands.agent import agent_command

        return agent_command(rest)
    if verb == "archivist":
        from tapit.commands.archivist import archivist_command

        return archivist_command(rest)
    if verb == "config":
        from tapit.commands.config import config_command

        return config_command(rest)
    if verb == "run":
        from tapit.commands.console import run_command

        return run_command(rest)
    if verb not in {v for v, _ in FLAGS}:
        raise UsageError(f"unknown command {verb!r}; see tapit --help")
    if not rest:
        raise UsageError(f"`tapit {verb}` needs what to act on; see tapit --help")
    noun, words = rest[0], rest[1:]
    if (verb, noun) not in FLAGS:
        raise UsageError(f"unknown command {' '.join(argv[:2])!r}; see tapit --help")
    flags, positional = split_flags(words, FLAGS[(verb, noun)], f"{verb} {noun}")
    from tapit.commands import tasks

    handler = getattr(tasks, f"{verb}_{noun}")
    return handler(positional, flags)


def print_usage() -> int:
    from tapit.commands.usage import usage

    print(usage())
    return 0


def split_flags(words: list[str], accepted: dict[str, str], command: str) -> tuple[set[str], list[str]]:
    from tapit.errors import UsageError

    flags: set[str] = set()
    positional: list[str] = []
    for word in words:
        if word.startswith("-") and not _is_number_like(word):
            if word not in accepted:
                allowed = ", ".join(accepted) or "none"
                raise UsageError(f"unknown option {word!r} for `tapit {command}`; options: {allowed}")
            flags.add(accepted[word])
        else:
            positional.append(word)
    return flags, positional


def take_ssh_option(argv: list[str]) -> list[str]:
    """Remove `--ssh TARGET` / `--ssh=TARGET` from anywhere in argv; it sets TAPIT_SSH for this run
    (and so for everything that reads the configuration, including the TUI)."""
    from tapit.errors import UsageError

    rest: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--ssh":
            target = next(words, None)
            if target is None:
                raise UsageError("--ssh needs a target: --ssh [user@]bastion[:port]")
        elif word.startswith("--ssh="):
            target = word.removeprefix("--ssh=")
        else:
            rest.append(word)
            continue
        os.environ["TAPIT_SSH"] = target
    return rest


def _is_number_like(word: str) -> bool:
    return word[1:2].isdigit()


if __name__ == "__main__":
    raise SystemExit(main())
