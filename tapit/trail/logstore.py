"""The log store: the team's object store (S3, GCS, Azure) or a shared folder, through obstore.

`log_store` in tapit.toml names it as a URL; obstore takes each cloud's credentials from that
cloud's standard environment (AWS_ACCESS_KEY_ID / AWS_PROFILE / instance roles, AWS_ENDPOINT_URL;
GOOGLE_APPLICATION_CREDENTIALS; AZURE_STORAGE_ACCOUNT_KEY, AZURE_CLIENT_ID...). What is in it
and how it is encoded: tapit/trail/logformat.py. Nothing here holds more than one chunk in
memory. Every failure becomes one LogStoreError line naming the store (exit 3, as for an
unreachable Nomad); a URL tapit cannot use is a UsageError (exit 2).
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tapit.errors import RuntimeUnavailable
from tapit.trail import logformat
from tapit.trail.logformat import StreamState, check_url

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

# A store that is down is said so after a few seconds, not after obstore's default 10 retries over 3 minutes.
RETRY: RetryConfig = {
    "max_retries": 2,
    "retry_timeout": timedelta(seconds=10),
    "backoff": {"init_backoff": timedelta(seconds=0.2), "max_backoff": timedelta(seconds=2), "base": 2},
}
READ_CHUNK = 1024 * 1024
WRITE_BUFFER = 8 * 1024 * 1024  # S3 parts must be at least 5 MiB


class LogStoreError(RuntimeUnavailable):
    """The store refused, is down, or holds something tapit cannot read: one line."""

    def __init__(self, url: str, what: str, exc: BaseException):
        super().__init__(f"the log store {url} {_verdict(exc)} when {what}: {_summary(exc)}")


def _summary(exc: BaseException) -> str:
    """obstore's message in one line: its first, without the XML body or the request's timing."""
    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    first = first.split(": <?xml", 1)[0]
    return _TIMING.sub("", first).strip()


_TIMING = re.compile(r" in [0-9.]+m?s\b")


def _verdict(exc: BaseException) -> str:
    from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

    if isinstance(exc, (PermissionDeniedError, PermissionError)) or " 403 " in str(exc):
        return "refused (permission denied)"
    if isinstance(exc, UnauthenticatedError) or " 401 " in str(exc):
        return "refused (not authenticated)"
    if isinstance(exc, FileNotFoundError):
        return "answered not found"
    if "error sending request" in str(exc):
        return "could not be reached"
    return "failed"


class LogStore:
    def __init__(self, url: str):
        from obstore.store import from_url  # a native extension: only for commands that use the store

        self.url = check_url(url).rstrip("/")
        parts = urlsplit(self.url)
        with self._errors("opening it"):
            if parts.scheme == "file":
                Path(parts.path).mkdir(parents=True, exist_ok=True)
                self._store = from_url(self.url + "/")
            else:
                self._store = from_url(self.url, retry_config=RETRY, client_options=_client_options(parts.scheme))

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from obstore.exceptions import BaseError

        try:
            yield
        except (BaseError, OSError, ValueError) as exc:
            raise LogStoreError(self.url, what, exc) from None

    def where(self, namespace: str, task_id: str) -> str:
        """The task's folder as a URL an admin can list (`aws s3 ls`, `gsutil ls`, `ls`)."""
        return f"{self.url}/{logformat.task_prefix(namespace, task_id)}/"

    def probe(self) -> None:
        """Write and remove a small object: a store that refuses or is down is said so at start."""
        import obstore

        path = f".tapit-probe-{secrets.token_hex(8)}"  # at the top: a file:// store keeps no folder of it
        with self._errors(f"writing {path}"):
            obstore.put(self._store, path, b"tapit can write here\n")
        with self._errors(f"removing {path}"):
            obstore.delete(self._store, path)

    # --- chunks: the log as it arrived -----------------------------------------------------

    def put_chunk(self, namespace: str, task_id: str, seq: int, parts: list[bytes]) -> bool:
        """Write chunk `seq` unless one is there already (False: another writer got there first)."""
        import obstore
        from obstore.exceptions import AlreadyExistsError

        path = logformat.chunk_path(namespace, task_id, seq)
        with self._errors(f"writing {path}"):
            try:
                obstore.put(self._store, path, b"".join(parts), mode="create")
            except AlreadyExistsError:
                return False
        return True

    def chunk_seqs(self, namespace: str, task_id: str) -> list[int]:
        import obstore

        prefix = f"{logformat.task_prefix(namespace, task_id)}/{logformat.CHUNKS}/"
        with self._errors(f"listing {prefix}"):
            return sorted(logformat.chunk_seq(m["path"]) for batch in obstore.list(self._store, prefix) for m in batch)

    def chunk(self, namespace: str, task_id: str, seq: int) -> bytes:
        import obstore

        path = logformat.chunk_path(namespace, task_id, seq)
        with self._errors(f"reading {path}"):
            return bytes(obstore.get(self._store, path).bytes())

    def resume_point(self, namespace: str, task_id: str) -> tuple[int, dict[str, StreamState]]:
        """The next chunk's number and where the streams stood after the last one written."""
        seqs = self.chunk_seqs(namespace, task_id)
        if not seqs:
            return 0, {s: StreamState() for s in logformat.STREAMS}
        with self._errors(f"reading chunk {seqs[-1]} of task {task_id}"):
            states, _ = logformat.decode_header(self.chunk(namespace, task_id, seqs[-1]))
        return seqs[-1] + 1, states

    def records(self, namespace: str, task_id: str) -> Iterator[tuple[str, memoryview]]:
        """Every record of the task's log in arrival order, one chunk in memory at a time."""
        for seq in self.chunk_seqs(namespace, task_id):
            data = self.chunk(namespace, task_id, seq)
            with self._errors(f"reading chunk {seq} of task {task_id}"):
                _, start = logformat.decode_header(data)
                records = logformat.decode_records(data, start)
            yield from records

    def remove_task(self, namespace: str, task_id: str) -> None:
        """Every object of the task's folder (a file:// store's empty folders too)."""
        import obstore

        prefix = logformat.task_prefix(namespace, task_id) + "/"
        with self._errors(f"removing {prefix}"):
            paths = [m["path"] for batch in obstore.list(self._store, prefix) for m in batch]
            if paths:
                obstore.delete(self._store, paths)
        if urlsplit(self.url).scheme == "file":
            import shutil

            shutil.rmtree(Path(urlsplit(self.url).path) / prefix, ignore_errors=True)

    # --- the final objects -----------------------------------------------------------------

    def put_streams(self, namespace: str, task_id: str, records: Iterable[tuple[str, memoryview]]) -> None:
        """Every stream whole, from the records of all of them in one pass, each uploaded as it
        comes (a multipart upload past a buffer's worth). Writers, not obstore.put(iterator):
        `records` reads the store itself, and obstore cannot be entered from inside one of its
        own calls."""
        import obstore

        folder = logformat.task_prefix(namespace, task_id)
        with self._errors(f"writing {folder}/{', '.join(logformat.STREAMS)}"), ExitStack() as writers:
            by_stream = {
                stream: writers.enter_context(
                    obstore.open_writer(
                        self._store, logformat.stream_path(namespace, task_id, stream), buffer_size=WRITE_BUFFER
                    )
                )
                for stream in logformat.STREAMS
            }
            for stream, data in records:
                by_stream[stream].write(data)

    def stream(self, namespace: str, task_id: str, stream: str) -> Iterator[bytes]:
        import obstore

        path = logformat.stream_path(namespace, task_id, stream)
        with self._errors(f"reading {path}"):
            for piece in obstore.get(self._store, path).stream(min_chunk_size=READ_CHUNK):
                yield bytes(piece)

    def put_manifest(self, namespace: str, task_id: str, manifest: bytes) -> None:
        import obstore

        path = logformat.manifest_path(namespace, task_id)
        with self._errors(f"writing {path}"):
            obstore.put(self._store, path, manifest)

    def manifest(self, namespace: str, task_id: str) -> dict | None:
        import json

        import obstore

        path = logformat.manifest_path(namespace, task_id)
        with self._errors(f"reading {path}"):
            try:
                return json.loads(bytes(obstore.get(self._store, path).bytes()))
            except FileNotFoundError:
                return None


def _client_options(scheme: str) -> ClientConfig:
    """Plain HTTP only where the environment asks for it (a local S3 such as MinIO or moto)."""
    import os

    allow = os.environ.get("AWS_ALLOW_HTTP", "").lower() == "true" if scheme == "s3" else False
    return {"allow_http": True} if allow else {}
