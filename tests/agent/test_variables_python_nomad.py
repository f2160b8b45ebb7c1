"""python-nomad's variables API (nomad.Nomad().variable and .variables) against the embedded
agent, called as python-nomad's own tests call it against a real Nomad
(tests/test_variable.py, tests/test_variables.py of python-nomad)."""

import pytest
from nomad.api import exceptions


def test_create_read_list_and_delete(agent):
    nomad = agent.nomad
    nomad.variable.create_variable("example/first", {"Items": {"user": "test", "password": "test123"}})
    nomad.variable.create_variable("example/second", {"Items": {"user": "test2"}}, namespace="default")
    nomad.variable.create_variable("example/third", {"Items": {"user": "test3"}}, cas=0)
    assert "example/first" in nomad.variables and "example/third" in nomad.variables
    assert "no_exist" not in nomad.variables

    assert nomad.variable.get_variable("example/first")["Items"]["user"] == "test"
    assert nomad.variable.get_variable("example/first", namespace="default")["Items"]["password"] == "test123"
    assert isinstance(nomad.variable["example/first"], dict)
    assert "example/second" in nomad.variable and "no_exist" not in nomad.variable
    with pytest.raises(KeyError):
        nomad.variable["no_exist"]
    with pytest.raises(KeyError):
        nomad.variables["no_exist"]

    assert len(nomad.variables.get_variables()) == 3
    assert len(nomad.variables.get_variables("example/first")) == 1
    assert len(nomad.variables.get_variables("no_exist_var")) == 0
    assert len(nomad.variables.get_variables(namespace="default")) == 3
    assert [v["Path"] for v in nomad.variables] == ["example/first", "example/second", "example/third"]
    assert "Items" not in nomad.variables["example/first"]

    nomad.variable.delete_variable("example/third")
    assert "example/third" not in nomad.variables
    nomad.variable.delete_variable("example/second", namespace="default")
    assert len(nomad.variables.get_variables()) == 1


def test_check_and_set_conflicts_raise_variable_conflict(agent):
    nomad = agent.nomad
    var = nomad.variable.create_variable("variable_with_cas", {"Items": {"user": "test4"}})
    with pytest.raises(exceptions.VariableConflict) as conflict:
        nomad.variable.create_variable("variable_with_cas", {"Items": {"user": "other"}}, cas=0)
    assert conflict.value.nomad_resp.json() == var  # the 409 carries the variable as it is
    with pytest.raises(exceptions.VariableConflict):
        nomad.variable.delete_variable("variable_with_cas", cas=var["ModifyIndex"] + 1)
    assert "variable_with_cas" in nomad.variables
    updated = nomad.variable.create_variable("variable_with_cas", {"Items": {"user": "t5"}}, cas=var["ModifyIndex"])
    assert updated["Items"] == {"user": "t5"}
    nomad.variable.delete_variable("variable_with_cas", cas=updated["ModifyIndex"])
    assert "variable_with_cas" not in nomad.variables


def test_a_refused_variable_is_a_bad_request(agent):
    with pytest.raises(exceptions.BadRequestNomadException) as refused:
        agent.nomad.variable.create_variable("bad.path", {"Items": {"a": "b"}})
    assert refused.value.nomad_resp.text == 'RPC Error:: 400,invalid path "bad.path"'
