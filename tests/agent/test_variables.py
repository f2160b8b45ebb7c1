"""Nomad Variables on the embedded agent, over raw HTTP, each rule written from Nomad's source:
command/agent/variable_endpoint.go (the handlers: status codes, headers, the 409 body),
nomad/variables_endpoint.go (Apply's validation and its errors, Read, List),
nomad/structs/variables.go (path rules, the 64 KiB limit, VariableMetadata vs VariableDecrypted),
nomad/state/state_store_variables.go (check-and-set, delete with cas),
nomad/state/paginator (per_page, next_token, filter) and nomad/state/events.go (the Variable topic)."""

import json
import os
import signal
import threading
import time

import httpx
import pytest
from agent.test_streams import read_events

from tapit.agent import daemon

METADATA = ["Namespace", "Path", "CreateIndex", "CreateTime", "ModifyIndex", "ModifyTime"]


def put(agent, path, items, **params):
    return agent.http.put(f"/v1/var/{path}", params=params, json={"Items": items})


def index_of(resp) -> int:
    return int(resp.headers["X-Nomad-Index"])


def nomad_headers(resp) -> set[str]:
    return {name for name in resp.headers if name.lower().startswith("x-nomad-")}


def test_a_variable_is_written_read_and_listed_in_nomads_shapes(agent):
    resp = put(agent, "tapit/tasks/one", {"who": "ann", "exit": "0"})
    assert resp.status_code == 200
    written = resp.json()
    # VariableDecrypted: VariableMetadata's fields (Lock omitempty, absent), then Items.
    assert list(written) == [*METADATA, "Items"]
    assert written["Namespace"] == "default" and written["Path"] == "tapit/tasks/one"
    assert written["Items"] == {"who": "ann", "exit": "0"}
    assert written["CreateIndex"] == written["ModifyIndex"] == index_of(resp)
    assert written["CreateTime"] == written["ModifyTime"] > 0
    assert nomad_headers(resp) == {"x-nomad-index"}  # a write sets the index alone

    read = agent.http.get("/v1/var/tapit/tasks/one")
    assert read.json() == written
    assert index_of(read) == written["ModifyIndex"]
    assert read.headers["X-Nomad-KnownLeader"] == "true" and read.headers["X-Nomad-LastContact"] == "0"

    # An update keeps the creation, moves the modification; POST is PUT.
    resp = agent.http.post("/v1/var/tapit/tasks/one", json={"Items": {"who": "ann", "exit": "3"}})
    updated = resp.json()
    assert updated["CreateIndex"] == written["CreateIndex"] and updated["CreateTime"] == written["CreateTime"]
    assert updated["ModifyIndex"] > written["ModifyIndex"] and updated["ModifyTime"] > written["ModifyTime"]

    # A list answers VariableMetadata: never the items.
    listed = agent.http.get("/v1/vars")
    assert listed.json() == [{key: updated[key] for key in METADATA}]
    assert index_of(listed) == updated["ModifyIndex"] and "X-Nomad-NextToken" not in listed.headers

    missing = agent.http.get("/v1/var/tapit/tasks/none")
    assert (missing.status_code, missing.text) == (404, "variable not found")
    assert index_of(missing) == updated["ModifyIndex"]  # the table's index, set before the 404


def test_the_namespace_of_the_body_wins_over_the_request_and_an_empty_list_is_a_list(agent):
    assert agent.http.get("/v1/vars").json() == []
    resp = agent.http.put("/v1/var/x", params={"namespace": "ops"}, json={"Items": {"a": "b"}, "Namespace": "audit"})
    assert resp.json()["Namespace"] == "audit"
    assert agent.http.get("/v1/var/x", params={"namespace": "audit"}).status_code == 200
    assert agent.http.get("/v1/var/x", params={"namespace": "ops"}).status_code == 404
    # Nomad writes variables to namespaces that do not exist (hashicorp/nomad#15379); so does the agent.
    put(agent, "x", {"a": "c"}, namespace="nowhere")
    assert [v["Namespace"] for v in agent.http.get("/v1/vars", params={"namespace": "*"}).json()] == [
        "audit",
        "nowhere",
    ]
    resp = agent.http.put("/v1/var/x", params={"namespace": "*"}, json={"Items": {"a": "b"}})
    assert (resp.status_code, resp.text) == (400, 'RPC Error:: 400,can not target wildcard ("*")namespace')


