"""`tapit run` as a user at a real terminal: a pseudo-terminal (pexpect), the real embedded agent."""

import json
import signal
import sys
import time
from urllib.parse import urlsplit

import pexpect
import pytest
from cuttable_proxy import CuttableProxy

PROMPT = "R> "
BASH = f"export PS1='{PROMPT}'; exec bash --norc --noprofile"


def spawn(tapit, command, rows=24, cols=80):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "tapit", "run", command],
        env=tapit.env,
        cwd=str(tapit.home),
        dimensions=(rows, cols),
        encoding="utf-8",
        timeout=30,
    )
    return child


def shell(tapit, **size):
    child = spawn(tapit, BASH, **size)
    child.expect_exact(PROMPT)
    return child


def finish(child):
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def the_task(tapit):
    [record] = json.loads(tapit("list", "tasks", "--json").stdout)
    return record


def job(nomad_api, job_id):
    matches = [j for j in nomad_api.jobs.get_jobs() if j["ID"] == job_id]
    return matches[0] if matches else None


def test_output_and_exit_codes(tapit):
    child = spawn(tapit, "echo hello-console")
    child.expect_exact("hello-console")
    assert finish(child) == 0
    assert finish(spawn(tapit, "echo bye; exit 5")) == 5


def test_progress_then_prompt(tapit):
    child = spawn(tapit, BASH)
    for step in ("waiting for placement…", "placed on node", "starting…", PROMPT):
        child.expect_exact(step)
    child.sendline("exit 0")
    assert finish(child) == 0


def test_stty_size_follows_the_terminal(tapit):
    child = shell(tapit, rows=24, cols=80)
    child.sendline("stty size")
    child.expect_exact("24 80")
    child.expect_exact(PROMPT)
    child.setwinsize(40, 132)  # the kernel sends tapit SIGWINCH
    for _ in range(20):  # tapit forwards the new size as soon as it handles the signal
        child.sendline("stty size")
        if child.expect_exact(["40 132", "24 80"]) == 0:
            break
        child.expect_exact(PROMPT)
    else:
        raise AssertionError("the remote terminal never got the new size")
    child.sendline("exit")
    assert finish(child) == 0


def test_ctrl_c_and_ctrl_d_go_to_the_remote_program(tapit):
    child = shell(tapit)
    child.sendline("sleep 30; echo not-interrupted")
    time.sleep(0.5)
    child.sendcontrol("c")
    child.expect_exact(PROMPT)
    child.sendline("echo status=$?")
    child.expect_exact("status=130")  # the remote sleep died of SIGINT; tapit did not
    child.sendline("cat")
    child.sendline("typed-line")
    child.expect_exact("typed-line")
    child.sendcontrol("d")  # EOF for the remote cat
    child.expect_exact(PROMPT)
    child.sendline("exit 3")
    assert finish(child) == 3


def test_a_console_exits_with_its_programs_code_after_a_ctrl_c_it_handled(tapit):
    child = spawn(tapit, "python3 -q")
    child.expect_exact(">>> ")
    # python takes it: KeyboardInterrupt, and a new prompt. The terminal's size reaches python
    # just after it starts (as with Nomad's CLI: a tty_size frame once the session is open), and
    # a Ctrl-C while its readline handles that SIGWINCH can go unseen until the next key (seen on
    # a loaded machine; not tapit's doing), so Ctrl-C is pressed until python shows it took one.
    for _ in range(10):
        child.sendcontrol("c")
        if child.expect_exact(["KeyboardInterrupt", pexpect.TIMEOUT], timeout=3) == 0:
            break
    else:
        raise AssertionError("python never saw a Ctrl-C")
    child.expect_exact(">>> ")
    child.sendcontrol("d")  # python exits 0
    assert finish(child) == 0
    record = the_task(tapit)
    assert (record["status"], record["exit_code"]) == ("complete", 0)
    child = spawn(tapit, "python3 -c 'import time; print(\"started\", flush=True); time.sleep(30)'; echo not-here")
    child.expect_exact("started")
    child.sendcontrol("c")  # a program that dies of a Ctrl-C ends the console with it, as under bash
    assert finish(child) == 130
    assert "not-here" not in child.before


def test_piped_stdin_has_no_tty(tapit):
    result = tapit("run", "python3", input="print(6*7)\n")
    assert (result.returncode, result.stdout) == (0, "42\n")
    result = tapit("run", "test -t 0 || echo no-tty; cat >&2; exit 4", input="to-stderr\n")
    assert (result.returncode, result.stdout, result.stderr) == (4, "no-tty\n", "to-stderr\n")


