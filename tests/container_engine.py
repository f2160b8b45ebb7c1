"""A real container engine for the docker driver's tests.

The machine's own Docker or Podman when one answers (DOCKER_HOST or a default socket), else a
`podman system service` started for the test session and stopped after it.  Where neither can
run, the tests that need an engine skip and say why.  No public registry is reachable from the
test machines, so the test image is built here from the machine's static busybox and imported
through the engine's own API (POST /images/create?fromSrc=-); pulls are tested against a
registry of the session's own on loopback (Debian's docker-registry, the CNCF distribution).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import httpx

from tapit.agent.engine import LABEL_ALLOC_ID, engine_url

TEST_IMAGE = "localhost/tapit-test:busybox"
PRIVATE_LOGIN = {"username": "alice", "password": "s3cret"}
APPLETS = (
    "sh",
    "echo",
    "cat",
    "sleep",
    "head",
    "tr",
    "ls",
    "id",
    "env",
    "mv",
    "date",
    "stty",
    "true",
    "false",
    "printf",
    "wc",
    "tail",
    "dd",
    "mkdir",
    "rm",
    "touch",
    "grep",
    "ps",
    "kill",
)
# What this sandbox needs of a podman it starts: runc (crun refuses a hybrid cgroup v1/v2 host),
# cgroupfs (no systemd), and no raised rlimits (the sandbox lacks CAP_SYS_RESOURCE).  And what the
# tests need: an exec session's conmon gone 10 s after it ends, not 300 s, so none outlives them.
PODMAN_CONF = """[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
exit_command_delay = 10
"""


class EngineUnderTest:
    def __init__(self, url: str, registry: str | None = None, private_registry: str | None = None):
        self.url = url
        self.registry = registry  # host:port of the session's open registry, when there is one
        self.private_registry = private_registry  # and of one that wants PRIVATE_LOGIN
        if url.startswith("unix://"):
            self.http = httpx.Client(
                transport=httpx.HTTPTransport(uds=url.removeprefix("unix://")), base_url="http://engine", timeout=60
            )
        else:
            self.http = httpx.Client(base_url=url.replace("tcp://", "http://"), timeout=60)

    def answers(self) -> bool:
        try:
            return self.http.get("/_ping").status_code == 200
        except httpx.HTTPError:
            return False

    def tapit_containers(self) -> list[dict]:
        """Every container carrying the label the docker driver puts on its tasks'."""
        filters = json.dumps({"label": [LABEL_ALLOC_ID]})
        return self.http.get("/containers/json", params={"all": "1", "filters": filters}).json()

    def push_to_registry(
        self, image: str, tag: str, registry: str | None = None, credentials: dict | None = None
    ) -> str:
        """`image` copied to a registry of the session's (the open one unless named) as
        tapit-test:<tag>, and no local copy of that reference left, so that running it makes the
        engine pull it.  Returns the reference."""
        registry = registry or self.registry
        repo = f"{registry}/tapit-test"
        self.http.post(f"/images/{image}/tag", params={"repo": repo, "tag": tag}).raise_for_status()
        auth = base64.b64encode(json.dumps({**(credentials or {}), "serveraddress": registry}).encode()).decode()
        push = self.http.post(f"/images/{repo}/push", params={"tag": tag}, headers={"X-Registry-Auth": auth})
        push.raise_for_status()
        assert "error" not in push.text.lower(), push.text
        self.remove_image(f"{repo}:{tag}")
        return f"{repo}:{tag}"

    def remove_image(self, reference: str) -> None:
        self.http.delete(f"/images/{reference}")

    def import_image(self, rootfs_tar: bytes, reference: str, changes: tuple[str, ...] = ()) -> None:
        """`rootfs_tar` imported as the image `reference`, checked to answer by that name.

        The tag goes inside `repo`: Docker's API accepts it there, and Podman 4.3 ignores a separate
        `tag` on an import (the image would be `<repo>:latest`).  The check makes a fixture that
        could only pass on a machine already holding an image of that name fail here instead.
        `changes` are Dockerfile instructions applied on import (ENTRYPOINT, say)."""
        resp = self.http.post(
            "/images/create",
            params={"fromSrc": "-", "repo": reference, "changes": list(changes)},
            content=rootfs_tar,
            headers={"Content-Type": "application/x-tar"},
        )
        resp.raise_for_status()
        if not self.has_image(reference):
            raise RuntimeError(
                f"the engine at {self.url} imported the test image but has no image named "
                f"{reference}: {resp.text[-300:]}"
            )

    def has_image(self, reference: str) -> bool:
        return self.http.get(f"/images/{reference}/json").status_code == 200


class SlowToAnswer:
    """The engine behind a socket of its own that holds its first connection `delay` seconds
    before passing it on: an engine that is there but slow to answer (a socket-activated Podman
    starting up).  Every later connection passes straight through, both ways."""

    def __init__(self, engine_url: str, path: Path, delay: float):
        self.engine_url, self.delay = engine_url, delay
        self.url = f"unix://{path}"
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        self.open: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _engine(self) -> socket.socket:
        if self.engine_url.startswith("unix://"):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine_url.removeprefix("unix://"))
            return upstream
        host, port = self.engine_url.removeprefix("tcp://").rsplit(":", 1)
        return socket.create_connection((host, int(port)))

    def _accept(self) -> None:
        first = True
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            self.open.append(client)
            threading.Thread(target=self._pass_on, args=(client, self.delay if first else 0), daemon=True).start()
            first = False

    def _pass_on(self, client: socket.socket, delay: float) -> None:
        time.sleep(delay)
        upstream = self._engine()
        self.open.append(upstream)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # either end closed

    def close(self) -> None:
        for sock in self.open:
            sock.close()