NOMAD_DIRECTORY = (
    '"nomad" is a reserved top-level directory path, but you may write variables to "nomad/jobs", '
    '"nomad/job-templates", "nomad/sentinel", or below'
)
JOB_TEMPLATES = (
    '"nomad/job-templates" is a reserved directory path, but you may write variables at the level below it, '
    'for example, "nomad/job-templates/template-name"'
)
UNDER_NOMAD = (
    'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under the top-level "nomad" '
    "directory"
)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("a.b", 'invalid path "a.b"'),
        ("a%20b", 'invalid path "a b"'),
        ("caf%C3%A9", 'invalid path "café"'),
        ("x" * 129, f'invalid path "{"x" * 129}"'),
        ("nomad", NOMAD_DIRECTORY),
        ("nomad/other", UNDER_NOMAD),
        ("nomad/job-templates", JOB_TEMPLATES),
        ("nomad/job-templates/a/b", JOB_TEMPLATES),
    ],
)
def test_a_path_nomad_refuses_is_a_400(agent, path, error):
    resp = agent.http.put(f"/v1/var/{path}", json={"Items": {"a": "b"}})
    # Apply codes canonicalizeAndValidate's already coded error once more: the inner prefix stays.
    assert (resp.status_code, resp.text) == (400, f"RPC Error:: 400,{error}")
    assert index_of(resp) == 0  # the failed RPC left the reply's index at zero
    assert agent.http.get("/v1/vars").json() == []


@pytest.mark.parametrize(
    "path", ["nomad/jobs", "nomad/jobs/a/b", "nomad/sentinel/p", "nomad/job-templates/t", "x" * 128, "a~b_c-D/9/"]
)
def test_a_path_nomad_accepts_is_written(agent, path):
    assert put(agent, path, {"a": "b"}).json()["Path"] == path


def test_a_request_without_a_path_is_a_400(agent):
    for method in ("GET", "PUT", "DELETE"):
        resp = agent.http.request(method, "/v1/var/")
        assert (resp.status_code, resp.text) == (400, "missing variable path")


def test_items_are_limited_to_64_kib_of_keys_and_values(agent):
    # VariableItems.Size counts the bytes of every key and value: 65536 is the most.
    exactly = {"k": "v" * (65536 - 1)}
    assert put(agent, "big", exactly).status_code == 200
    resp = put(agent, "big", {"k": "v" * 65536})
    assert (resp.status_code, resp.text) == (400, "RPC Error:: 400,variables are limited to 64KiB in total size")
    # Bytes, not characters: é is two.
    resp = put(agent, "big", {"k": "é" * 32768})
    assert resp.status_code == 400
    assert agent.http.get("/v1/var/big").json()["Items"] == exactly


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (None, "Request body is empty"),
        (b"{", "unexpected EOF"),
        (b"null", "variable missing required Items object"),
        (b"{}", "variable missing required Items object"),
        (b'{"Items": {}}', "variable missing required Items object"),
        (
            b'{"Items": {"a": 1}}',
            "json: cannot unmarshal number into Go struct field VariableDecrypted.Items of type string",
        ),
        (
            b'{"Items": "a"}',
            "json: cannot unmarshal string into Go struct field VariableDecrypted.Items of type structs.VariableItems",
        ),
        (
            b'{"Items": {"a": "b"}, "ModifyIndex": -1}',
            (
                "json: cannot unmarshal number -1 into Go struct field VariableDecrypted.VariableMetadata.ModifyIndex "
                "of type uint64"
            ),
        ),
        (b'{"Items": {"a": "b"}, "Lock": {"TTL": "soon"}}', 'time: invalid duration "soon"'),
        (
            b'{"Items": {"a": "b"}, "Lock": {"TTL": "15s"}}',
            "RPC Error:: 400,RPC Error:: 400,variable should not contain lock definition",
        ),
    ],
)
def test_a_body_nomad_cannot_take_is_a_400(agent, body, error):
    resp = agent.http.put("/v1/var/v", content=body)
    assert (resp.status_code, resp.text) == (400, error)


