"""tapit's grammar in words, once: `tapit --help` is made of these forms, and every bad-input
message names the accepted form from here. Standard library only: `--help` must stay fast."""

# command: (its form, what it does), in the order `tapit --help` lists them.
FORMS = {
    "create task": ("tapit create task 'command' [-w|--wait] [--json] [key=value ...]", ""),
    "run": ("tapit run 'command' [key=value ...]", "interactive console (keys as above but initiated_by)"),
    "list tasks": ("tapit list tasks [--wide|--json] [--all] [namespace=<ns>|namespace=*]", ""),
    "show task": ("tapit show task task=<id> [--json]", ""),
    "show logs": ("tapit show logs task=<id> [-f|--follow] [--replay]", ""),
    "stop task": ("tapit stop task task=<id>", ""),
    "delete task": ("tapit delete task task=<id>", ""),
    "agent": ("tapit agent [status|stop [--kill-tasks]|env]", "the embedded single-node Nomad agent"),
    "agent foreground": (
        "tapit agent [--port N] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]",
        "in the foreground, HTTPS",
    ),
    "archivist": (
        "tapit archivist [job_prefix=<prefix>]",
        "keep the cluster's trail: records, logs to log_store",
    ),
    "config": ("tapit config", "effective configuration and where each value came from"),
    "tui": ("tapit [tui]", "the full-screen interface"),
}
TASK_KEYS_NOTE = """\
        keys: memory (GB), cpu (vCPUs), max_hours, ephemeral_storage_gb (GB),
              docker_tag, image, initiated_by"""
ENVIRONMENT = """\
Tasks run on Nomad at $NOMAD_ADDR (with $NOMAD_TOKEN, $NOMAD_NAMESPACE, $NOMAD_REGION and
Nomad's TLS variables), or on the embedded agent, started on first use, when NOMAD_ADDR is unset.
--ssh [user@]bastion[:port] (or $TAPIT_SSH, or ssh in tapit.toml) reaches NOMAD_ADDR through an
SSH tunnel; keys from the SSH agent or ~/.ssh, host keys checked against ~/.ssh/known_hosts.
Exit codes: 0 ok; the task's own code with --wait/--follow; 2 bad input; 3 Nomad unreachable or refusing.
A command's options, parameters, units, ranges and defaults: tapit help <command>, or tapit <command> --help."""
NOTE_COLUMN = 45


def form(command: str) -> str:
    """How to use `command` ("create task", "agent", ...), as a message names it."""
    return FORMS[command][0]


def usage() -> str:
    lines = ["usage:"]
    for command, (text, note) in FORMS.items():
        line = f"  {text}"
        if note:
            line = f"{line:<{NOTE_COLUMN}}{note}" if len(line) + 2 <= NOTE_COLUMN else f"{line}   {note}"
        lines.append(line)
        if command == "create task":
            lines.append(TASK_KEYS_NOTE)
    return "\n".join(lines) + "\n\n" + ENVIRONMENT
