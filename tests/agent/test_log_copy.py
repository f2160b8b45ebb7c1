"""tapit's log copy against the real agent's rotated logs: resumed exactly after broken streams,
ended at the log's last byte, and every byte that rotation took before it was read counted."""

import subprocess
import time
from urllib.parse import urlsplit

import pytest
from cuttable_proxy import CuttableProxy

from tapit.service.logcopy import LogCopy
from tapit.translate.jobspec import log_file_size
from tapit.nomad.client import NomadClient
from tapit.nomad.settings import NomadSettings

MIB = 1024 * 1024
SMALL_LOGS = {"LogConfig": {"MaxFiles": 3, "MaxFileSizeMB": 1}}
# 6 MB in 60 steps over 3 s or more: past the rotation window (3 MiB), slow enough to follow.
PACED = (
    'python3 -c "import sys, time\n'
    "for n in range(60):\n"
    "    sys.stdout.write(''.join(f'{i:07d}\\n' for i in range(n * 12500, (n + 1) * 12500)))\n"
    "    sys.stdout.flush()\n"
    '    time.sleep(0.05)"'
)


@pytest.fixture
def proxy(agent):
    """The one part here that is not Nomad's path: a relay whose connections the test breaks at
    any moment, as a flaky network or a restarted load balancer would."""
    relay = CuttableProxy(urlsplit(agent.address).port)
    yield relay
    relay.close()


def copy_of(agent, address, alloc, received):
    client = NomadClient(NomadSettings(address=address, token=agent.token))
    return client, LogCopy(
        client, alloc["ID"], "main", "stdout", log_file_size(alloc, "main"), received.extend, archive=None
    )


def test_a_followed_log_resumes_exactly_where_its_last_frame_ended(agent, proxy):
    expected = subprocess.run(["sh", "-c", PACED], capture_output=True, check=True).stdout
    agent.register("paced", PACED, task=SMALL_LOGS)
    alloc = agent.wait_alloc("paced", ("running",))
    received = bytearray()
    client, copy = copy_of(agent, f"http://127.0.0.1:{proxy.port}", alloc, received)
    try:
        copy.follow()
        cuts = 0
        while agent.alloc("paced")["ClientStatus"] == "running":
            time.sleep(0.4)
            proxy.cut()  # mid-stream, mid-file: the copy has to find its place again
            cuts += 1
        copy.finish()
    finally:
        copy.close()
        client.close()
    assert cuts >= 3
    assert len(expected) > 3 * MIB  # more than the rotation window went through
    assert (len(received), copy.lost_bytes) == (len(expected), 0)
    assert bytes(received) == expected


def test_bytes_rotated_away_before_they_were_read_are_counted_exactly(agent):
    # 5 MiB and 120 bytes into 1 MiB files of which 3 are kept: files 0, 1 and 2 are gone unread.
    command = "head -c 5243000 /dev/urandom > /tmp/x.$$; cat /tmp/x.$$; rm /tmp/x.$$"
    agent.register("burst", command, task=SMALL_LOGS)
    alloc = agent.wait_alloc("burst", ("complete",))
    logs = agent.home / "agent" / "allocs" / alloc["ID"] / "alloc" / "logs"
    kept = b"".join((logs / f"main.stdout.{i}").read_bytes() for i in (3, 4, 5))
    received = bytearray()
    client, copy = copy_of(agent, agent.address, alloc, received)
    try:
        copy.read_all()
    finally:
        copy.close()
        client.close()
    assert bytes(received) == kept
    assert copy.lost_bytes == 3 * MIB == 5243000 - len(kept)
