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
# Docker's image reference grammar, as Nomad's docker driver parses `image` with it
# (drivers/docker/utils.go parseDockerImage: reference.ReferenceRegexp of
# github.com/distribution/reference v0.6.0, regexp.go): [domain[:port]/]path[:tag][@digest].
_TAG = r"[\w][\w.-]{0,127}"
_DOCKER_TAG = re.compile(_TAG, re.ASCII)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::{_TAG})?(?:@{_DIGEST})?",
    re.ASCII,
)
# reference.NameTotalLengthMax
IMAGE_NAME_MAX = 255
# The initiator is a name, stored in every job's Meta and shown in every row of `list tasks`.
INITIATED_BY_MAX = 256


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


def default_initiator() -> str:
    """Who initiates a task unless initiated_by says: user@host, from the process's user and host."""
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


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
    if image is not None:
        check_image(image)
    initiated_by = values.get("initiated_by", default_initiator)
    if len(initiated_by) > INITIATED_BY_MAX:
        raise UsageError(
            f"initiated_by is {len(initiated_by):,} characters long; a name of at most {INITIATED_BY_MAX} is "
            "accepted, e.g. initiated_by=alice"
        )
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


def check_image(image: str) -> None:
    """Refuse what Docker's reference grammar refuses, in the words of distribution/reference's errors.

    The grammar lets a first component with capitals be a registry host (`UPPER/case`), and
    ParseNormalizedNamed reads it so; as a registry that no one runs, it is taken for what the
    user meant, a repository path, which must be lowercase. A registry is named as Docker's
    users know it: with a dot, a port, or `localhost` (normalize.go splitDockerDomain)."""
    form = "use image=<ref>, e.g. image=ubuntu:24.04 or image=registry.example.com/team/app:v1"
    match = _IMAGE.fullmatch(image)
    domain = match and match["domain"]
    if match is None or (domain and not _names_registry(domain) and domain.lower() != domain):
        if image.lower() != image and _IMAGE.fullmatch(image.lower()):
            raise UsageError(f"image={image!r}: repository name must be lowercase; {form}")
        raise UsageError(f"image={image!r} is not an image reference ([registry/]repository[:tag][@digest]); {form}")
    if len(match["name"]) > IMAGE_NAME_MAX:
        raise UsageError(
            f"image=: the repository name is {len(match['name'])} characters; at most {IMAGE_NAME_MAX} are accepted"
        )


def _names_registry(domain: str) -> bool:
    return "." in domain or ":" in domain or domain == "localhost"


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