def test_check_and_set(agent):
    created = put(agent, "cas", {"n": "1"}, cas=0)
    assert created.status_code == 200
    first = created.json()

    # cas=0 creates only: the variable there is the conflict, items and all, with its index.
    resp = put(agent, "cas", {"n": "2"}, cas=0)
    assert resp.status_code == 409 and resp.json() == first
    assert index_of(resp) == first["ModifyIndex"] and nomad_headers(resp) == {"x-nomad-index"}

    # cas=<ModifyIndex> updates; any other index is a conflict with the variable as it is now.
    second = put(agent, "cas", {"n": "2"}, cas=first["ModifyIndex"]).json()
    assert second["Items"] == {"n": "2"} and second["ModifyIndex"] > first["ModifyIndex"]
    resp = put(agent, "cas", {"n": "3"}, cas=first["ModifyIndex"])
    assert (resp.status_code, resp.json(), index_of(resp)) == (409, second, second["ModifyIndex"])
    assert agent.http.get("/v1/var/cas").json() == second

    # A variable that does not exist, where an index was expected: its "plausible zero value".
    resp = put(agent, "gone", {"n": "1"}, cas=7)
    assert resp.status_code == 409 and index_of(resp) == 0
    assert resp.json() == dict.fromkeys(METADATA, 0) | {"Namespace": "default", "Path": "gone"}
    assert agent.http.get("/v1/var/gone").status_code == 404

    for cas, why in (("x", "invalid syntax"), ("-1", "invalid syntax"), ("18446744073709551616", "value out of range")):
        resp = put(agent, "cas", {"n": "4"}, cas=cas)
        assert (resp.status_code, resp.text) == (400, f'can not parse cas: strconv.ParseUint: parsing "{cas}": {why}')


def test_every_apply_spends_an_index_even_a_conflict(agent):
    """Variables.Apply is a raft apply whatever the state store then answers."""
    first = put(agent, "spent", {"n": "1"}).json()
    assert put(agent, "spent", {"n": "2"}, cas=0).status_code == 409
    assert put(agent, "spent", {"n": "3"}).json()["ModifyIndex"] == first["ModifyIndex"] + 2


def test_delete_with_and_without_cas(agent):
    # Nothing to delete is a success.
    resp = agent.http.delete("/v1/var/never")
    assert (resp.status_code, resp.content) == (204, b"") and index_of(resp) > 0
    assert agent.http.delete("/v1/var/never", params={"cas": 0}).status_code == 204

    var = put(agent, "del", {"a": "b"}).json()
    # cas=0 deletes only what does not exist; a stale index is a conflict with the variable.
    for cas in (0, var["ModifyIndex"] - 1):
        resp = agent.http.delete("/v1/var/del", params={"cas": cas})
        assert (resp.status_code, resp.json(), index_of(resp)) == (409, var, var["ModifyIndex"])
    resp = agent.http.delete("/v1/var/del", params={"cas": var["ModifyIndex"]})
    assert (resp.status_code, resp.content) == (204, b"") and index_of(resp) > var["ModifyIndex"]
    assert agent.http.get("/v1/var/del").status_code == 404
    # Gone, where an index was expected: a conflict with the zero value.
    resp = agent.http.delete("/v1/var/del", params={"cas": var["ModifyIndex"]})
    assert resp.status_code == 409 and resp.json()["CreateIndex"] == 0 and "Items" not in resp.json()

    put(agent, "del", {"a": "b"})
    assert agent.http.delete("/v1/var/del").status_code == 204
    assert agent.http.get("/v1/vars").json() == []


def paths(resp) -> list[str]:
    return [f"{v['Namespace']}.{v['Path']}" for v in resp.json()]


