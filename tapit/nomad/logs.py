"""A task's logs as Nomad streams them: framed, from the rotated files still on disk
(api/fs.go Logs, client/fs_endpoint.go logs; the frames: tapit/nomad/frames.py)."""

from __future__ import annotations

import threading
from collections.abc import Generator

from tapit import heap
from tapit.nomad.frames import FrameDecoder, LogFrame
from tapit.nomad.transport import Transport, go_bool, interrupt_on, is_set, path_id, until_stopped

# Log streams send a heartbeat every 1 s (client/fs_endpoint.go streamHeartbeatRate): this much
# silence means the connection is dead.
LOG_READ_TIMEOUT = 60.0


class AllocFS:
    def __init__(self, transport: Transport):
        self._t = transport

    def logs(
        self,
        alloc_id: str,
        task: str,
        log_type: str,
        follow: bool = False,
        offset: int = 0,
        origin: str = "start",
        stop: threading.Event | None = None,
    ) -> Generator[LogFrame, None, None]:
        """The task's log as data frames, each naming the rotated file its bytes come from and
        where in it they end (heartbeats and file events dropped).

        `offset` counts over the rotated files still on disk, from the oldest (origin "start") or
        back from the newest ("end"): client/fs_endpoint.go findClosest. Nomad never ends a
        followed stream when the task dies: the caller sets `stop`, and the generator then
        returns after yielding what had arrived. It also returns when Nomad closes the stream.
        Errors are raised at the first next().
        """
        params = {
            "task": task,
            "type": log_type,
            "follow": go_bool(follow),
            "offset": str(offset),
            "origin": origin,
            "plain": "false",
        }
        path = f"/v1/client/fs/logs/{path_id(alloc_id)}"
        decoder = FrameDecoder()
        with (
            self._t.stream(path, params, LOG_READ_TIMEOUT, self._t.needs("read-logs"), lookup=True) as response,
            interrupt_on(stop, response),
        ):
            for chunk in until_stopped(response.iter_bytes(), stop):
                if len(chunk) >= heap.LARGE_READ_BYTES:
                    heap.keep_freed_memory()  # a large log: its temporaries are reused, not faulted in
                try:
                    frames = decoder.feed_logs(chunk)
                except ValueError as exc:
                    raise self._t.protocol_error(f"a malformed log stream ({exc})") from None
                yield from frames
        if decoder.pending and not is_set(stop):
            raise self._t.protocol_error("a log stream that ended in the middle of a frame")
