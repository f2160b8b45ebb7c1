"""Task parameters: `key=value` words checked and turned into a TaskSpec.

Pure functions shared by the CLI and the TUI's new-task form, so both accept
and reject exactly the same input with the same words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tapit.config import NUMBER_BOUNDS, AppConfig
from tapit.errors import UsageError

TASK_KEYS = ("memory", "cpu", "docker_tag", "image", "max_hours", "initiated_by", "ephemeral_storage_gb")
# A console is always initiated by whoever sits at the terminal.
CONSOLE_KEYS = tuple(k for k in TASK_KEYS if k != "initiated_by")

# The accepted form of each number (its bounds: tapit.config.NUMBER_BOUNDS).
NUMBER_FORMS = {
    "memory": "memory=<GB>, e.g. memory=2",
    "cpu": "cpu=<vCPUs>, e.g. cpu=0.5",
    "max_hours": "max_hours=<hours>, e.g. max_hours=1.5",
    "ephemeral_storage_gb": "ephemeral_storage_gb=<GB>, e.g. ephemeral_storage_gb=5",
}
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
# Docker's own rule for a tag.
_DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_IMAGE = re.compile(r"[^\s]+")


@dataclass(frozen=True)
class TaskSpec:
    """What the user asked for, with every default filled in."""

    command: str
    memory_gb: float
    cpu: float
    max_hours: float | None
    ephemeral_storage_gb: float
    docker_tag: str | None
    image: str | None
    initiated_by: str


def parse_assignments(words: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    """`["memory=2", "cpu=1"]` → `{"memory": "2", "cpu": "1"}`, refusing unknown or repeated keys."""
    values: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise UsageError(f"unexpected argument {word!r}; parameters take the form key=value ({_keys(allowed)})")
        if key not in allowed:
            raise UsageError(f"unknown parameter {key!r}; accepted: {_keys(allowed)}")
        if key in values:
            raise UsageError(f"{key} is given twice; give each parameter once")
        values[key] = value
    return values


def build_spec(command: str, values: dict[str, str], config: AppConfig, default_initiator: str) -> TaskSpec:
    """Check each value and fill the rest from the app's defaults."""
    if not command.strip():
        raise UsageError("the command is empty; give it in quotes, e.g. 'rake db:migrate'")
    if "image" in values and "docker_tag" in values:
        raise UsageError(
            "image and docker_tag cannot be combined: image=<ref> replaces the app image, "
            "docker_tag=<tag> picks a tag of it"
        )
    numbers = {key: parse_number(key, values[key]) for key in NUMBER_FORMS if key in values}
    docker_tag = values.get("docker_tag")
    if docker_tag is not None and not _DOCKER_TAG.fullmatch(docker_tag):
        raise UsageError(f"docker_tag={docker_tag!r} is not a valid tag; use docker_tag=<tag>, e.g. docker_tag=v1.2.3")
    if docker_tag is not None and not config.image_repository:
        raise UsageError(
            "docker_tag picks a tag of the app image, and no image_repository is set; set it in "
            "tapit.toml, or use image=<ref>"
        )
    image = values.get("image")
    if image is not None and not _IMAGE.fullmatch(image):
        raise UsageError(f"image={image!r} is not an image reference; use image=<ref>, e.g. image=ubuntu:24.04")
    initiated_by = values.get("initiated_by", default_initiator)
    if not initiated_by.strip():
        raise UsageError("initiated_by is empty; use initiated_by=<name>, e.g. initiated_by=alice")
    if not initiated_by.isprintable():
        raise UsageError("initiated_by holds a control character; use initiated_by=<name>, e.g. initiated_by=alice")
    return TaskSpec(
        command=command,
        memory_gb=numbers.get("memory", config.memory_gb),
        cpu=numbers.get("cpu", config.cpu),
        max_hours=numbers.get("max_hours", config.max_hours),
        ephemeral_storage_gb=numbers.get("ephemeral_storage_gb", config.ephemeral_storage_gb),
        docker_tag=docker_tag,
        image=image,
        initiated_by=initiated_by,
    )


def parse_number(key: str, text: str) -> float:
    form, (low, high) = NUMBER_FORMS[key], NUMBER_BOUNDS[key]
    if not _DECIMAL.fullmatch(text.strip()):
        raise UsageError(f"{key}={text!r} is not a decimal number; use {form}")
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{key}={text} must be greater than 0; use {form}")
    if value < low or value > high:
        raise UsageError(f"{key}={text} is out of range ({_num(low)} to {_num(high)}); use {form}")
    return value


def _num(value: float) -> str:
    return f"{value:g}"


def _keys(allowed: tuple[str, ...]) -> str:
    return ", ".join(allowed)
