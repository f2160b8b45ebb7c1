"""The docker driver's side of the agent: finding a Docker or Podman engine, fingerprinting it,
getting images, and the container a docker task runs in (drivers/docker/driver.go).

Podman serves Docker's Engine API (`podman system service`), so one client, aiodocker, drives
either.  The agent offers the `docker` driver only when an engine answers; otherwise a task that
needs it fails placement with Nomad's "missing drivers".
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cgroups import MIB

# Nomad's docker driver talks to DOCKER_HOST, else the default socket; Podman's sockets follow.
KNOWN_SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")
# Nomad's client registers its node only once every driver's first fingerprint is in, waiting up
# to 50 s for them (client/client.go fpInitialized, client/node_updater.go
# batchFirstFingerprintsTimeout), and its docker client waits minutes for an answer
# (drivers/docker/config.go dockerTimeout).  An engine that is there but slow (a socket-activated
# Podman starting, an engine busy removing containers) must not cost a task its driver: "missing
# drivers" fails the task at once.  Bounded well below 50 s because the CLI waits for the agent's
# start, which includes this first fingerprint (daemon.START_TIMEOUT).
FINGERPRINT_TIMEOUT_S = 20.0
HELPER_TIMEOUT_S = 10.0
FINGERPRINT_PERIOD_S = float(os.environ.get("TAPIT_ENGINE_FINGERPRINT_S", 30))  # fingerprint.go; tests shorten it
CONTAINER_ALLOC_DIR, CONTAINER_TASK_DIR, CONTAINER_SECRETS_DIR = "/alloc", "/local", "/secrets"
LABEL_ALLOC_ID = "com.hashicorp.nomad.alloc_id"
# drivers/docker/driver.go cpuResources: cgroup v1's bounds for cpu.shares.
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262_144


def engine_url(environ=os.environ) -> str | None:
    """Where the engine listens: DOCKER_HOST (unix:// or tcp://), else the first socket present."""
    if environ.get("DOCKER_HOST"):
        return environ["DOCKER_HOST"]
    candidates = [*KNOWN_SOCKETS]
    if environ.get("XDG_RUNTIME_DIR"):
        candidates.append(f"{environ['XDG_RUNTIME_DIR']}/podman/podman.sock")
    for path in candidates:
        if Path(path).is_socket():
            return f"unix://{path}"
    return None


@dataclass(frozen=True)
class Engine:
    url: str
    api_version: str  # e.g. "v1.41": pinned, since aiodocker's "auto" asks /version on every client

    def client(self):
        import aiodocker

        return aiodocker.Docker(url=self.url, api_version=self.api_version)

    async def version(self) -> str:
        """The engine's release, for `driver.docker.version` (Podman takes ~0.5 s to answer)."""
        async with self.client() as docker:
            return str((await docker.version()).get("Version") or "unknown")


async def fingerprint(url: str) -> Engine | None:
    """The engine at `url` when it answers its ping, else None (drivers/docker/fingerprint.go).
    The ping's Api-Version header pins the API version every later client speaks."""
    import aiodocker

    try:
        async with aiodocker.Docker(url=url) as docker, asyncio.timeout(FINGERPRINT_TIMEOUT_S):
            async with docker._query("_ping", versioned_api=False) as response:
                api_version = response.headers.get("Api-Version")
    except Exception:  # an absent, refusing or foreign socket: no driver, whatever the cause
        return None
    return Engine(url, f"v{api_version}") if api_version else None


def parse_image(image: str) -> tuple[str, str]:
    """drivers/docker/utils.go parseDockerImage: repository and tag ("latest" when none is given);
    a digest reference keeps its digest as the tag."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, digest
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag, or the colon belonged to a registry's port
        return image, "latest"
    return name, tag


async def ensure_image(docker, image: str, on_download) -> None:
    """createImage: a local image serves unless its tag is `latest`; otherwise pull it, after
    announcing "Downloading image" through `on_download`, with the user's registry credentials."""
    import aiodocker

    repo, tag = parse_image(image)
    if tag != "latest":
        try:
            await docker.images.inspect(image)
            return
        except aiodocker.DockerError:
            pass
    on_download(f"{repo}:{tag}" if "@" not in image else image)
    auth = await asyncio.to_thread(registry_auth, repo)
    try:
        await docker.images.pull(repo, tag=tag, auth=auth)
    except aiodocker.DockerError as err:
        raise RuntimeError(f"Failed to pull `{image}`: {err.message}") from err


def registry_host(repo: str) -> str | None:
    """The registry named in a repository reference (`registry.example.com:5000/app`), or None
    for Docker Hub's short names (`ubuntu`, `team/app`)."""
    first, slash, _ = repo.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def registry_auth(repo: str, environ=os.environ) -> dict | None:
    """Credentials for pulling `repo`, from the Docker CLI's config (`$DOCKER_CONFIG/config.json`,
    else `~/.docker/config.json`) as `docker login` leaves them: a stored `auth`, or a credential
    helper (credHelpers, credsStore), as Nomad's docker driver reads them (authFromDockerConfig,
    authFromHelper).  None when there are none; Docker Hub's short names go without."""
    registry = registry_host(repo)
    if registry is None:
        return None
    directory = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME", os.path.expanduser("~")), ".docker")
    try:
        config = json.loads(Path(directory, "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    auths = config.get("auths") or {}
    entry: dict = next(
        (auths[key] for key in (registry, f"https://{registry}", f"http://{registry}") if key in auths), {}
    )
    if entry.get("identitytoken"):
        return {"identitytoken": entry["identitytoken"], "serveraddress": registry}
    if entry.get("auth"):
        username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        return {"username": username, "password": password, "serveraddress": registry}
    helper = (config.get("credHelpers") or {}).get(registry) or config.get("credsStore")
    return _from_helper(helper, registry) if helper else None


def _from_helper(helper: str, registry: str) -> dict | None:
    """docker-credential-<helper> get: the registry on stdin, {"Username", "Secret"} on stdout."""
    try:
        result = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=registry,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT_S,
        )
        found = json.loads(result.stdout) if result.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if not found or not found.get("Secret"):
        return None
    if found.get("Username") == "<token>":  # how helpers hand over an identity token
        return {"identitytoken": found["Secret"], "serveraddress": registry}
    return {"username": found.get("Username", ""), "password": found["Secret"], "serveraddress": registry}


def cpu_shares(mhz: int, total_compute: int) -> int:
    if mhz < MIN_CPU_SHARES:
        return MIN_CPU_SHARES
    if total_compute < MAX_CPU_SHARES:
        return mhz
    return max(MIN_CPU_SHARES, int(mhz / total_compute * MAX_CPU_SHARES))


def container_config(*, alloc_id: str, task: dict, env: dict[str, str], alloc_dir: Path, total_compute: int) -> dict:
    """createContainerConfig for what tapit's tasks use: image, entrypoint, command/args, work_dir,
    init, Nomad's binds and labels, the memory limit (no swap) and CPU shares.  Pure."""
    config = task["Config"] or {}
    res = task["Resources"]
    memory, reservation = (
        (res["MemoryMaxMB"] * MIB, res["MemoryMB"] * MIB) if res["MemoryMaxMB"] else (res["MemoryMB"] * MIB, 0)
    )
    task_dir = alloc_dir / task["Name"]
    host_config = {
        "Binds": [
            f"{alloc_dir / 'alloc'}:{CONTAINER_ALLOC_DIR}",
            f"{task_dir / 'local'}:{CONTAINER_TASK_DIR}",
            f"{task_dir / 'secrets'}:{CONTAINER_SECRETS_DIR}",
            f"{alloc_dir / 'alloc' / 'logs'}:{CONTAINER_ALLOC_DIR}/logs:ro",
        ],
        "Memory": memory,
        "MemoryReservation": reservation,
        "MemorySwap": memory,
        "CpuShares": cpu_shares(res["CPU"], total_compute),
    }
    if config.get("init"):  # drivers/docker/driver.go: hostConfig.Init, set only when true
        host_config["Init"] = True
    body: dict = {
        "Image": config["image"],
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Labels": {**(config.get("labels") or {}), LABEL_ALLOC_ID: alloc_id},
        "Tty": bool(config.get("tty")),
        "OpenStdin": bool(config.get("interactive")),
        "HostConfig": host_config,
    }
    if config.get("command"):
        body["Cmd"] = [config["command"], *[str(a) for a in config.get("args") or []]]
    elif config.get("args"):
        body["Cmd"] = [str(a) for a in config["args"]]
    if config.get("entrypoint"):
        body["Entrypoint"] = list(config["entrypoint"])
    if config.get("work_dir"):
        body["WorkingDir"] = config["work_dir"]
    return body


def container_name(task_name: str, alloc_id: str) -> str:
    return f"{task_name.replace('/', '_')}-{alloc_id}"
