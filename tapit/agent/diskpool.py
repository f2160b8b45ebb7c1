"""Size-limited filesystems made ahead of their allocations (disk.py's "filesystem" mechanism).

Making one (truncate, mkfs.ext4, a loop mount) is the greater part of an allocation's set-up,
and a task's start waits on it.  The agent keeps one ready for the ephemeral disk size last asked
for (Nomad's default, 300 MB, at first), mounted in the pool's directory; an allocation of that
size takes it: its image is renamed to the allocation's and its mount moved onto the
allocation's directory (MS_MOVE), and the next one is made once the allocation's tasks have
started.  An allocation of another size, or one that finds none ready, makes its own as before.
Whatever a stopped agent left in the pool is destroyed when it starts again.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import uuid
from pathlib import Path

from tapit.paths import private_dir

from .disk import MIB, DiskError, Filesystem, mounted

log = logging.getLogger("tapit.agent")
MS_MOVE = 8192  # <sys/mount.h>
DEFAULT_SIZE_MB = 300  # Nomad's default EphemeralDisk.SizeMB (nomad/structs/structs.go DefaultEphemeralDisk)


def move_mount(source: Path, target: Path) -> None:
    """mount --move, as the syscall: no process to start."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(os.fsencode(source), os.fsencode(target), None, MS_MOVE, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"moving the mount {source} to {target}: {os.strerror(err)}")


class FilesystemPool:
    def __init__(self, disks_dir: Path):
        self.dir = disks_dir / "pool"
        self._lock = threading.Lock()
        self._ready: dict[int, Filesystem] = {}  # by size in MB
        self._closed = False
        self.broken = ""  # why moving a mount failed here: the pool is not used again

    def clear(self) -> None:
        """Blocking: what an earlier agent left in the pool goes."""
        private_dir(self.dir)
        for image in [*self.dir.glob("*.img"), *self.dir.glob("*.part")]:
            self._destroy(Filesystem(image, image.with_suffix(".mnt")))
        for entry in self.dir.iterdir():
            if entry.is_dir() and not mounted(entry):
                try:
                    entry.rmdir()
                except OSError as exc:
                    log.warning("removing %s failed: %s", entry, exc)

    def fill(self, size_mb: int) -> None:
        """Blocking: one ready for `size_mb` (instead of one of another size)."""
        with self._lock:
            if self._closed or self.broken or size_mb in self._ready:
                return
            stale = list(self._ready.values())
            self._ready.clear()
        for fs in stale:
            self._destroy(fs)
        name = uuid.uuid4().hex
        # <name>.part while it is made, <name>.img once it is ready to take.
        fs = Filesystem(self.dir / f"{name}.part", self.dir / f"{name}.mnt")
        try:
            private_dir(fs.mount_point)
            fs.create(size_mb * MIB)
        except (DiskError, OSError) as exc:
            log.warning("making an ephemeral disk ahead of its allocation failed: %s", exc)
            self._destroy(fs)
            return
        with self._lock:
            if not self._closed and size_mb not in self._ready:
                ready = fs.image.with_suffix(".img")
                os.rename(fs.image, ready)
                fs.image = ready
                self._ready[size_mb] = fs
                return
        self._destroy(fs)

    def take(self, size_mb: int, target: Filesystem) -> bool:
        """Blocking: the ready filesystem of this size becomes `target` (its image renamed to
        target's, mounted at target's mount point); False when there is none to take."""
        with self._lock:
            fs = self._ready.pop(size_mb, None)
        if fs is None:
            return False
        try:
            os.rename(fs.image, target.image)  # the loop device holds the file, not its name
            fs.image = target.image
            move_mount(fs.mount_point, target.mount_point)
        except OSError as exc:
            self.broken = str(exc)
            log.warning("a ready ephemeral disk could not be used: %s", exc)
            self._destroy(fs)
            return False
        fs.mount_point.rmdir()
        return True

    def close(self) -> None:
        """Blocking: the agent stops; the ready ones are destroyed."""
        with self._lock:
            self._closed = True
            ready = list(self._ready.values())
            self._ready.clear()
        for fs in ready:
            self._destroy(fs)

    @staticmethod
    def _destroy(fs: Filesystem) -> None:
        try:
            fs.destroy()
            if fs.mount_point.is_dir() and not mounted(fs.mount_point):
                fs.mount_point.rmdir()
        except (DiskError, OSError) as exc:
            log.warning("destroying a ready ephemeral disk failed: %s", exc)