def busybox_rootfs() -> bytes | None:
    """A tar of a minimal root filesystem: a static busybox and the applets the tests use."""
    busybox = shutil.which("busybox")
    if not busybox or _dynamic(busybox):
        return None
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for directory in ("bin", "etc", "tmp", "proc", "sys", "dev"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, "bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out.getvalue()


def _dynamic(path: str) -> bool:
    """True when the binary needs shared libraries (then it would not run in an empty image)."""
    result = subprocess.run(["ldd", path], capture_output=True, text=True)
    return result.returncode == 0 and "=>" in result.stdout


def start_podman(directory: Path, registries: tuple[str, ...] = ()) -> tuple[subprocess.Popen | None, str, str]:
    """`podman system service` on a socket of its own, trusting `registries` over plain HTTP;
    (process, url, why not)."""
    podman = shutil.which("podman")
    if not podman:
        return None, "", "no Docker or Podman engine on this machine (install podman to run the docker driver tests)"
    conf = directory / "containers.conf"
    conf.write_text(PODMAN_CONF + ('runtime = "runc"\n' if shutil.which("runc") else ""))
    registries_conf = directory / "registries.conf"
    registries_conf.write_text("".join(f'[[registry]]\nlocation = "{r}"\ninsecure = true\n' for r in registries))
    sock_path = directory / "podman.sock"
    log = directory / "podman.log"
    env = os.environ | {"CONTAINERS_CONF": str(conf), "CONTAINERS_REGISTRIES_CONF": str(registries_conf)}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [podman, "system", "service", "--time=0", f"unix://{sock_path}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    engine = EngineUnderTest(f"unix://{sock_path}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        if sock_path.exists() and engine.answers():
            return process, engine.url, ""
        time.sleep(0.1)
    stop_process_group(process)
    return None, "", f"podman system service did not answer: {log.read_text()[-300:]}"


def start_registry(directory: Path, private: bool = False) -> tuple[subprocess.Popen | None, str]:
    """A Docker registry on a free loopback port, storing under `directory`, open or (private)
    wanting PRIVATE_LOGIN; (process, host:port), or (None, "") where the machine has no registry
    program."""
    program = shutil.which("docker-registry") or shutil.which("registry")
    if not program:
        return None, ""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    auth = ""
    if private:
        import bcrypt

        hashed = bcrypt.hashpw(PRIVATE_LOGIN["password"].encode(), bcrypt.gensalt()).decode()
        (directory / "htpasswd").write_text(f"{PRIVATE_LOGIN['username']}:{hashed}\n")
        auth = f"auth:\n  htpasswd:\n    realm: tapit-tests\n    path: {directory / 'htpasswd'}\n"
    config = directory / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {directory / 'data'}\nhttp:\n  addr: {address}\n{auth}"
    )
    with open(directory / "registry.log", "w") as out:
        process = subprocess.Popen(
            [program, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://{address}/v2/", timeout=1).status_code in (200, 401):
                return process, address
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_process_group(process)
    return None, ""


def stop_process_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def existing_engine() -> str | None:
    url = engine_url()
    return url if url and EngineUnderTest(url).answers() else None
