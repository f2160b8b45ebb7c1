"""The parameter parser shared by the CLI and the TUI form."""

import pytest

from tapit.config import AppConfig
from tapit.errors import UsageError
from tapit.params import CONSOLE_KEYS, TASK_KEYS, build_spec, parse_assignments

CONFIG = AppConfig(image_repository="registry.example.com/shop")


def spec(command="echo hi", **values):
    return build_spec(command, {k: str(v) for k, v in values.items()}, CONFIG, "alice@host")


def test_defaults_come_from_the_config():
    s = build_spec("true", {}, AppConfig(memory_gb=2, cpu=1, max_hours=3), "bob")
    assert (s.memory_gb, s.cpu, s.max_hours, s.initiated_by) == (2, 1, 3, "bob")


def test_values_override_defaults():
    s = spec(memory=1.5, cpu=2, max_hours=0.001, ephemeral_storage_gb=4, docker_tag="v1", initiated_by="ci")
    assert (s.memory_gb, s.cpu, s.max_hours, s.ephemeral_storage_gb, s.docker_tag, s.initiated_by) == (
        1.5,
        2.0,
        0.001,
        4.0,
        "v1",
        "ci",
    )


def test_a_docker_tag_needs_the_apps_image_repository():
    with pytest.raises(UsageError, match="no image_repository is set"):
        build_spec("true", {"docker_tag": "v1"}, AppConfig(), "alice@host")


def test_image_is_kept_as_given():
    assert spec(image="ubuntu:24.04").image == "ubuntu:24.04"


@pytest.mark.parametrize(
    "image",
    [
        "ubuntu",
        "library/ubuntu:24.04",
        "registry.example.com:5000/team/my_app__x.y-z:v1.2_RC",
        "Registry.Example.com/team/app",  # a registry host is case-insensitive
        "localhost:5000/app",
        "[::1]:5000/app:1",
        "app@sha256:" + "0123456789abcdef" * 4,
        "app:v1@sha256:" + "0123456789abcdef" * 4,
        "a" * 255,
    ],
)
def test_image_references_docker_accepts_are_accepted(image):
    assert spec(image=image).image == image


def test_an_initiator_of_256_characters_is_accepted():
    assert spec(initiated_by="x" * 256).initiated_by == "x" * 256


@pytest.mark.parametrize(
    "words, message",
    [
        (["colour=red"], "unknown parameter 'colour'"),
        (["memory"], "unexpected argument 'memory'"),
        (["memory=1", "memory=2"], "memory is given twice"),
    ],
)
def test_assignment_errors(words, message):
    with pytest.raises(UsageError, match=message):
        parse_assignments(words, TASK_KEYS)


def test_consoles_do_not_take_initiated_by():
    with pytest.raises(UsageError, match="unknown parameter 'initiated_by'"):
        parse_assignments(["initiated_by=x"], CONSOLE_KEYS)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"memory": "abc"}, "memory='abc' is not a decimal number; use memory=<GB>"),
        ({"memory": "1e3"}, "is not a decimal number"),
        ({"memory": "nan"}, "is not a decimal number"),
        ({"memory": "0.001"}, "out of range"),
        ({"memory": "2048"}, "out of range"),
        ({"cpu": "-1"}, "cpu=-1 must be greater than 0"),
        ({"cpu": "0"}, "must be greater than 0"),
        ({"max_hours": "0"}, "max_hours=0 must be greater than 0"),
        ({"max_hours": ""}, "is not a decimal number"),
        ({"ephemeral_storage_gb": "1_0"}, "is not a decimal number"),
        ({"docker_tag": "has space"}, "not a valid tag"),
        ({"docker_tag": ""}, "not a valid tag"),
        ({"image": ""}, "not an image reference"),
        ({"image": "a", "docker_tag": "b"}, "cannot be combined"),
        ({"initiated_by": " "}, "initiated_by is empty"),
        ({"initiated_by": "x" * 257}, "initiated_by is 257 characters long; a name of at most 256"),
        ({"image": "UPPER/case:tag"}, "repository name must be lowercase"),
        ({"image": "Ubuntu"}, "repository name must be lowercase"),
        ({"image": "localhost/App"}, "repository name must be lowercase"),
        ({"image": "ubuntu:"}, "not an image reference"),
        ({"image": "ubuntu:24.04:extra"}, "not an image reference"),
        ({"image": "-ubuntu"}, "not an image reference"),
        ({"image": "team//app"}, "not an image reference"),
        ({"image": "app@sha256:abc"}, "not an image reference"),  # a digest is at least 32 hex digits
        ({"image": "ubuntu:" + "t" * 129}, "not an image reference"),  # a tag is at most 128
        ({"image": "a" * 256}, "the repository name is 256 characters; at most 255"),
    ],
)
def test_bad_values_name_the_problem_and_the_form(values, message):
    with pytest.raises(UsageError, match=message):
        build_spec("true", values, CONFIG, "x")


@pytest.mark.parametrize("command", ["", "   "])
def test_empty_command(command):
    with pytest.raises(UsageError, match="the command is empty"):
        spec(command)
