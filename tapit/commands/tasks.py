"""`create task`, `list tasks`, `show task`, `show logs`, `stop task`, `delete task`."""

from __future__ import annotations

import shutil
import sys

from tapit.commands import task_service
from tapit.commands.usage import form
from tapit.errors import UsageError
from tapit.params import TASK_KEYS, build_spec, parse_assignments

LIST_SHOWN = 200  # `list tasks` shows the newest tasks (and every unfinished one); --all shows all


def create_task(words: list[str], flags: set[str]) -> int:
    if not words:
        raise UsageError(f"the command is missing; use {form('create task')}")
    command, assignments = words[0], words[1:]
    values = parse_assignments(assignments, TASK_KEYS)
    service = task_service()
    from tapit.model import exit_status
    from tapit.service import default_initiator

    spec = build_spec(command, values, service.config, default_initiator())
    record = service.create(spec)
    unenforced = service.unenforced_limits()
    if unenforced:
        print(
            f"tapit: warning: this machine cannot enforce the {', '.join(unenforced)} limit(s); "
            "the task runs without them",
            file=sys.stderr,
        )
    if notice := service.archivist_notice():
        print(f"tapit: {notice}", file=sys.stderr)
    if "wait" not in flags:
        record = service.refuse_unplaceable(record)
        placed = record.status != "failed"
        if "json" in flags:
            _print_json(record)
        elif placed:
            print(f"Created task {record.id} (Nomad job {record.nomad_job_id}).")
            print(f"Follow it:  tapit show logs task={record.id} --follow")
        if not placed:
            _say_why_not_complete(record)
        _warn_unrecorded(service)  # waiting says it at the end
        return 0 if placed else 1
    # With --json, stdout carries only the JSON; the task's output goes to stderr.
    record = _wait(service, record.id, sink=write_to_stderr if "json" in flags else write_output)
    if "json" in flags:
        _print_json(record)
    return exit_status(record)


def list_tasks(words: list[str], flags: set[str]) -> int:
    namespace = parse_assignments(words, ("namespace",)).get("namespace")
    if namespace == "":
        raise UsageError("namespace= is empty; use namespace=<name>, or namespace=* for every namespace")
    service = task_service()
    records = service.list(namespace, limit=None if "all" in flags else LIST_SHOWN)
    if "json" in flags:
        from tapit.output import dumps, task_json

        print(dumps([task_json(r) for r in records]))
    else:
        from tapit.output import task_table

        # Fitted to a terminal's width; --wide and a pipe get every value whole.
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() and "wide" not in flags else None
        print(task_table(records, width=width))
    if service.more:
        print(f"tapit: the newest {LIST_SHOWN} tasks; `tapit list tasks --all` lists every one", file=sys.stderr)
    _warn_unrecorded(service)
    return 0


def show_task(words: list[str], flags: set[str]) -> int:
    service = task_service()
    record = service.show(_task_id(words, "show task"))
    usage = service.usage(record)
    if "json" in flags:
        from tapit.output import dumps, task_json, usage_json

        print(dumps({**task_json(record), **usage_json(usage)}))
    else:
        from tapit.output import task_details

        print(task_details(record, usage))
    _warn_unrecorded(service)
    return 0


def show_logs(words: list[str], flags: set[str]) -> int:
    task_id = _task_id(words, "show logs")
    service = task_service()
    if "replay" in flags:
        from tapit.commands.console import replay_transcript

        return replay_transcript(service, task_id)
    if "follow" in flags:
        from tapit.model import exit_status

        return exit_status(_wait(service, task_id))
    record = service.logs(task_id, write_output)
    _say_lost(record)
    _warn_unrecorded(service)
    return 0


def stop_task(words: list[str], flags: set[str]) -> int:
    task_id = _task_id(words, "stop task")
    record = task_service().stop(task_id)
    print(f"Task {record.id} is {record.status}" + (f" ({record.reason})." if record.reason else "."))
    return 0


def delete_task(words: list[str], flags: set[str]) -> int:
    task_id = _task_id(words, "delete task")
    record = task_service().delete(task_id)
    print(f"Deleted task {record.id} and purged Nomad job {record.nomad_job_id}.")
    return 0


def write_output(log_type: str, data: bytes) -> None:
    stream = sys.stdout if log_type == "stdout" else sys.stderr
    stream.buffer.write(data)
    stream.buffer.flush()


def write_to_stderr(log_type: str, data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()


def _wait(service, task_id: str, sink=write_output):
    """Follow a task to its end; Ctrl-C leaves it running (or queued) and says how to rejoin."""
    queued = []

    def on_queued(message: str) -> None:
        queued.append(message)
        print(
            f"tapit: task {task_id} {message}; waiting for Nomad to place it (Ctrl-C leaves it queued)", file=sys.stderr
        )

    try:
        record = service.wait(task_id, sink, on_queued=on_queued)
    except KeyboardInterrupt:
        state = "stays queued (Nomad places it when room appears)" if queued else "keeps running"
        print(
            f"\ntapit: stopped following; task {task_id} {state}. "
            f"Rejoin: tapit show logs task={task_id} --follow  Stop: tapit stop task task={task_id}",
            file=sys.stderr,
        )
        raise
    _say_lost(record)
    _warn_unrecorded(service)
    _say_why_not_complete(record)
    return record


def _say_why_not_complete(record) -> None:
    if record.status != "complete":
        from tapit.output import why_it_ended

        print(f"tapit: task {record.id} {record.status}: {why_it_ended(record)}", file=sys.stderr)


def _say_lost(record) -> None:
    """Output Nomad rotated away before it could be read, or that an archivist could not ship to
    its end, is never dropped without a word."""
    for log_type, count in record.logs_lost_bytes.items():
        print(
            f"tapit: {count:,} bytes of the task's {log_type} are missing: Nomad's log rotation removed them "
            "before tapit could read them (the task wrote faster than its logs were read)",
            file=sys.stderr,
        )
    if record.logs_url and record.logs_error and not record.logs_archived:
        print(f"tapit: the task's shipped logs ({record.logs_url}) are {record.logs_error}", file=sys.stderr)


def _warn_unrecorded(service) -> None:
    if service.offline is not None:
        print(f"tapit: offline: showing the local copy ({service.offline})", file=sys.stderr)
    if service.unrecorded is not None:
        print(f"tapit: warning: {service.unrecorded}; what Nomad reports was shown, not recorded", file=sys.stderr)
    if service.unshared is not None:
        print(f"tapit: warning: {service.unshared}; tasks are recorded in this machine's history only", file=sys.stderr)


def _task_id(words: list[str], command: str) -> str:
    values = parse_assignments(words, ("task",))
    if "task" not in values:
        raise UsageError(f"which task? use {form(command)}")
    if not values["task"]:
        raise UsageError(f"task= is empty; use {form(command)}")
    return values["task"]


def _print_json(record) -> None:
    from tapit.output import dumps, task_json

    print(dumps(task_json(record)))
