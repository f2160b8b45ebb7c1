"""NomadSettings.from_env reads the variables Nomad's CLI reads, with the same meaning (api/api.go DefaultConfig)."""

import dataclasses

import pytest

from tapit.gostrconv import parse_bool as parse_go_bool
from tapit.nomad.settings import DEFAULT_ADDRESS, NomadSettings

FULL_ENV = {
    "NOMAD_ADDR": "https://nomad.example:4646",
    "NOMAD_TOKEN": "3f0b-secret-token",
    "NOMAD_NAMESPACE": "team-a",
    "NOMAD_REGION": "eu",
    "NOMAD_CACERT": "/etc/nomad/ca.pem",
    "NOMAD_CAPATH": "/etc/nomad/cas",
    "NOMAD_CLIENT_CERT": "/etc/nomad/cli.pem",
    "NOMAD_CLIENT_KEY": "/etc/nomad/cli-key.pem",
    "NOMAD_SKIP_VERIFY": "true",
    "NOMAD_TLS_SERVER_NAME": "server.eu.nomad",
    "NOMAD_HTTP_AUTH": "alice:pa:ss",
}


def test_every_variable():
    s = NomadSettings.from_env(FULL_ENV)
    assert s == NomadSettings(
        address="https://nomad.example:4646",
        token="3f0b-secret-token",
        namespace="team-a",
        region="eu",
        ca_cert="/etc/nomad/ca.pem",
        ca_path="/etc/nomad/cas",
        client_cert="/etc/nomad/cli.pem",
        client_key="/etc/nomad/cli-key.pem",
        skip_verify=True,
        tls_server_name="server.eu.nomad",
        http_auth="alice:pa:ss",
    )
    assert s.basic_auth == ("alice", "pa:ss")  # Go splits at the first ':'


def test_defaults_when_nothing_is_set():
    s = NomadSettings.from_env({})
    assert s == NomadSettings(address=DEFAULT_ADDRESS)
    assert s.namespace == "default" and s.token is None and not s.skip_verify and s.basic_auth is None


def test_default_address_applies_only_without_nomad_addr():
    assert NomadSettings.from_env({}, default_address="http://127.0.0.1:7777").address == "http://127.0.0.1:7777"
    env = {"NOMAD_ADDR": "unix:///run/nomad.sock"}
    assert NomadSettings.from_env(env, default_address="http://127.0.0.1:7777").address == "unix:///run/nomad.sock"


def test_empty_variables_count_as_unset():
    s = NomadSettings.from_env({name: "" for name in FULL_ENV})
    assert s == NomadSettings(address=DEFAULT_ADDRESS)


def test_user_without_password():
    assert NomadSettings.from_env({"NOMAD_HTTP_AUTH": "bob"}).basic_auth == ("bob", "")


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
def test_skip_verify_true_spellings(value):
    assert parse_go_bool(value) is True
    assert NomadSettings.from_env({"NOMAD_SKIP_VERIFY": value}).skip_verify is True


@pytest.mark.parametrize("value", ["0", "f", "F", "FALSE", "false", "False"])
def test_skip_verify_false_spellings(value):
    assert parse_go_bool(value) is False
    assert NomadSettings.from_env({"NOMAD_SKIP_VERIFY": value}).skip_verify is False


@pytest.mark.parametrize("value", ["yes", "on", "tRUE", "2", " true"])
def test_skip_verify_invalid_is_ignored_like_go(value):
    with pytest.raises(ValueError, match=f'strconv.ParseBool: parsing "{value}": invalid syntax'):
        parse_go_bool(value)
    assert NomadSettings.from_env({"NOMAD_SKIP_VERIFY": value}).skip_verify is False


def test_secrets_stay_out_of_repr_and_str():
    s = NomadSettings.from_env(FULL_ENV)
    for text in (repr(s), str(s), f"{s}", repr(dataclasses.replace(s, namespace="x"))):
        assert "3f0b-secret-token" not in text
        assert "pa:ss" not in text
    assert "team-a" in repr(s)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        NomadSettings.from_env({}).token = "x"