def test_tilde_dot_disconnects_and_purges(tapit, nomad_api):
    child = shell(tapit)
    child.send("echo a~b\r")  # a tilde inside a line is just a tilde
    child.expect_exact("a~b")
    child.expect_exact(PROMPT)
    child.send("~.")
    child.expect_exact("disconnected with ~.")
    assert finish(child) == 255
    record = the_task(tapit)
    assert (record["status"], record["kind"]) == ("stopped", "console")
    assert job(nomad_api, record["nomad_job_id"]) is None


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_hangup_stops_and_purges_the_job(tapit, nomad_api, sig):
    child = shell(tapit)
    record = the_task(tapit)
    assert job(nomad_api, record["nomad_job_id"])["Status"] == "running"
    child.kill(sig)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 128 + sig
    assert job(nomad_api, record["nomad_job_id"]) is None
    assert the_task(tapit)["status"] == "stopped"


def test_the_job_ends_when_its_client_is_killed(tapit, nomad_api):
    idle = 4
    (tapit.home / "tapit.toml").write_text(f"console_idle_timeout_s = {idle}\n")
    child = shell(tapit)
    child.sendline("echo before-kill")
    child.expect_exact("before-kill")
    record = the_task(tapit)
    child.kill(signal.SIGKILL)
    killed = time.monotonic()
    child.close(force=True)
    while job(nomad_api, record["nomad_job_id"])["Status"] != "dead":
        # The keep-alive's deadline is whole seconds on the node's clock: allow one more.
        # Generous on top for a loaded machine; the point is that it ends without its client.
        assert time.monotonic() - killed < idle + 1 + 10, "the console outlived its client"
        time.sleep(0.2)
    assert the_task(tapit)["status"] not in ("pending", "running")
    assert "before-kill" in tapit("show", "logs", f"task={record['id']}").stdout  # what it showed is kept


def test_idle_warning_then_stop_and_a_key_extends_it(tapit, nomad_api):
    (tapit.home / "tapit.toml").write_text("console_idle_timeout_s = 4\n")
    child = shell(tapit)
    child.expect_exact("[tapit] idle: this console stops in")
    child.send("x")  # any key keeps it
    child.expect_exact("x")
    child.expect_exact("[tapit] idle: this console stops in")  # warned again later, not stopped
    child.expect_exact("stopped after 4s without activity")
    assert finish(child) == 124
    assert job(nomad_api, the_task(tapit)["nomad_job_id"]) is None


def test_transcript_records_output_not_keystrokes(tapit):
    child = shell(tapit)
    child.sendline("read -s secret; echo length=${#secret}")
    child.sendline("hunter2")
    child.expect_exact("length=7")
    child.setwinsize(30, 100)
    child.sendline("echo visible-marker")
    child.expect_exact("visible-marker")
    child.sendline("exit")
    assert finish(child) == 0
    record = the_task(tapit)
    cast = (tapit.home / "logs" / record["id"] / "console.cast").read_text().splitlines()
    header = json.loads(cast[0])
    assert (header["version"], header["width"], header["height"], header["command"]) == (2, 80, 24, BASH)
    events = [json.loads(line) for line in cast[1:]]
    output = "".join(text for _, kind, text in events if kind == "o")
    assert "visible-marker" in output and "length=7" in output
    assert "hunter2" not in "".join(cast)
    assert [text for _, kind, text in events if kind == "r"] == ["100x30"]
    assert all(kind in ("o", "r") for _, kind, _ in events)
    stamps = [stamp for stamp, _, _ in events]
    assert stamps == sorted(stamps)
    assert (record["status"], record["exit_code"]) == ("complete", 0)
    assert record["started_at"] and record["finished_at"]
    logs = tapit("show", "logs", f"task={record['id']}")
    assert "visible-marker" in logs.stdout
    replay = tapit("show", "logs", f"task={record['id']}", "--replay")
    assert replay.returncode == 0 and "visible-marker" in replay.stdout


def test_placement_failure_in_one_line(tapit):
    result = tapit("run", "bash", "memory=1000")
    assert result.returncode == 1
    [line] = [text for text in result.stderr.splitlines() if text.startswith("tapit:")]
    assert "could not be placed" in line
    record = the_task(tapit)
    assert record["status"] == "failed"


def test_a_network_drop_stops_and_purges(tapit, nomad_api):
    from tapit.agent import daemon

    agent = daemon.ensure_running()
    proxy = CuttableProxy(urlsplit(agent.address).port)
    try:
        (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')  # a "cluster" that is our agent
        tapit.env.update(NOMAD_ADDR=f"http://127.0.0.1:{proxy.port}", NOMAD_TOKEN=agent.token)
        child = shell(tapit)
        record = the_task(tapit)
        proxy.cut()
        child.expect_exact("lost the connection to Nomad")
        assert finish(child) == 3
        assert job(nomad_api, record["nomad_job_id"]) is None  # purged over a new connection
        assert the_task(tapit)["status"] == "failed"
    finally:
        proxy.close()
