"""`tapit agent`: run the embedded agent in the foreground, or manage the background one."""

from __future__ import annotations

import shlex

from tapit.commands.usage import form
from tapit.errors import Refused, UsageError

USAGE = f"use {form('agent')}, or {form('agent foreground')} in the foreground"
# Foreground options that take a value, and the config key that gives its default.
FOREGROUND_OPTIONS = {
    "--port": None,
    "--tls-cert": "agent_tls_cert",
    "--tls-key": "agent_tls_key",
    "--tls-client-ca": "agent_tls_client_ca",
}


def agent_command(words: list[str]) -> int:
    from tapit.agent import daemon

    if not words or words[0].startswith("--"):
        return serve(words)
    action, options = words[0], words[1:]
    allowed_options = {"stop": {"--kill-tasks"}}.get(action, set())
    unknown = [o for o in options if o not in allowed_options]
    if unknown:
        raise UsageError(f"unexpected argument {unknown[0]!r}; {USAGE}")
    if action == "status":
        info = daemon.status()
        from tapit.agent.http.served import summary

        if info is None:
            print("The embedded agent is not running; tapit starts it on first use.")
            print(summary())
            return 1
        print(f"The embedded agent is running at {info.address} (pid {info.pid}).")
        if info.address.startswith("http://"):  # one serving TLS may want a client certificate we lack
            print(drivers_line(info))
        print(summary())
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


def drivers_line(info) -> str:
    """Which drivers the agent's node offers, as Nomad's node API reports them: whether `image=`
    tasks can run here is the question this answers."""
    from tapit.service.connection import embedded_drivers

    offered, missing = [], []
    for driver in embedded_drivers(info.address, info.token):
        if driver.healthy:
            offered.append(f"{driver.name} ({driver.version})" if driver.version else driver.name)
        elif driver.name == "docker":
            why = driver.health if driver.detected else "no Docker or Podman engine found"
            missing.append(f"docker: {why}, so image= tasks cannot run here")
    return "Drivers: " + ", ".join(offered) + "".join(f"; {m}" for m in missing)


def serve(words: list[str]) -> int:
    """The agent in the foreground: plain HTTP on loopback, or HTTPS (optionally requiring client
    certificates) with a certificate from the options or the config's agent_tls_* keys."""
    from tapit.agent import daemon
    from tapit.config import load_config

    given: dict[str, str] = {}
    pairs = iter(words)
    for option in pairs:
        name, _, value = option.partition("=")
        if name not in FOREGROUND_OPTIONS:
            raise UsageError(f"unexpected argument {option!r}; {USAGE}")
        value = value or next(pairs, "")
        if not value:
            raise UsageError(f"{name} needs a value; {USAGE}")
        given[name] = value
    config = load_config()
    files = {
        name: given.get(name) or (getattr(config, key) if key else None) for name, key in FOREGROUND_OPTIONS.items()
    }
    try:
        port = int(given.get("--port", "0"))
        if not 0 <= port < 65536:
            raise ValueError
    except ValueError:
        raise UsageError(f"--port must be a port number, not {given['--port']!r}") from None
    tls = None
    if files["--tls-cert"] or files["--tls-key"] or files["--tls-client-ca"]:
        if not (files["--tls-cert"] and files["--tls-key"]):
            raise UsageError(
                "HTTPS needs both a certificate and its key: --tls-cert and --tls-key "
                "(or agent_tls_cert and agent_tls_key in the config)"
            )
        try:
            tls = daemon.server_ssl_context(
                daemon.TLSFiles(files["--tls-cert"], files["--tls-key"], files["--tls-client-ca"])
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    running = daemon.status()
    if running:
        raise Refused(
            f"the embedded agent already runs at {running.address} (pid {running.pid}); stop it first: tapit agent stop"
        )
    daemon.serve_foreground(port=port, tls=tls, disable_remote_exec=config.agent_disable_remote_exec)
    return 0
