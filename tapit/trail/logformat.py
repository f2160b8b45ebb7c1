"""How a task's logs are laid out in the log store, and the encoding of each object (pure).

Under the store's prefix, each task has a folder `<namespace>/<task-id>/`:

* `chunks/<seq:08d>`: the task's output as it arrived, both streams interleaved in arrival
  order. Each chunk is one JSON header line (where each stream's copy stood at the chunk's end:
  the rotated file's index, how many of its bytes, bytes lost to rotation, bytes in all) and
  then records `<stream> <length>\\n<bytes>`, one per frame Nomad sent. A chunk is written once,
  with create-only semantics: it is the unit of progress, so an archivist that restarts resumes
  at the last chunk's header and two that race for the same number cannot both win.
* `stdout`, `stderr`: each stream whole, plain bytes, written once the task has ended.
* `manifest.json`: written last; bytes and sha256 of each stream, bytes lost and why, and
  `complete`. Its presence means the folder is final.

Frames are what a task wrote, as Nomad read them, so the interleaving is as fine as the
task's own writes (a line each, for a line-buffered program).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tapit.errors import UsageError

STREAMS = ("stdout", "stderr")
# log_store's schemes, as obstore's from_url reads them, and the form each takes.
SCHEMES = {
    "file": "file:///path",
    "s3": "s3://bucket/prefix",
    "gs": "gs://bucket/prefix",
    "az": "az://container/prefix",
}
CHUNKS = "chunks"
MANIFEST = "manifest.json"
SCHEMA = 1
# The rotated files' sizes a resume needs: Nomad keeps LogConfig.MaxFiles of them (tapit asks
# for 10), so the sizes of the last few dozen indexes are all a resumed stream can count over.
KEPT_SIZES = 64


def check_url(url: str) -> str:
    """The URL when tapit can use it; UsageError naming what is wrong otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        forms = ", ".join(SCHEMES.values())
        raise UsageError(
            f"log_store = {url!r}: unknown scheme {parts.scheme + '://' if parts.scheme else ''!r}; use {forms}"
        )
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise UsageError(f"log_store = {url!r}: a file:// store needs an absolute path, file:///shared/path")
    elif not parts.netloc:
        raise UsageError(f"log_store = {url!r}: no bucket; use {SCHEMES[parts.scheme]}")
    return url


def task_prefix(namespace: str, task_id: str) -> str:
    return f"{namespace}/{task_id}"


def store_of(logs_url: str, namespace: str, task_id: str) -> str:
    """The store's URL from a record's logs_url (the task's folder in it)."""
    folder = "/" + task_prefix(namespace, task_id)
    base = logs_url.rstrip("/")
    if not base.endswith(folder):
        raise ValueError(f"logs_url {logs_url!r} is not the folder of task {task_id} in namespace {namespace}")
    return base[: -len(folder)]


def chunk_path(namespace: str, task_id: str, seq: int) -> str:
    return f"{task_prefix(namespace, task_id)}/{CHUNKS}/{seq:08d}"


def chunk_seq(path: str) -> int:
    return int(path.rsplit("/", 1)[1])


def stream_path(namespace: str, task_id: str, stream: str) -> str:
    return f"{task_prefix(namespace, task_id)}/{stream}"


def manifest_path(namespace: str, task_id: str) -> str:
    return f"{task_prefix(namespace, task_id)}/{MANIFEST}"


@dataclass
class StreamState:
    """Where the copy of one stream stands: Nomad's rotated file index and bytes of it read
    (tapit/service/logcopy.py Position), each file's size read (to count a resumed offset),
    bytes rotation removed unread, and bytes shipped in all."""

    file: int = -1
    offset: int = 0
    sizes: dict[int, int] = field(default_factory=dict)
    lost_bytes: int = 0
    total: int = 0

    def to_json(self) -> dict:
        kept = sorted(self.sizes)[-KEPT_SIZES:]
        return {
            "file": self.file,
            "offset": self.offset,
            "sizes": {str(i): self.sizes[i] for i in kept},
            "lost_bytes": self.lost_bytes,
            "total": self.total,
        }

    @classmethod
    def from_json(cls, data: dict) -> StreamState:
        return cls(
            file=int(data["file"]),
            offset=int(data["offset"]),
            sizes={int(k): int(v) for k, v in data.get("sizes", {}).items()},
            lost_bytes=int(data.get("lost_bytes", 0)),
            total=int(data.get("total", 0)),
        )


def encode_chunk(seq: int, states: dict[str, StreamState], records: list[tuple[str, bytes]]) -> list[bytes]:
    """The chunk's parts, to be written as one object: the header, then each record."""
    header = {"schema": SCHEMA, "seq": seq, "streams": {s: states[s].to_json() for s in STREAMS}}
    parts = [json.dumps(header, separators=(",", ":")).encode() + b"\n"]
    for stream, data in records:
        parts.append(f"{stream} {len(data)}\n".encode())
        parts.append(data)
    return parts


def decode_header(data: bytes) -> tuple[dict[str, StreamState], int]:
    """The stream states a chunk ends with, and where its records begin. ValueError if it is
    not a chunk."""
    end = data.find(b"\n")
    if end < 0:
        raise ValueError("a log chunk without its header line")
    header = json.loads(data[:end])
    if header.get("schema") != SCHEMA:
        raise ValueError(f"a log chunk of schema {header.get('schema')!r}, not {SCHEMA}")
    return {s: StreamState.from_json(header["streams"][s]) for s in STREAMS}, end + 1


def decode_records(data: bytes, start: int) -> list[tuple[str, memoryview]]:
    """The chunk's records from `start` (after the header), in arrival order."""
    view = memoryview(data)
    records = []
    pos = start
    while pos < len(data):
        eol = data.find(b"\n", pos)
        if eol < 0:
            raise ValueError("a log chunk cut inside a record's head")
        stream, _, length = data[pos:eol].decode("ascii").partition(" ")
        if stream not in STREAMS or not length.isdigit():
            raise ValueError(f"a log chunk with a malformed record head at byte {pos}")
        begin, finish = eol + 1, eol + 1 + int(length)
        if finish > len(data):
            raise ValueError("a log chunk cut inside a record")
        records.append((stream, view[begin:finish]))
        pos = finish
    return records


def encode_manifest(namespace: str, task_id: str, chunks: int, streams: dict[str, dict], lost_why: str | None) -> bytes:
    """`streams`: for each stream its bytes, sha256 and lost_bytes; `lost_why`: why the copy
    could not reach the end of the logs, when it could not (the manifest is then not complete)."""
    manifest = {
        "schema": SCHEMA,
        "namespace": namespace,
        "task_id": task_id,
        "complete": lost_why is None,
        "chunks": chunks,
        "streams": streams,
    }
    if lost_why:
        manifest["lost_why"] = lost_why
    return json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
