"""Copying one log of an allocation out of Nomad, byte-exact across log rotation.

Nomad keeps a task's stdout and stderr as rotated files `<task>.<type>.<n>`, at most
LogConfig.MaxFiles of LogConfig.MaxFileSizeMB each, deleting the oldest as it goes
(client/logmon/logging/rotator.go). Its log stream sends frames that name the file their bytes
come from and where in it they end, and counts a requested offset over the files still on disk,
from the oldest one present (client/fs_endpoint.go logsImpl, findClosest). So a copy knows where
it is as (file index, bytes of that file), never as a count of all the bytes it received:

* It reads one stream from the oldest file on. A stream that breaks is resumed exactly where its
  last frame ended: the oldest file present is found (the first frame of a stream from offset 0),
  the offset counted from it, and the count checked by looking again once the stream answers.
* Once the task has ended, the end of the log is asked for (origin=end, offset=1 answers with the
  last byte, its file and where it ends) and the one stream is read up to it: nothing is read
  twice, and the stream that never ends by itself (Nomad's follow) is closed at the right byte.
* Files rotated away before the stream reached them show as a jump in the file index (Nomad skips
  them without a word). Their bytes are counted as lost: a full rotated file holds MaxFileSizeMB
  (exactly, on the embedded agent; Nomad's rotator may end one up to 32 KiB early, at a line
  boundary — rotator.go lineScanLimit — so against a cluster the count is at most that high).
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from typing import Callable, NamedTuple, Protocol

from tapit.errors import LogsGone
from tapit.nomad.client import NomadClient
from tapit.nomad.errors import NomadError, NomadNotFound, NomadRefused
from tapit.nomad.frames import LogFrame, log_index

FOLLOW_RETRY_S = 0.5
# How often the end of the log is asked for again while waiting to reach it: a Nomad client may
# flush the last of a task's output after the allocation is reported finished.
END_RECHECK_S = 2.0
# No new byte for this long while short of the end: the stream is stuck, and saying so beats waiting.
STALL_S = 60.0


class LogArchive(Protocol):
    """Where a copy archives what it delivers: history.ArchiveWriter, or a writer wrapped to note
    the arrival order (log_arrival.NotedArchive) or to feed the log store (logship._Feed)."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def discard(self) -> None: ...


class Position(NamedTuple):
    """Where the copy is: the rotated file's index and how many of its bytes it has."""

    file: int
    offset: int


NOTHING = Position(-1, 0)  # before the first byte


class Resume(NamedTuple):
    """Where an earlier copy of the same log stopped: its position, the sizes it had counted of
    each rotated file, and the bytes it had found lost."""

    position: Position
    sizes: dict[int, int]
    lost_bytes: int