def test_pagination_prefix_filter_and_every_namespace(agent):
    for ns, path in [("default", "tapit/b"), ("default", "tapit/a"), ("default", "other"), ("default", "tapit/c")]:
        put(agent, path, {"a": "b"}, namespace=ns)
    for ns in ("ops", "audit"):
        put(agent, "tapit/a", {"a": "b"}, namespace=ns)

    # A page, and the token of the first variable of the next: "<namespace>.<path>".
    resp = agent.http.get("/v1/vars", params={"prefix": "tapit/", "per_page": 2})
    assert paths(resp) == ["default.tapit/a", "default.tapit/b"]
    assert resp.headers["X-Nomad-NextToken"] == "default.tapit/c"
    resp = agent.http.get("/v1/vars", params={"prefix": "tapit/", "per_page": 2, "next_token": "default.tapit/c"})
    assert paths(resp) == ["default.tapit/c"] and "X-Nomad-NextToken" not in resp.headers
    # A token need not name a variable: the page starts at the first one after it.
    resp = agent.http.get("/v1/vars", params={"next_token": "default.tapit/aa"})
    assert paths(resp) == ["default.tapit/b", "default.tapit/c"]

    # namespace=* walks (Namespace, Path) order; tokens cross namespaces.
    every = agent.http.get("/v1/vars", params={"namespace": "*"})
    assert paths(every) == [
        "audit.tapit/a",
        "default.other",
        "default.tapit/a",
        "default.tapit/b",
        "default.tapit/c",
        "ops.tapit/a",
    ]
    seen, token = [], ""
    while True:
        resp = agent.http.get("/v1/vars", params={"namespace": "*", "per_page": 4, "next_token": token})
        seen += paths(resp)
        token = resp.headers.get("X-Nomad-NextToken", "")
        if not token:
            break
    assert seen == paths(every)
    resp = agent.http.get("/v1/vars", params={"namespace": "*", "prefix": "tapit/a"})
    assert paths(resp) == ["audit.tapit/a", "default.tapit/a", "ops.tapit/a"]

    # The filter comes before the count: per_page pages what it keeps.
    resp = agent.http.get("/v1/vars", params={"namespace": "*", "filter": 'Path == "tapit/a"', "per_page": 2})
    assert paths(resp) == ["audit.tapit/a", "default.tapit/a"]
    assert resp.headers["X-Nomad-NextToken"] == "ops.tapit/a"
    resp = agent.http.get("/v1/vars", params={"filter": "Path =="})
    assert resp.status_code == 400 and resp.text.startswith("failed to create result paginator: ")

    # A negative page takes nothing and hands back the first variable's token.
    resp = agent.http.get("/v1/vars", params={"per_page": -1})
    assert resp.json() == [] and resp.headers["X-Nomad-NextToken"] == "default.other"
    assert agent.http.get("/v1/vars", params={"namespace": "nowhere"}).json() == []

    # http.go parse answers what it cannot read, and the handler adds its own words after.
    for params, text in (
        ({"per_page": "x"}, "Expect a number for `per_page` query string parameter"),
        ({"per_page": str(2**31)}, "Expect a number for `per_page` query string parameter"),
        ({"wait": "soon"}, "Invalid wait time"),
        ({"index": "-1"}, "Invalid index"),
        ({"wait": "soon", "index": "x"}, "Invalid wait time"),
    ):
        for path in ("/v1/vars", "/v1/var/tapit/a"):
            resp = agent.http.get(path, params=params)
            assert (resp.status_code, resp.text) == (400, f"{text}failed to parse parameters"), params


def later(agent, method, path, delay=0.5, **kwargs):
    """The request, `delay` seconds from now, from a client of its own."""

    def send():
        with httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": agent.token}, timeout=10) as client:
            client.request(method, path, **kwargs)

    timer = threading.Timer(delay, send)
    timer.start()
    return timer


