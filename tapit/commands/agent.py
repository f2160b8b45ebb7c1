"""`tapit agent`: run the embedded agent in the foreground, or manage the background one."""

from __future__ import annotations

import shlex

from tapit.errors import UsageError

USAGE = "use tapit agent (foreground), tapit agent status, tapit agent stop [--kill-tasks] or tapit agent env"


def agent_command(words: list[str]) -> int:
    from tapit.agent import daemon

    if not words:
        daemon.serve_foreground()
        return 0
    action, options = words[0], words[1:]
    allowed_options = {"stop": {"--kill-tasks"}}.get(action, set())
    unknown = [o for o in options if o not in allowed_options]
    if unknown:
        raise UsageError(f"unexpected argument {unknown[0]!r}; {USAGE}")
    if action == "status":
        info = daemon.status()
        if info is None:
            print("The embedded agent is not running; tapit starts it on first use.")
            return 1
        print(f"The embedded agent is running at {info.address} (pid {info.pid}).")
        return 0
    if action == "stop":
        stopped = daemon.stop(kill_tasks="--kill-tasks" in options)
        print("Stopped the embedded agent." if stopped else "The embedded agent was not running.")
        return 0
    if action == "env":
        info = daemon.ensure_running()
        print(f"export NOMAD_ADDR={shlex.quote(info.address)}")
        print(f"export NOMAD_TOKEN={shlex.quote(info.token)}")
        return 0
    raise UsageError(f"unknown agent action {action!r}; {USAGE}")
