"""`tapit help <command>` and `tapit <command> --help`: one command's form, what it does, its
options, and its parameters with their units, accepted ranges and defaults as the effective
configuration sets them (and where that came from), as git and kubectl print a command's help.

The forms come from usage.py, the ranges from tapit.config and the units from tapit.params, so
help never disagrees with the parser. Only the configuration is read: no Nomad, no agent.
"""

from __future__ import annotations

from tapit.commands.usage import form, usage
from tapit.errors import UsageError

# command: (what it does, its options as (flag, meaning)).
COMMANDS = {
    "create task": (
        "Runs 'command' once, as a Nomad batch job (/bin/sh -c 'command'), and prints its id; it is\n"
        "recorded before it is submitted. Exit 1 at once when no node can ever run it (an image\n"
        "with no container engine on the embedded agent).",
        [
            ("-w, --wait", "stream the task's output until it ends, then exit with its exit code"),
            ("--json", "print the task's record as JSON (with --wait once it ends; its output then goes to stderr)"),
        ],
    ),
    "run": (
        "An interactive console: runs 'command' in a keep-alive task and attaches this terminal to\n"
        "it through Nomad's alloc exec. `~.` after a newline disconnects. tapit exits with the\n"
        "program's exit code; 255 for ~., 124 for the idle timeout or max_hours.",
        [],
    ),
    "list tasks": (
        "The tasks in the history and those tapit finds in Nomad, newest first: the newest 200 and\n"
        "every unfinished one. At a terminal the initiator and command are clipped with … to fit its width.",
        [
            ("--all", "every task, however many the history holds"),
            ("--wide", "every value whole, however wide the terminal"),
            ("--json", "the records as a JSON list, every value whole"),
            ("namespace=<ns>", "the tasks of that Nomad namespace; namespace=* every namespace the token may list"),
        ],
    ),
    "show task": (
        "Every field of one task: status, exit code and why it ended, resources, times, Nomad job,\n"
        "allocation and node, and what it uses now while it runs.",
        [("--json", "the record as JSON")],
    ),
    "show logs": (
        "The task's output, from Nomad while it runs and from the history's archive once it ended.",
        [
            ("-f, --follow", "keep following until the task ends, then exit with its exit code"),
            ("--replay", "a console's transcript, played back at its recorded pace"),
        ],
    ),
    "stop task": (
        "Stops a running task: Nomad sends SIGTERM, then SIGKILL after kill_timeout_s; waits until it ended.",
        [],
    ),
    "delete task": (
        "Removes a finished task's record and archived logs, and purges its Nomad job.",
        [],
    ),
    "agent": (
        "The embedded single-node Nomad agent: status, stop (--kill-tasks also kills its tasks),\n"
        'env (prints NOMAD_ADDR and NOMAD_TOKEN for it: eval "$(tapit agent env)"). With no\n'
        "action it runs in the foreground.",
        [
            ("--port N", "the port to listen on, on loopback (default: any free port)"),
            ("--tls-cert FILE --tls-key FILE", "serve HTTPS (defaults: agent_tls_cert, agent_tls_key)"),
            ("--tls-client-ca FILE", "require client certificates signed by this CA (default: agent_tls_client_ca)"),
        ],
    ),
    "archivist": (
        "Keeps the cluster's trail until stopped (SIGTERM): every tapit task's record and end, its logs\n"
        "shipped to log_store, its peak memory, and max_hours on servers without max_run_duration.\n"
        "A cluster runs it as a service job (jobs/tapit-archivist.nomad.hcl); the embedded agent runs its own.",
        [
            (
                "job_prefix=<prefix>",
                "keep the jobs named so (default: the app's job_prefix); empty: every tapit job",
            )
        ],
    ),
    "config": ("The effective configuration: every setting, its value and where it came from.", []),
    "tui": ("The full-screen interface over the same tasks (? there shows its keys).", []),
}
# The forms of each command, as usage.py names them.
FORMS_OF = {"agent": ("agent", "agent foreground")}
# What each word after `help` (or before --help) may name.
ALIASES = {
    "create": ("create task",),
    "list": ("list tasks",),
    "stop": ("stop task",),
    "delete": ("delete task",),
    "show": ("show task", "show logs"),
}
PARAMETERS = {
    "memory": "memory limit",
    "cpu": "CPU; Nomad reserves cpu × mhz_per_vcpu MHz",
    "max_hours": "deadline, then the task is killed and exits 124",
    "ephemeral_storage_gb": "scratch disk",
    "image": "an image to run instead of the app's: [registry/]repository[:tag][@digest]",
    "docker_tag": "a tag of the app's image (image_repository); not with image=",
    "initiated_by": "who to record as the initiator: a name, at most 256 characters",
}
# Config keys whose names differ from the parameter's.
CONFIG_KEY = {"memory": "memory_gb"}