def test_blocking_reads_wait_for_their_variable_and_lists_for_any(agent):
    var = put(agent, "watched", {"n": "1"}).json()
    # Another variable's write does not end the wait of a read; the variable's own does.
    later(agent, "PUT", "/v1/var/other", 0.2, json={"Items": {"n": "1"}})
    timer = later(agent, "PUT", "/v1/var/watched", 0.8, json={"Items": {"n": "2"}})
    started = time.monotonic()
    resp = agent.http.get("/v1/var/watched", params={"index": var["ModifyIndex"], "wait": "10s"})
    timer.join()
    assert time.monotonic() - started >= 0.7
    assert resp.json()["Items"] == {"n": "2"} and index_of(resp) == resp.json()["ModifyIndex"]

    listed = agent.http.get("/v1/vars")
    timer = later(agent, "DELETE", "/v1/var/other")
    resp = agent.http.get("/v1/vars", params={"index": index_of(listed), "wait": "10s"})
    timer.join()
    assert index_of(resp) > index_of(listed) and [v["Path"] for v in resp.json()] == ["watched"]

    started = time.monotonic()
    resp = agent.http.get("/v1/var/watched", params={"index": 10**9, "wait": "300ms"})
    assert resp.status_code == 200 and time.monotonic() - started >= 0.3


def test_variables_outlive_the_agent_and_indexes_go_on(agent):
    kept = put(agent, "tapit/kept", {"who": "ann", "text": "ünïcode ✓"}).json()
    put(agent, "tapit/deleted", {"a": "b"})
    agent.http.delete("/v1/var/tapit/deleted")
    before = agent.http.get("/v1/vars")
    # Killed right after the write was answered: the write was on disk before the answer.
    last = put(agent, "tapit/last", {"a": "b"}).json()
    os.kill(agent.info.pid, signal.SIGKILL)
    time.sleep(0.3)
    agent.refresh()
    assert agent.http.get("/v1/var/tapit/kept").json() == kept
    assert agent.http.get("/v1/var/tapit/last").json() == last
    assert agent.http.get("/v1/var/tapit/deleted").status_code == 404
    after = agent.http.get("/v1/vars")
    assert [v["Path"] for v in after.json()] == ["tapit/kept", "tapit/last"]
    assert index_of(after) >= index_of(before)
    assert put(agent, "tapit/new", {"a": "b"}).json()["ModifyIndex"] > last["ModifyIndex"]

    daemon.stop()
    agent.refresh()
    assert agent.http.get("/v1/var/tapit/kept").json() == kept
    state = agent.home / "agent" / "state"
    assert {p.name for p in state.glob("variables.db*")} <= {"variables.db", "variables.db-wal", "variables.db-shm"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in state.glob("variables.db*"))


def test_a_variables_file_that_cannot_be_read_is_kept_aside(agent):
    put(agent, "v", {"a": "b"})
    daemon.stop()
    state = agent.home / "agent" / "state"
    for name in ("variables.db-wal", "variables.db-shm"):
        (state / name).unlink(missing_ok=True)
    (state / "variables.db").write_bytes(b"not a database" * 100)
    agent.refresh()
    assert agent.http.get("/v1/vars").json() == []
    assert (state / "variables.db.unloadable").read_bytes().startswith(b"not a database")
    assert put(agent, "v", {"a": "c"}).status_code == 200


def test_the_variable_topic_of_the_event_stream(agent):
    created = put(agent, "tapit/ev", {"secret": "s"}).json()
    put(agent, "tapit/other", {"a": "b"})
    agent.http.delete("/v1/var/tapit/ev")

    def deleted(events):
        return any(e["Payload"]["Deleted"] for e in events)

    events = read_events(agent, [("topic", "Variable:tapit/ev"), ("index", 1)], deleted)
    assert [(e["Topic"], e["Type"], e["Key"], e["Namespace"], e["FilterKeys"]) for e in events] == [
        ("Variable", "VariableUpdated", "tapit/ev", "default", None)
    ] * 2
    # structs.VariableEvent: the metadata, never the items; Deleted is always written.
    assert events[0]["Payload"] == {"Metadata": {k: created[k] for k in METADATA}, "Deleted": False}
    assert events[0]["Index"] == created["ModifyIndex"]
    assert events[1]["Payload"]["Deleted"] is True and events[1]["Index"] > created["ModifyIndex"]
    assert "secret" not in json.dumps(events)

    events = read_events(agent, [("topic", "Variable"), ("index", 1), ("namespace", "default")], deleted)
    assert {e["Key"] for e in events} == {"tapit/ev", "tapit/other"}


