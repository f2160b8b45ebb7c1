"""A large log streams through reused heap on both ends (tapit/heap.py): without fixed malloc
thresholds, glibc page-faults every 1 MiB temporary in anew, about 2.7 minor faults a page of
output on the client and 1.2 on the agent, which was half the client's CPU time."""

import json
import subprocess
import sys
from pathlib import Path

MB = 1_000_000
SIZE = 40 * MB  # within what the test job's logs keep (a quarter of its disk)
COMMAND = f"seq {SIZE} | head -c {SIZE}"
# What the second half of the stream may fault in once the heap holds its buffers: a few pages
# for the odd new object, against about 13,000 when every temporary is a fresh mapping.
MAX_FAULTS = 1000

READER = """
import json, resource, sys
from tapit.nomad.client import NomadClient
from tapit.nomad.settings import NomadSettings

address, token, alloc_id, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = NomadClient(NomadSettings(address=address, token=token))
received, half_faults = 0, None
for frame in client.alloc_fs.logs(alloc_id, "main", "stdout"):
    received += len(frame.data)
    if half_faults is None and received >= size // 2:
        half_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"bytes": received, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - half_faults}))
"""


def minor_faults(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[7])  # proc(5): minflt, field 10


def test_a_large_log_is_streamed_without_faulting_its_buffers_in(agent):
    agent.register("heap", COMMAND)
    alloc = agent.wait_alloc("heap", ("complete",), timeout=60)

    def read() -> dict:
        argv = [sys.executable, "-c", READER, agent.address, agent.token, alloc["ID"], str(SIZE)]
        return json.loads(subprocess.run(argv, capture_output=True, check=True, text=True).stdout)

    first = read()  # the agent's heap grows to what a stream needs
    assert first["bytes"] == SIZE
    assert first["faults"] < MAX_FAULTS
    before = minor_faults(agent.info.pid)
    assert read()["bytes"] == SIZE
    assert minor_faults(agent.info.pid) - before < MAX_FAULTS
