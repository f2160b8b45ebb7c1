"""structs.TaskState and structs.TaskEvent, as the client's task runner records them
(nomad/structs/structs.go NewTaskEvent, its setters and PopulateEventDisplayMessage).
"""

from __future__ import annotations
from typing import Any

from .funcs import SECOND, ZERO_TIME, go_duration, now_ns

DEFAULT_MAX_KILL_TIMEOUT = 30 * SECOND  # client max_kill_timeout default


def task_state() -> dict:
    return {
        "State": "pending",
        "Failed": False,
        "Restarts": 0,
        "LastRestart": ZERO_TIME,
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
        "Events": [],
        "Paused": "",
    }


_EVENT_FIELDS = {
    "Message": "",
    "DisplayMessage": "",
    "FailsTask": False,
    "RestartReason": "",
    "SetupError": "",
    "DriverError": "",
    "ExitCode": 0,
    "Signal": 0,
    "KillTimeout": 0,
    "KillError": "",
    "KillReason": "",
    "StartDelay": 0,
    "DownloadError": "",
    "ValidationError": "",
    "DiskLimit": 0,
    "FailedSibling": "",
    "VaultError": "",
    "TaskSignalReason": "",
    "TaskSignal": "",
    "DriverMessage": "",
    "GenericSource": "",
}

# structs.TaskEvent setters store each deprecated top-level field under a Details key too.
_DETAIL_KEYS = {
    "Message": "message",
    "SetupError": "setup_error",
    "DriverError": "driver_error",
    "ExitCode": "exit_code",
    "Signal": "signal",
    "KillError": "kill_error",
    "KillReason": "kill_reason",
    "RestartReason": "restart_reason",
    "DiskLimit": "disk_limit",
    "StartDelay": "start_delay",
    "DriverMessage": "driver_message",
    "ValidationError": "validation_error",
}


def task_event(kind: str, when: int | None = None, display: str | None = None, **fields) -> dict:
    """structs.NewTaskEvent + setters + PopulateEventDisplayMessage."""
    event: dict[str, Any] = {"Type": kind, "Time": when or now_ns(), **_EVENT_FIELDS, "Details": {}}
    details: dict[str, str] = event["Details"]
    for key, value in fields.items():
        if key == "OOMKilled":
            details["oom_killed"] = "true" if value else "false"
        elif key == "FailsTask":
            event["FailsTask"] = value
            details["fails_task"] = "true"
        elif key == "KillTimeout":
            event["KillTimeout"] = value
            details["kill_timeout"] = go_duration(value)
        elif key == "ExitMessage":
            event["Message"] = value
            details["exit_message"] = value
        else:
            event[key] = value
            details[_DETAIL_KEYS[key]] = str(value)
    event["DisplayMessage"] = display if display is not None else _display_message(event)
    return event


def driver_event(message: str, annotations: dict[str, str]) -> dict:
    """A driver's own event as the alloc runner records it (GetTaskEventHandler): its message as
    DriverMessage, its annotations as the Details, no setter involved."""
    event = task_event("Driver", DriverMessage=message)
    event["Details"] = dict(annotations)
    return event


def _display_message(e: dict) -> str:
    kind = e["Type"]
    if kind == "Task Setup":
        return e["Message"]
    if kind == "Started":
        return "Task started by client"
    if kind == "Received":
        return "Task received by client"
    if kind == "Setup Failure":
        return e["SetupError"] or "Task setup failed"
    if kind == "Failed Validation":
        return e["ValidationError"] or "Validation of task failed"
    if kind == "Driver Failure":
        return e["DriverError"] or "Failed to start task"
    if kind == "Killing":
        if e["KillReason"]:
            return e["KillReason"]
        if e["KillTimeout"]:
            return f"Sent interrupt. Waiting {go_duration(e['KillTimeout'])} before force killing"
        return "Sent interrupt"
    if kind == "Killed":
        return e["KillError"] or "Task successfully killed"
    if kind == "Terminated":
        parts = [f"Exit Code: {e['ExitCode']}"]
        if e["Signal"]:
            parts.append(f"Signal: {e['Signal']}")
        if e["Message"]:
            parts.append(f'Exit Message: "{e["Message"]}"')
        return ", ".join(parts)
    if kind == "Not Restarting":
        return e["RestartReason"] or "Task exceeded restart policy"
    if kind == "Restarting":
        delay = f"Task restarting in {go_duration(e['StartDelay'])}"
        reason = e["RestartReason"]
        return f"{reason} - {delay}" if reason and reason != "Restart within policy" else delay
    if kind == "Restart Signaled":
        return e["RestartReason"] or "Task signaled to restart"
    if kind == "Driver":
        return e["DriverMessage"]
    if kind == "Signaling":
        signal, reason = e["TaskSignal"], e["TaskSignalReason"]
        if signal and reason:
            return f"Task being sent signal {signal}: {reason}"
        if signal:
            return f"Task being sent signal {signal}"
        return reason or "Task being sent a signal"
    return e["Message"]