def test_a_request_without_the_token_is_refused_and_writes_nothing(agent):
    bare = httpx.Client(base_url=agent.address, timeout=10)
    put(agent, "secret", {"a": "b"})
    for method, path in (
        ("GET", "/v1/vars"),
        ("GET", "/v1/var/secret"),
        ("PUT", "/v1/var/new"),
        ("DELETE", "/v1/var/secret"),
    ):
        resp = bare.request(method, path, content=b'{"Items": {"a": "b"}}')
        assert (resp.status_code, resp.text) == (403, "Permission denied"), (method, path)
    assert [v["Path"] for v in agent.http.get("/v1/vars").json()] == ["secret"]


def test_a_method_the_variable_path_does_not_serve_is_a_400(agent):
    """VariableSpecificRequest answers CodedError(400, ErrInvalidMethod); VariablesListRequest 405."""
    assert (agent.http.patch("/v1/var/x").status_code, agent.http.patch("/v1/var/x").text) == (400, "Invalid method")
    assert agent.http.head("/v1/var/x").status_code == 400
    assert (agent.http.put("/v1/vars").status_code, agent.http.put("/v1/vars").text) == (405, "Invalid method")


LOCK_TTL_ERROR = "TTL must be between 10 seconds and 24 hours"


def test_locks(agent):
    acquired = agent.http.put("/v1/var/lk", params={"lock-acquire": ""}, json={"Items": {"holder": "a"}})
    assert acquired.status_code == 200
    var = acquired.json()
    lock = var["Lock"]
    # VariableLock.MarshalJSON: durations as Duration.String(), the defaults of Canonicalize.
    assert list(lock) == ["TTL", "LockDelay", "ID"] and (lock["TTL"], lock["LockDelay"]) == ("15s", "15s")
    assert list(var) == ["Namespace", "Path", "Lock", *METADATA[2:], "Items"]
    assert index_of(acquired) == var["ModifyIndex"]
    assert agent.http.get("/v1/var/lk").json()["Lock"] == lock  # a management token sees locks
    assert agent.http.get("/v1/vars").json()[0]["Lock"] == lock

    zero = dict.fromkeys(METADATA, 0) | {"Namespace": "default", "Path": "lk"}
    # Held: another acquire, a write or a delete without the lock's ID is a conflict with nothing shown.
    again = agent.http.put("/v1/var/lk?lock-acquire", json={})
    assert (again.status_code, again.json()) == (409, zero) and index_of(again) > var["ModifyIndex"]
    assert (put(agent, "lk", {"a": "b"}).status_code, put(agent, "lk", {"a": "b"}).json()) == (409, zero)
    assert agent.http.delete("/v1/var/lk").status_code == 409
    # With the ID, a write goes through (and keeps a lock with Canonicalize's defaults).
    resp = agent.http.put("/v1/var/lk", json={"Items": {"holder": "a", "n": "2"}, "Lock": {"ID": lock["ID"]}})
    assert resp.status_code == 200 and resp.json()["Lock"] == lock

    renewed = agent.http.put("/v1/var/lk?lock-renew", json={"Lock": {"ID": lock["ID"]}})
    assert renewed.status_code == 200 and "Items" not in renewed.json() and renewed.json()["Lock"] == lock
    assert "X-Nomad-Index" not in renewed.headers
    for body, status, text in (
        ({"Lock": {"ID": "other"}}, 409, "attempting to modify locked variable"),
        ({}, 500, "1 error occurred:\n\t* missing lock ID\n\n"),
    ):
        resp = agent.http.put("/v1/var/lk?lock-renew", json=body)
        assert (resp.status_code, resp.text) == (status, text)
    resp = agent.http.put("/v1/var/none?lock-renew", json={"Lock": {"ID": lock["ID"]}})
    assert (resp.status_code, resp.text) == (404, "variable doesn't exist")

    for body, text in (
        ({}, "RPC Error:: 400,missing lock information"),
        (
            {"Lock": {"ID": lock["ID"]}, "Items": {}},
            "RPC Error:: 400,lock release operation doesn't take variable items",
        ),
    ):
        resp = agent.http.put("/v1/var/lk?lock-release", json=body)
        assert (resp.status_code, resp.text) == (400, text)
    wrong = agent.http.put("/v1/var/lk?lock-release", json={"Lock": {"ID": "other"}})
    assert (wrong.status_code, wrong.json()) == (409, zero)
    released = agent.http.put("/v1/var/lk?lock-release", json={"Lock": {"ID": lock["ID"]}})
    assert released.status_code == 200 and "Lock" not in released.json() and "Items" not in released.json()
    kept = agent.http.get("/v1/var/lk").json()
    assert kept["Items"] == {"holder": "a", "n": "2"} and "Lock" not in kept
    assert kept["ModifyIndex"] == index_of(released)
    # VarLockRelease errors are the state store's own, uncoded: 500s.
    resp = agent.http.put("/v1/var/lk?lock-release", json={"Lock": {"ID": lock["ID"]}})
    assert (resp.status_code, resp.text, index_of(resp)) == (500, "variable doesn't hold a lock", 0)
    resp = agent.http.put("/v1/var/none?lock-release", json={"Lock": {"ID": lock["ID"]}})
    assert (resp.status_code, resp.text) == (500, "variable doesn't exist")
    assert agent.http.delete("/v1/var/lk").status_code == 204


