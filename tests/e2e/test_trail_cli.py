"""The shared trail through the real CLI: two operators (two TAPIT_HOMEs) against one agent, the
local history as a cache that works offline and is rebuilt from the trail, and a submission whose
answer is lost that still starts exactly one job."""

import http.server
import json
import threading
import time
from dataclasses import replace

import httpx
import pytest

from tapit.agent import daemon
from tapit.model import UNKNOWN_OUTCOME
from tapit.nomad.client import NomadClient
from tapit.nomad.settings import NomadSettings
from tapit.service.trail import Trail


@pytest.fixture
def cluster(tapit):
    """The embedded agent, addressed as a cluster would be; tasks run as host processes."""
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    agent = daemon.ensure_running()
    return {"NOMAD_ADDR": agent.address, "NOMAD_TOKEN": agent.token}


@pytest.fixture
def no_archivist(monkeypatch):
    """A cluster where no archivist runs: the agent started without its own (before `cluster`)."""
    monkeypatch.setenv("TAPIT_AGENT_ARCHIVIST", "off")


def admin(env: dict) -> httpx.Client:
    return httpx.Client(base_url=env["NOMAD_ADDR"], headers={"X-Nomad-Token": env["NOMAD_TOKEN"]}, timeout=15)


def wait_dead(env: dict, job_id: str) -> None:
    with admin(env) as nomad:
        for _ in range(300):
            if nomad.get(f"/v1/job/{job_id}").json()["Status"] == "dead":
                return
            time.sleep(0.1)
    raise AssertionError(f"{job_id} never ended")


def purge(env: dict, job_id: str) -> None:
    """As Nomad's garbage collector does to a finished batch job after job_gc_threshold."""
    with admin(env) as nomad:
        assert nomad.delete(f"/v1/job/{job_id}", params={"purge": "true"}).status_code == 200
        assert nomad.get(f"/v1/job/{job_id}").status_code == 404