def help_command(words: list[str]) -> int:
    """`tapit help [command]`."""
    print(command_help(words) if words else usage())
    return 0


def command_help(words: list[str]) -> str:
    """The help of the command `words` name ("create", "create task", "show", ...)."""
    pair = " ".join(words[:2])
    if pair in COMMANDS:
        commands: tuple[str, ...] = (pair,)
    elif words[0] in COMMANDS:
        commands = (words[0],)
    elif words[0] in ALIASES:
        commands = ALIASES[words[0]]
    else:
        raise UsageError(f"no command {pair!r}; see tapit --help")
    return "\n\n".join(map(_one, commands))


def _one(command: str) -> str:
    what, options = COMMANDS[command]
    forms = [form(f) for f in FORMS_OF.get(command, (command,))]
    parts = ["usage: " + "\n       ".join(forms), what]
    if options:
        width = max(len(flag) for flag, _ in options)
        parts.append("options:\n" + "\n".join(f"  {flag:<{width}}  {meaning}" for flag, meaning in options))
    if command in ("create task", "run"):
        parts.append(parameters(console=command == "run"))
    return "\n\n".join(parts)


def parameters(console: bool) -> str:
    """The key=value parameters: unit, meaning, accepted range, and the default in effect here."""
    from tapit.config import NUMBER_BOUNDS, load_config
    from tapit.params import CONSOLE_KEYS, NUMBER_FORMS, TASK_KEYS, default_initiator

    config = load_config()
    rows = []
    for key in CONSOLE_KEYS if console else TASK_KEYS:
        placeholder = NUMBER_FORMS[key].split(",")[0] if key in NUMBER_FORMS else f"{key}=<{_kind(key)}>"
        meaning = PARAMETERS[key]
        if key in NUMBER_BOUNDS:
            low, high = NUMBER_BOUNDS[key]
            meaning += f"; {low:g} to {high:g}, fractions allowed"
        rows.append((placeholder, meaning, _default(key, config, console, default_initiator)))
    width = max(len(p) for p, _, _ in rows)
    lines = [f"  {p:<{width}}  {meaning}\n  {'':<{width}}  default: {default}" for p, meaning, default in rows]
    return "parameters (key=value), defaults as configured here (tapit config shows them all):\n" + "\n".join(lines)


def _kind(key: str) -> str:
    return {"image": "ref", "docker_tag": "tag", "initiated_by": "name"}[key]


def _default(key: str, config, console: bool, default_initiator) -> str:
    if key == "initiated_by":
        return f"{default_initiator()} (you at this host)"
    if key == "image":
        if config.image_from_job:
            return f"the image Nomad job {config.image_from_job} runs now ({_source(config, 'image_from_job')})"
        if config.image_repository:
            return f"the app's image, {config.image_repository}:{config.docker_tag} ({_source(config, 'image_repository')})"
        return "none: a host process on the embedded agent (a cluster needs image_repository, or image=)"
    if key == "max_hours" and console:
        return f"{config.console_max_hours:g} ({_source(config, 'console_max_hours')}: console_max_hours)"
    name = CONFIG_KEY.get(key, key)
    value = getattr(config, name)
    shown = "no limit" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return f"{shown} ({_source(config, name)})"


def _source(config, name: str) -> str:
    source = config.sources.get(name, "default")
    return "built in" if source == "default" else f"from {source}"
