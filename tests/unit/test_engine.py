"""The docker driver's pure parts: image references, CPU shares, the container a task becomes
(drivers/docker/driver.go createContainerConfig, parseDockerImage, cpuResources)."""

import base64
import json
import os
import socket
from pathlib import Path

import pytest

from tapit.agent import engine
from tapit.agent.engine import container_config, container_name, cpu_shares, engine_url, parse_image, registry_auth

MIB = 1024 * 1024


@pytest.mark.parametrize(
    "image, expected",
    [
        ("ubuntu", ("ubuntu", "latest")),
        ("ubuntu:24.04", ("ubuntu", "24.04")),
        ("registry.example.com:5000/app", ("registry.example.com:5000/app", "latest")),
        ("registry.example.com:5000/app:v2", ("registry.example.com:5000/app", "v2")),
        ("app@sha256:abc", ("app", "sha256:abc")),
    ],
)
def test_image_references_split_as_nomad_splits_them(image, expected):
    assert parse_image(image) == expected


def test_cpu_shares_are_the_tasks_mhz_within_cgroup_bounds():
    assert cpu_shares(250, 4000) == 250
    assert cpu_shares(1, 4000) == 2
    assert cpu_shares(500_000, 1_000_000) == 131_072  # scaled when the node's compute exceeds cgroup v1's maximum


def task(**config):
    return {
        "Name": "task",
        "Config": {"image": "app:v1", "command": "/bin/sh", "args": ["-c", "rake db:migrate"], **config},
        "Resources": {"CPU": 250, "MemoryMB": 512, "MemoryMaxMB": 0},
    }


def test_the_container_mirrors_the_task():
    body = container_config(
        alloc_id="a1",
        task=task(),
        env={"NOMAD_ALLOC_DIR": "/alloc"},
        alloc_dir=Path("/data/allocs/a1"),
        total_compute=4000,
    )
    assert body["Image"] == "app:v1" and body["Cmd"] == ["/bin/sh", "-c", "rake db:migrate"]
    assert body["Env"] == ["NOMAD_ALLOC_DIR=/alloc"]
    assert body["Labels"] == {"com.hashicorp.nomad.alloc_id": "a1"}
    host = body["HostConfig"]
    assert host["Binds"] == [
        "/data/allocs/a1/alloc:/alloc",
        "/data/allocs/a1/task/local:/local",
        "/data/allocs/a1/task/secrets:/secrets",
        "/data/allocs/a1/alloc/logs:/alloc/logs:ro",
    ]
    assert (host["Memory"], host["MemorySwap"], host["MemoryReservation"]) == (512 * MIB, 512 * MIB, 0)
    assert host["CpuShares"] == 250
    assert "Entrypoint" not in body and "WorkingDir" not in body
    assert container_name("task", "a1") == "task-a1"


def test_memory_max_makes_the_memory_a_reservation():
    spec = task()
    spec["Resources"]["MemoryMaxMB"] = 1024
    host = container_config(alloc_id="a1", task=spec, env={}, alloc_dir=Path("/x"), total_compute=4000)["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"]) == (1024 * MIB, 512 * MIB)


def test_args_alone_keep_the_images_entrypoint():
    body = container_config(
        alloc_id="a1",
        task=task(command=None, args=["--version"], work_dir="/app"),
        env={},
        alloc_dir=Path("/x"),
        total_compute=4000,
    )
    assert body["Cmd"] == ["--version"] and body["WorkingDir"] == "/app"


def test_the_engine_is_docker_host_else_a_socket_present(tmp_path, monkeypatch):
    assert engine_url({"DOCKER_HOST": "tcp://10.0.0.1:2375"}) == "tcp://10.0.0.1:2375"
    monkeypatch.setattr(engine, "KNOWN_SOCKETS", ())  # this machine's own engine must not answer here
    assert engine_url({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    (tmp_path / "podman").mkdir()
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "podman" / "podman.sock"))
        assert engine_url({"XDG_RUNTIME_DIR": str(tmp_path)}) == f"unix://{tmp_path}/podman/podman.sock"


def test_registry_logins_come_from_the_docker_clis_config(tmp_path):
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert registry_auth("registry.example.com/app", env) is None  # no config at all
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "registry.example.com": {"auth": base64.b64encode(b"alice:pa:ss").decode()},
                    "https://tokens.example.com": {"identitytoken": "tok"},
                }
            }
        )
    )
    assert registry_auth("registry.example.com/app", env) == {
        "username": "alice",
        "password": "pa:ss",
        "serveraddress": "registry.example.com",
    }
    assert registry_auth("tokens.example.com/team/app", env) == {
        "identitytoken": "tok",
        "serveraddress": "tokens.example.com",
    }
    assert registry_auth("other.example.com/app", env) is None
    assert registry_auth("ubuntu", env) is None and registry_auth("team/app", env) is None  # Docker Hub short names


def test_registry_logins_from_a_credential_helper(tmp_path, monkeypatch):
    # A real helper program, speaking the docker-credential protocol: registry in, JSON out.
    helper = tmp_path / "docker-credential-fake"
    helper.write_text(
        '#!/bin/sh\nread r\n[ "$r" = "registry.example.com" ] && '
        'echo \'{"ServerURL":"registry.example.com","Username":"bob","Secret":"s3"}\'\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {"registry.example.com": "fake"}}))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert registry_auth("registry.example.com/app", env) == {
        "username": "bob",
        "password": "s3",
        "serveraddress": "registry.example.com",
    }
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    assert registry_auth("registry.example.com/app", env)["username"] == "bob"
    assert registry_auth("elsewhere.example.com/app", env) is None  # the helper knows nothing of it


def test_init_makes_tini_pid_1():
    def host(spec):
        return container_config(alloc_id="a1", task=spec, env={}, alloc_dir=Path("/x"), total_compute=4000)[
            "HostConfig"
        ]

    assert host(task(init=True))["Init"] is True
    assert "Init" not in host(task())


def test_an_entrypoint_replaces_the_images():
    spec = task(command=None, entrypoint=["/bin/sh"], args=["-c", "rake db:migrate"])
    body = container_config(alloc_id="a1", task=spec, env={}, alloc_dir=Path("/x"), total_compute=4000)
    assert (body["Entrypoint"], body["Cmd"]) == (["/bin/sh"], ["-c", "rake db:migrate"])