def listed(tapit, env: dict) -> dict:
    result = tapit("list", "tasks", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {task["id"]: task for task in json.loads(result.stdout)}


def test_a_teammate_sees_the_task_after_its_job_is_purged_and_the_creator_gets_it_back(
    tapit, no_archivist, cluster, tmp_path
):
    a = cluster
    b = {**cluster, "TAPIT_HOME": str(tmp_path / "operator-b")}
    waited = json.loads(tapit("create", "task", "echo made; exit 3", "--wait", "--json", env=a).stdout)
    unseen = json.loads(tapit("create", "task", "sleep 0.2; echo nobody looked", "--json", env=a).stdout)
    for task in (waited, unseen):
        wait_dead(a, task["nomad_job_id"])
        purge(a, task["nomad_job_id"])

    seen_by_b = listed(tapit, b)
    assert seen_by_b[waited["id"]]["status"] == "failed" and seen_by_b[waited["id"]]["exit_code"] == 3
    assert seen_by_b[waited["id"]]["initiated_by"] == waited["initiated_by"]
    # Nothing saw that one end before Nomad collected it (no archivist runs here): not `lost`, never guessed.
    assert seen_by_b[unseen["id"]]["status"] == "unknown" and seen_by_b[unseen["id"]]["exit_code"] is None
    shown = tapit("show", "task", f"task={unseen['id']}", env=b)
    assert shown.returncode == 0 and f"Exit:         {UNKNOWN_OUTCOME}" in shown.stdout

    for path in tapit.home.glob("history*"):
        path.unlink()
    back = listed(tapit, a)
    assert {k: (v["status"], v["exit_code"]) for k, v in back.items()} == {
        waited["id"]: ("failed", 3),
        unseen["id"]: ("unknown", None),
    }
    assert back[waited["id"]]["command"] == "echo made; exit 3"
    assert tapit("show", "task", f"task={waited['id']}", env=a).stdout.count("exit code 3") == 1


def test_out_of_reach_the_local_copy_is_shown_and_says_so(tapit, cluster):
    task = json.loads(tapit("create", "task", "true", "--wait", "--json", env=cluster).stdout)
    away = {**cluster, "NOMAD_ADDR": "http://127.0.0.1:9"}
    line = "tapit: offline: showing the local copy (cannot reach Nomad at http://127.0.0.1:9: connection refused)\n"
    result = tapit("list", "tasks", env=away)
    assert result.returncode == 0 and task["id"] in result.stdout and result.stderr == line
    result = tapit("show", "task", f"task={task['id']}", env=away)
    shown = json.loads(tapit("show", "task", f"task={task['id']}", "--json", env=away).stdout)
    # Once the local copy holds the archivist's shipment nothing is asked, so nothing is out of reach.
    said = "" if shown["logs_url"] else line
    assert result.returncode == 0 and "Status:       complete" in result.stdout and result.stderr == said
    # A task it has no copy of needs Nomad: the usual one line and exit 3.
    result = tapit("show", "task", "task=0badc0de", env=away)
    assert result.returncode == 3 and result.stderr.count("\n") == 1 and "127.0.0.1:9" in result.stderr


class Proxy(http.server.ThreadingHTTPServer):
    """Relays HTTP to the agent, but the first job registration's answer never comes back: sent
    on and the connection closed (drop `after`, a timeout after Nomad acted), or closed unsent
    (`before`, a drop on the way), and with drop `down` nothing is answered any more after it (sent
    on, then the network is gone). With `refuse_variables`, the variables are refused as Nomad
    refuses a token without the variables capabilities (the agent has no ACL policies to do it)."""

    def __init__(self, target: str, drop: str | None = None, refuse_variables: bool = False):
        self.target, self.drop, self.refuse_variables, self.dropped = target, drop, refuse_variables, 0
        super().__init__(("127.0.0.1", 0), Relay)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Relay(http.server.BaseHTTPRequestHandler):
    def relay(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        if server.drop == "down" and server.dropped:
            self.close_connection = True
            return
        if server.refuse_variables and self.path.startswith("/v1/var"):
            self.answer(403, {}, b"Permission denied")
            return
        drop = (
            server.drop and self.command in ("PUT", "POST") and self.path.startswith("/v1/jobs") and not server.dropped
        )
        if drop and server.drop == "before":
            server.dropped += 1
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.request(self.command, server.target + self.path, headers=headers, content=body)
        if drop:
            server.dropped += 1
            self.close_connection = True
            return
        self.answer(answer.status_code, answer.headers, answer.content)

    def answer(self, status: int, headers, content: bytes):
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_PUT = do_POST = do_DELETE = relay

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_lost_answer_to_the_submission_still_starts_exactly_one_job(tapit, cluster, when):
    proxy = Proxy(cluster["NOMAD_ADDR"], drop=when)
    try:
        via = {**cluster, "NOMAD_ADDR": proxy.address}
        result = tapit("create", "task", "echo once", "--json", env=via)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        task = json.loads(result.stdout)
        # Running already when the agent's archivist recorded it so before the answer was resolved,
        # and on a quick machine `echo` may be done by then.
        assert proxy.dropped == 1 and task["status"] in ("pending", "running", "complete")
    finally:
        proxy.shutdown()
        proxy.server_close()
    with admin(cluster) as nomad:
        # One registration took: one evaluation of it, one allocation, version 0.
        evals = nomad.get(f"/v1/job/{task['nomad_job_id']}/evaluations").json()
        assert [e["TriggeredBy"] for e in evals] == ["job-register"]
        assert len(nomad.get(f"/v1/job/{task['nomad_job_id']}/allocations").json()) == 1
        assert nomad.get(f"/v1/job/{task['nomad_job_id']}").json()["Version"] == 0
    followed = tapit("show", "logs", f"task={task['id']}", "--follow", env=cluster)
    assert followed.returncode == 0 and followed.stdout == "once\n"


def test_a_token_without_the_variables_still_runs_tasks_and_says_the_trail_is_local(tapit, cluster):
    proxy = Proxy(cluster["NOMAD_ADDR"], refuse_variables=True)
    try:
        via = {**cluster, "NOMAD_ADDR": proxy.address}
        # (Not --wait: this proxy does not relay streams.)
        result = tapit("create", "task", "echo kept", "--json", env=via)
        assert result.returncode == 0, result.stderr
        warning = result.stderr.splitlines()
        assert len(warning) == 1 and warning[0].startswith("tapit: warning: the cluster does not keep tapit's trail:")
        assert 'the token needs variables capability "read" on path "tapit/task/' in warning[0]
        assert warning[0].endswith("tasks are recorded in this machine's history only")
        wait_dead(cluster, json.loads(result.stdout)["nomad_job_id"])
        result = tapit("list", "tasks", env=via)
        assert result.returncode == 0 and "complete" in result.stdout
        assert result.stderr.count("\n") == 1 and "trail" in result.stderr
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_show_task_gives_what_an_archivist_recorded_usage_and_last_lines(tapit, no_archivist, cluster):
    task = json.loads(tapit("create", "task", "echo done", "--wait", "--json", env=cluster).stdout)
    # What the archivist writes (tapit/service/trail.py, as it calls it), over what the CLI recorded.
    settings = NomadSettings(address=cluster["NOMAD_ADDR"], token=cluster["NOMAD_TOKEN"])
    with NomadClient(settings) as nomad:
        trail = Trail(lambda namespace: nomad)
        recorded = trail.read(task["id"])
        lines = "".join(f"line {i}\n" for i in range(30))
        trail.write(replace(recorded, peak_memory_bytes=52_428_800, cpu_seconds=12.5, tail=lines))
    shown = tapit("show", "task", f"task={task['id']}", env=cluster)
    assert shown.returncode == 0, shown.stderr
    assert "Peak memory:  50.0 MB\n" in shown.stdout and "CPU time:     12s\n" in shown.stdout
    assert shown.stdout.endswith("Last lines of output:\n" + "".join(f"  line {i}\n" for i in range(20, 30)))
    as_json = json.loads(tapit("show", "task", f"task={task['id']}", "--json", env=cluster).stdout)
    assert (as_json["peak_memory_bytes"], as_json["cpu_seconds"], as_json["tail"]) == (52_428_800, 12.5, lines)
    assert as_json["status"] == "complete"  # what the CLI saw end stays


def test_a_submission_that_cannot_be_confirmed_stays_submitting_until_someone_looks(tapit, cluster):
    proxy = Proxy(cluster["NOMAD_ADDR"], drop="down")
    try:
        result = tapit("create", "task", "echo once", "--json", env={**cluster, "NOMAD_ADDR": proxy.address})
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert result.returncode == 3 and result.stderr.count("\n") == 1 and proxy.address in result.stderr
    [task] = listed(tapit, {**cluster, "NOMAD_ADDR": "http://127.0.0.1:9"}).values()  # the local copy
    assert task["status"] == "submitting" and "submission not confirmed" in task["reason"]
    # Looking again, Nomad has the job: it ran, once.
    wait_dead(cluster, task["nomad_job_id"])
    [task] = listed(tapit, cluster).values()
    assert (task["status"], task["exit_code"], task["reason"]) == ("complete", 0, None)
    assert tapit("show", "logs", f"task={task['id']}", env=cluster).stdout == "once\n"
