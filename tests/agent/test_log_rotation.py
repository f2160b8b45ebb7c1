"""The log stream over rotated files, as client/fs_endpoint.go logsImpl and findClosest serve it:
offsets count over the files still on disk, frames name their file and where their data ends."""

import base64
import subprocess

from tests.agent.test_tasks import frames

MIB = 1024 * 1024
# Four files of 1 MiB are written and two kept (LogConfig MaxFiles × MaxFileSizeMB): 0 and 1 are gone.
COMMAND = "seq 600000 | head -c 3500000"
SMALL_LOGS = {"LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 1}}


def rotated(agent, job_id):
    agent.register(job_id, COMMAND, task=SMALL_LOGS)
    alloc = agent.wait_alloc(job_id, ("complete",))
    logs = agent.home / "agent" / "allocs" / alloc["ID"] / "alloc" / "logs"
    on_disk = {int(p.name.rsplit(".", 1)[1]): p.read_bytes() for p in logs.glob("main.stdout.*")}
    written = subprocess.run(["sh", "-c", COMMAND], capture_output=True, check=True).stdout
    return alloc, on_disk, written


def test_offsets_count_over_the_files_still_on_disk(agent):
    alloc, on_disk, written = rotated(agent, "rot")
    assert sorted(on_disk) == [2, 3] and len(on_disk[2]) == MIB
    kept = on_disk[2] + on_disk[3]
    assert written[2 * MIB :] == kept  # the first two files were rotated away
    url = f"/v1/client/fs/logs/{alloc['ID']}"

    def plain(**query):
        return agent.http.get(url, params={"task": "main", "type": "stdout", "plain": "true", **query}).content

    assert plain() == kept
    assert plain(offset=10) == kept[10:]  # from the oldest file present, not from the first ever written
    assert plain(offset=MIB + 5) == on_disk[3][5:]
    assert plain(offset=10 * MIB) == b""  # past the end: the end of the newest file
    assert plain(origin="end", offset=7) == kept[-7:]
    assert plain(origin="end", offset=len(on_disk[3]) + 3) == kept[-len(on_disk[3]) - 3 :]
    # findClosest's base case: an offset of 0 is the start of the chosen file, even from the end.
    assert plain(origin="end", offset=0) == on_disk[3]


def test_frames_name_their_file_and_where_their_data_ends(agent):
    alloc, on_disk, _ = rotated(agent, "framed")
    body = agent.http.get(f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout"}).content
    data = [f for f in frames(body) if f.get("Data")]
    ends = {}
    for frame in data:
        index = int(frame["File"].rsplit(".", 1)[1])
        chunk = base64.b64decode(frame["Data"])
        assert frame["File"] == f"alloc/logs/main.stdout.{index}" and len(chunk) <= 64 * 1024
        start = ends.get(index, 0)
        assert frame["Offset"] == start + len(chunk) and on_disk[index][start : frame["Offset"]] == chunk
        ends[index] = frame["Offset"]
    assert ends == {i: len(content) for i, content in on_disk.items()}
    # A resume at the end of a file picks up in the next one; the last byte tells where the log ends.
    body = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "offset": MIB}
    ).content
    first = next(f for f in frames(body) if f.get("Data"))
    assert first["File"] == "alloc/logs/main.stdout.3" and first["Offset"] == len(base64.b64decode(first["Data"]))
    body = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "origin": "end", "offset": 1}
    ).content
    assert [f for f in frames(body) if f.get("Data")] == [
        {
            "Offset": len(on_disk[3]),
            "Data": base64.b64encode(on_disk[3][-1:]).decode(),
            "File": "alloc/logs/main.stdout.3",
        }
    ]