@pytest.mark.parametrize(
    ("params", "body", "text"),
    [
        ({"lock-acquire": "", "cas": "0"}, {}, "CAS can't be used with lock operations"),
        ({"lock-acquire": "", "lock-release": ""}, {}, "multiple lock operations"),
        ({"lock-acquire": ""}, {"Lock": {"TTL": "5s"}}, f"RPC Error:: 400,1 error occurred:\n\t* {LOCK_TTL_ERROR}\n\n"),
        (
            {"lock-acquire": ""},
            {"Lock": {"TTL": "-1m", "LockDelay": "1s"}},
            f"RPC Error:: 400,2 errors occurred:\n\t* Lock delay and TTL must be positive\n\t* {LOCK_TTL_ERROR}\n\n",
        ),
        ({"lock-acquire": ""}, {"Lock": {"TTL": 9e9}}, f"RPC Error:: 400,1 error occurred:\n\t* {LOCK_TTL_ERROR}\n\n"),
        (
            {"lock-acquire": "", "namespace": "*"},
            {},
            'RPC Error:: 400,1 error occurred:\n\t* can not target wildcard ("*")namespace\n\n',
        ),
    ],
)
def test_a_lock_request_nomad_refuses(agent, params, body, text):
    resp = agent.http.put("/v1/var/lk", params=params, json=body)
    assert (resp.status_code, resp.text) == (400, text)
    assert agent.http.get("/v1/var/lk").status_code == 404


def test_a_lock_not_renewed_is_released_after_twice_its_ttl_and_its_delay_even_across_a_restart(agent):
    """locks.go: the timer runs for 2 x TTL, then LockDelay, then the lock is released; a new
    leader (here, the agent started again) gives every held lock a whole timer."""
    var = agent.http.put("/v1/var/lease?lock-acquire", json={"Lock": {"TTL": "10s", "LockDelay": "1s"}}).json()
    assert (var["Lock"]["TTL"], var["Lock"]["LockDelay"]) == ("10s", "1s")
    daemon.stop()
    agent.refresh()
    restarted = time.monotonic()
    renewed = agent.http.put("/v1/var/lease?lock-renew", json={"Lock": {"ID": var["Lock"]["ID"]}})
    assert renewed.status_code == 200
    events = read_events(
        agent,
        [("topic", "Variable:lease"), ("index", var["ModifyIndex"] + 1)],
        lambda events: any("Lock" not in e["Payload"]["Metadata"] for e in events),
        timeout=30,
    )
    assert 20.5 <= time.monotonic() - restarted < 28
    assert "Lock" not in agent.http.get("/v1/var/lease").json() and events[-1]["Payload"]["Deleted"] is False
    # Released by its timer, it can no longer be renewed.
    resp = agent.http.put("/v1/var/lease?lock-renew", json={"Lock": {"ID": var["Lock"]["ID"]}})
    assert (resp.status_code, resp.text) == (409, "variable doesn't hold a lock")
