"""`python -m tapit.commands.shell TASK_ID`: the TUI's `E`, a shell in a task's allocation on the real terminal.

Not a verb of tapit's command line, whose grammar is fixed: the TUI hands the terminal to this
module as `C` hands it to `tapit run`. Errors are one line and tapit's exit codes.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from tapit.errors import TapitError

    if len(argv) != 1:
        print("usage: python -m tapit.commands.shell TASK_ID", file=sys.stderr)
        return 2
    from tapit.commands.console import run_shell

    try:
        return run_shell(argv[0])
    except TapitError as exc:
        print(f"tapit: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
