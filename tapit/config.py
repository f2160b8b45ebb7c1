"""The app's configuration: task defaults and how tasks become Nomad jobs.

Values come from built-in defaults, then the user's file
(`$XDG_CONFIG_HOME/tapit/config.toml`), then the app's `tapit.toml` found by
walking up from the working directory, then `TAPIT_SSH`; a later source wins.
Loading is pure apart from reading those two files.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapit.errors import UsageError
from tapit.nomad.settings import parse_ssh_target
from tapit.trail.logformat import check_url

APP_FILE = "tapit.toml"
# MHz per vCPU where neither the config nor the nodes say (no node could be read).
FALLBACK_MHZ_PER_VCPU = 1000
# (lowest, highest) of each number a task takes, given as a parameter (tapit/params.py) or as a
# default here. Nomad itself refuses MemoryMB below 10, so memory starts at 0.01 GB.
NUMBER_BOUNDS = {
    "memory": (0.01, 1024.0),
    "cpu": (0.001, 256.0),
    "max_hours": (0.0001, 8760.0),
    "ephemeral_storage_gb": (0.01, 10240.0),
}


@dataclass(frozen=True)
class AppConfig:
    app: str = "app"
    # The app's own image; tasks run `<image_repository>:<docker_tag>` unless `image=` replaces it.
    image_repository: str | None = None
    docker_tag: str = "latest"
    # The Nomad job (id, in the task's namespace) whose docker image tasks run when neither
    # image= nor docker_tag= is given: the app's image as built and deployed, read at create time.
    image_from_job: str | None = None
    memory_gb: float = 0.5
    cpu: float = 0.25
    max_hours: float | None = None
    ephemeral_storage_gb: float = 1.0
    # Nomad counts CPU in MHz; a vCPU is this many. Unset: derived from the nodes that could run
    # the task (tapit/service/vcpu.py), so that a vCPU is one of their cores.
    mhz_per_vcpu: int | None = None
    kill_timeout_s: float = 10.0
    # A console with no exec session for this long is stopped, so a killed client leaks nothing.
    console_idle_timeout_s: float = 600.0
    # A console never outlives this, even when `max_hours` is not given.
    console_max_hours: float = 12.0
    # None: raw_exec on the embedded agent, docker on a cluster.
    driver: str | None = None
    # Under docker: "image" keeps the image's ENTRYPOINT and hands it the command as arguments (as
    # `docker run IMAGE CMD` and the app's own deployment do, so an entrypoint that prepares the
    # environment and ends in `exec "$@"` runs first); "replace" runs the command instead of it,
    # for images whose entrypoint is the app's server itself.
    docker_entrypoint: str = "image"
    datacenters: tuple[str, ...] = ("*",)
    node_pool: str | None = None
    namespace: str | None = None
    job_prefix: str = "tapit-"
    # "[user@]bastion[:port]": reach NOMAD_ADDR through an SSH tunnel. TAPIT_SSH, or --ssh, wins;
    # "none" there turns it off.
    ssh: str | None = None
    # `tapit agent` in the foreground serves HTTPS with this certificate and key; with a client
    # CA it also requires client certificates signed by it. Relative paths are from the file.
    agent_tls_cert: str | None = None
    agent_tls_key: str | None = None
    agent_tls_client_ca: str | None = None
    # Where the archivist ships tasks' logs: file:///path, s3://bucket/prefix, gs://..., az://...
    # (tapit/trail/logstore.py). Unset: under the home on the embedded agent; none on a cluster.
    log_store: str | None = None
    # The embedded agent refuses every exec, consoles included, as a Nomad client with
    # disable_remote_exec does (client/alloc_endpoint.go execImpl).
    agent_disable_remote_exec: bool = False
    # Where each value came from, for `tapit config`.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


_FIELDS = {f.name: f for f in dataclasses.fields(AppConfig) if f.name != "sources"}
_PATH_KEYS = {"agent_tls_cert", "agent_tls_key", "agent_tls_client_ca"}
_CHOICES = {"docker_entrypoint": ("image", "replace")}
SSH_ENV = "TAPIT_SSH"
SSH_OFF = "none"
# The embedded agent hands its archivist the store under its home this way.
LOG_STORE_ENV = "TAPIT_LOG_STORE"


def find_app_file(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / APP_FILE
        if candidate.is_file():
            return candidate
    return None


def user_config_file(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tapit" / "config.toml"


def load_config(cwd: Path | None = None, environ: Mapping[str, str] = os.environ) -> AppConfig:
    values: dict[str, Any] = {}
    sources = {name: "default" for name in _FIELDS}
    for path in (user_config_file(environ), find_app_file(cwd or Path.cwd())):
        if path is None or not path.is_file():
            continue
        for key, value in _read_file(path).items():
            values[key] = value
            sources[key] = str(path)
    if ssh := environ.get(SSH_ENV):  # empty counts as unset, as for NOMAD_* variables
        if ssh != SSH_OFF:
            try:
                parse_ssh_target(ssh)
            except ValueError as exc:
                raise UsageError(f"{SSH_ENV}: {exc}") from None
        values["ssh"] = None if ssh == SSH_OFF else ssh
        sources["ssh"] = f"${SSH_ENV}"
    if store := environ.get(LOG_STORE_ENV):
        try:
            check_url(store)
        except UsageError as exc:
            raise UsageError(f"{LOG_STORE_ENV}: {exc}") from None
        values["log_store"] = store
        sources["log_store"] = f"${LOG_STORE_ENV}"
    return AppConfig(**values, sources=sources)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    values = {key: _check_value(path, key, value) for key, value in data.items()}
    for key in _PATH_KEYS & values.keys():
        values[key] = str(path.parent / Path(values[key]).expanduser())
    return values


# Defaults obey the same bounds as the parameters they stand in for.
_PARAMETER_FOR = {
    "memory_gb": "memory",
    "cpu": "cpu",
    "max_hours": "max_hours",
    "ephemeral_storage_gb": "ephemeral_storage_gb",
    "console_max_hours": "max_hours",
}


def _check_range(path: Path, key: str, value: float) -> None:
    if key not in _PARAMETER_FOR:
        return
    low, high = NUMBER_BOUNDS[_PARAMETER_FOR[key]]
    if not low <= value <= high:
        raise UsageError(f"{path}: {key} = {value:g} is out of range ({low:g} to {high:g})")


def _check_value(path: Path, key: str, value: Any) -> Any:
    spec = _FIELDS.get(key)
    if spec is None:
        known = ", ".join(sorted(_FIELDS))
        raise UsageError(f"{path}: unknown key {key!r}; known keys: {known}")
    if key == "ssh" and isinstance(value, str):
        try:
            parse_ssh_target(value)
        except ValueError as exc:
            raise UsageError(f"{path}: ssh: {exc}") from None
    if key == "log_store" and isinstance(value, str):
        try:
            check_url(value)
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None
    kind = str(spec.type)
    if kind == "bool":
        if not isinstance(value, bool):
            raise UsageError(f"{path}: {key} must be true or false")
        return value
    if "tuple" in kind:
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise UsageError(f"{path}: {key} must be a list of strings")
        return tuple(value)
    if "float" in kind or "int" in kind:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise UsageError(f"{path}: {key} must be a number greater than 0")
        _check_range(path, key, value)
        return int(value) if kind.startswith("int") else float(value)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{path}: {key} must be a non-empty string")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise UsageError(f"{path}: {key} = {value!r} is not one of: {', '.join(_CHOICES[key])}")
    return value
