"""The TUI's `E`: a shell in a running task's allocation on a real terminal (a pseudo-terminal,
pexpect), against the real embedded agent."""

import json
import sys
import time

import pexpect


def spawn_shell(tapit, task_id: str):
    return pexpect.spawn(
        sys.executable,
        ["-m", "tapit.commands.shell", task_id],
        env=tapit.env,
        cwd=str(tapit.home),
        dimensions=(24, 80),
        encoding="utf-8",
        timeout=30,
    )


def running_task(tapit, command: str) -> dict:
    created = json.loads(tapit("create", "task", command, "--json").stdout)
    for _ in range(300):
        record = json.loads(tapit("show", "task", f"task={created['id']}", "--json").stdout)
        if record["status"] == "running":
            return record
        time.sleep(0.2)
    raise AssertionError(f"task {created['id']} never ran")


def test_a_shell_in_the_tasks_allocation_with_its_exit_code(tapit):
    task = running_task(tapit, "sleep 300")
    child = spawn_shell(tapit, task["id"])
    child.expect_exact("~. disconnects")
    child.sendline('echo "in=$NOMAD_ALLOC_ID size=$(stty size)"')
    child.expect_exact(f"in={task['nomad_alloc_id']} size=24 80")
    child.sendline("exit 4")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4
    assert json.loads(tapit("show", "task", f"task={task['id']}", "--json").stdout)["status"] == "running"


def test_tilde_dot_disconnects(tapit):
    task = running_task(tapit, "sleep 300")
    child = spawn_shell(tapit, task["id"])
    child.expect_exact("~. disconnects")
    child.sendline("echo ready-$((2+3))")
    child.expect_exact("ready-5")
    child.send("\r~.")
    child.expect_exact("disconnected with ~.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 255


def test_a_finished_task_has_no_shell(tapit):
    created = json.loads(tapit("create", "task", "true", "--wait", "--json").stdout)
    child = spawn_shell(tapit, created["id"])
    child.expect_exact(f"tapit: task {created['id']} is complete: a shell needs it running")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
