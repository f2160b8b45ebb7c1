"""The archivist's cost to ship an ended task's logs to the log store (a file:// store: the chunks,
each stream whole, the manifest), against copying the same logs into the local history as
`show logs` does (LogCopy into the history's archive: the reference, measured in the same run).

Run: .venv/bin/python bench/archivist_bench.py [--runs N] [--mib M]
It starts an embedded agent (without its own archivist) under a throwaway TAPIT_HOME, runs one
task writing M MiB on stdout and M/8 on stderr, and stops the agent at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TAPIT_HOME"] = str(Path(tmp) / "home")
        os.environ["TAPIT_AGENT_ARCHIVIST"] = "off"
        from tapit.agent import daemon

        try:
            daemon.ensure_running()
            ship, reference, size = measure(Path(tmp), args.mib, args.runs)
        finally:
            daemon.stop(kill_tasks=True)
    mib = size / 2**20
    print(f"logs of one task: {mib:.1f} MiB (stdout and stderr), {args.runs} runs, medians")
    print(f"  into the local history (reference): {reference:.2f} s  {mib / reference:.0f} MiB/s")
    print(f"  shipped to a file:// log store:     {ship:.2f} s  {mib / ship:.0f} MiB/s")
    print(f"  ratio ship / reference: {ship / reference:.2f}")


def measure(tmp: Path, mib: int, runs: int) -> tuple[float, float, int]:
    from tapit.service import TaskService
    from tapit.service.history import ArchiveWriter
    from tapit.service.logcopy import LogCopy
    from tapit.service.logship import LogShipper
    from tapit.trail.logstore import LogStore
    from tapit.translate.jobspec import TASK_NAME, log_file_size

    service = TaskService.from_environment()
    command = f"yes tapit-archivist-bench | head -c {mib * 2**20}; yes err | head -c {mib * 2**17} >&2"
    from tapit.params import build_spec

    record = service.create(build_spec(command, {}, service.config, "bench"))
    nomad = service._nomad(record)
    while True:
        allocs = nomad.jobs.allocations(record.nomad_job_id)
        if allocs and allocs[0]["ClientStatus"] in ("complete", "failed"):
            break
        time.sleep(0.2)
    alloc = nomad.allocations.info(allocs[0]["ID"])
    file_size = log_file_size(alloc)
    ships, references = [], []
    size = 0
    for run in range(runs):
        start = time.perf_counter()
        copies = [
            LogCopy(nomad, alloc["ID"], TASK_NAME, s, file_size, None, ArchiveWriter(tmp / f"ref-{run}", s))
            for s in ("stdout", "stderr")
        ]
        for copy in copies:
            copy.read_all()
            copy.commit()
        references.append(time.perf_counter() - start)
        size = sum(copy.archive.size for copy in copies)
        start = time.perf_counter()
        shipper = LogShipper(
            LogStore((tmp / f"store-{run}").as_uri()), nomad, "default", record.id, alloc["ID"], file_size
        )
        shipper.follow()
        shipped = shipper.finish()
        ships.append(time.perf_counter() - start)
        assert shipped.total_bytes == size, (shipped.total_bytes, size)
    service.close()
    return statistics.median(ships), statistics.median(references), size


if __name__ == "__main__":
    main()