class LogCopy:
    """One log (stdout or stderr) of an allocation, delivered in order to a sink and an archive.

    `sink` errors (a closed pipe) stop the delivery to it, never the archive; `sink_error`
    keeps the first. `cancel` stops delivering to the sink at once (the TUI moved on).
    """

    def __init__(
        self,
        nomad: NomadClient,
        alloc_id: str,
        task: str,
        log_type: str,
        file_size: int,
        sink: Callable[[bytes], None] | None,
        archive: LogArchive | None,
        cancel: threading.Event | None = None,
        resume: Resume | None = None,
    ):
        self.nomad, self.alloc_id, self.task, self.log_type = nomad, alloc_id, task, log_type
        self.file_size = file_size
        self.sink, self.archive = sink, archive
        self.sink_error: BaseException | None = None
        # A copy resumed where an earlier one (another process) stopped starts at its position,
        # with the file sizes it had counted: the first stream then resumes exactly there.
        resume = resume or Resume(NOTHING, {}, 0)
        self.position = resume.position
        self.lost_bytes = resume.lost_bytes
        self.sizes: dict[int, int] = dict(resume.sizes)  # bytes received of each file, to count a resume's offset
        self._unfinished = False  # the current file went away before the copy had all of it
        self._cancel = cancel or threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._target: Position | None = None
        self._crash: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.committed = False
        self._progress_at = time.monotonic()

    # --- the three ways to use it ---------------------------------------------------------

    def read_all(self) -> None:
        """The log as it is now, once (a task that has ended, or a look at a running one)."""
        try:
            for frame in self.nomad.alloc_fs.logs(self.alloc_id, self.task, self.log_type, follow=False):
                self._take(frame)
        except NomadNotFound as exc:
            self._unless_gone(exc)

    def follow(self) -> None:
        """Start following in a thread; finish() once the task has ended. A token that may not
        read the log is refused here, once, not retried in the thread."""
        self._end()
        self._thread = threading.Thread(target=self._follow, daemon=True, name=f"follow-{self.log_type}")
        self._thread.start()

    def finish(self) -> None:
        """Read up to the end of the log of the ended task, then close the stream."""
        try:
            while True:
                target = self._end()
                with self._changed:
                    if target != self._target:
                        self._target, self._progress_at = target, time.monotonic()
                    self._changed.wait_for(lambda: self._reached() or self._crash is not None, END_RECHECK_S)
                    if self._crash is not None:
                        raise self._crash
                    if self._cancel.is_set():
                        return
                    if not self._reached():
                        if time.monotonic() - self._progress_at > STALL_S:
                            raise NomadError(
                                f"the {self.log_type} log stream stopped at byte {self.position.offset} of log file "
                                f"{self.position.file}, short of its end (byte {target.offset} of file {target.file})"
                            )
                        continue  # still on its way, or the end moved: ask again
                if self._end() == target:
                    return
        finally:
            self._stop_following()

    def _stop_following(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self) -> None:
        """Stop following; an archive not yet committed is thrown away."""
        self._stop_following()
        if self.archive is not None and not self.committed:
            self.archive.discard()

    def commit(self) -> None:
        if self.archive is not None:
            self.archive.commit()
            self.committed = True

    # --- following --------------------------------------------------------------------------

    def _follow(self) -> None:
        # Until close(): past the end there is nothing more to read, and finish() may find that
        # the end has moved on.
        try:
            while not self._stop.is_set():
                try:
                    self._stream()
                except NomadRefused as exc:
                    if exc.status in (401, 403):
                        raise  # an ACL refusal stays one: finish() raises it
                except NomadError:
                    pass  # the stream broke: resume where the last frame ended
                self._stop.wait(FOLLOW_RETRY_S)
        except BaseException as exc:  # a bug or an archive that cannot be written: finish() raises it
            with self._changed:
                self._crash = exc
                self._changed.notify_all()

    def _stream(self) -> None:
        oldest = None
        offset = 0
        if self.position != NOTHING:
            oldest = self._oldest()
            offset = self._resume_offset(oldest)
        frames = self.nomad.alloc_fs.logs(
            self.alloc_id, self.task, self.log_type, follow=True, offset=offset, stop=self._stop
        )
        with closing(frames):
            for number, frame in enumerate(frames):
                if number == 0 and oldest is not None and self._oldest() != oldest:
                    return  # rotation removed a file since the offset was counted: count again
                self._take(frame)

    def _resume_offset(self, oldest: int | None) -> int:
        """The stream offset of the position: its bytes in the files from the oldest present on."""
        index, offset = self.position
        if oldest is None or oldest > index:
            # The file the copy was in went away before it had all of it; the stream starts over
            # at the oldest file there is, and the jump to it counts what went with the file.
            self._unfinished = True
            return 0
        return sum(self.sizes.get(i, 0) for i in range(oldest, index)) + offset

    def _oldest(self) -> int | None:
        """The index of the oldest file with data (the first frame of a stream from offset 0)."""
        frames = self.nomad.alloc_fs.logs(self.alloc_id, self.task, self.log_type, follow=False)
        with closing(frames):
            for frame in frames:
                return log_index(frame.file)
        return None

    def _end(self) -> Position:
        """Where the log ends now: origin=end, offset=1 is its last byte (findClosest going back)."""
        try:
            frames = self.nomad.alloc_fs.logs(self.alloc_id, self.task, self.log_type, origin="end", offset=1)
            with closing(frames):
                for frame in frames:
                    return Position(log_index(frame.file), frame.offset)
        except NomadNotFound as exc:
            self._unless_gone(exc)
        return NOTHING

    def _unless_gone(self, exc: NomadNotFound) -> None:
        """A 404 for a log that was never written is an empty log: the task has not started
        ("task %q not started yet. No logs available") or has no such file yet ("log entry for
        task %q and log type %q not found"; client/fs_endpoint.go logsImpl, notFoundErr). A 404
        for the allocation itself means the logs are gone, never shown as an empty log: the
        client has no state of it once collected ("state for allocation %s not found on client",
        the same file), or it is unknown (nomad/structs/errors.go ErrUnknownAllocationPrefix,
        matched as IsErrUnknownAllocation does, by substring)."""
        if "not found on client" in exc.reason or "Unknown allocation" in exc.reason:
            raise LogsGone(f"Nomad no longer has its logs ({exc.reason})") from None

    def _reached(self) -> bool:
        return self._target is not None and self.position >= self._target

    # --- every frame --------------------------------------------------------------------------

    def _take(self, frame: LogFrame) -> None:
        index = log_index(frame.file)
        with self._changed:
            here = self.position
            if index == here.file:
                self.position = Position(index, here.offset + len(frame.data))
            elif index > here.file:
                # A new file starts at its beginning. Those between were rotated away unread; at
                # the very start, so were all before the first one there is (files count from 0).
                missing = index - here.file - 1
                lost = missing * self.file_size
                if self._unfinished:
                    lost += max(0, self.file_size - here.offset)
                    self._unfinished = False
                self.lost_bytes += lost
                self.position = Position(index, len(frame.data))
            else:
                raise NomadError(f"the log stream went back from {self.log_type} file {here.file} to {index}")
            self.sizes[index] = self.position.offset
            self._progress_at = time.monotonic()
            self._changed.notify_all()
        if self.archive is not None:
            self.archive.write(frame.data)
        if self.sink is not None and self.sink_error is None and not self._cancel.is_set():
            try:
                self.sink(frame.data)
            except Exception as exc:  # a closed pipe: the archive still gets everything
                self.sink_error = exc
