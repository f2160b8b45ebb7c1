"""Ephemeral disk limits: how the agent keeps an allocation within `EphemeralDisk.SizeMB`.

Nomad itself only reserves the disk at placement: its client has no runtime check
(`TaskDiskExceeded`, "Disk Resources Exceeded", is defined in nomad/structs/structs.go and
emitted nowhere).  The embedded agent enforces it, with the best of two mechanisms this machine
allows, fingerprinted once at start (node attribute `tapit.limits.disk`):

* "filesystem": the allocation's directory is a size-limited ext4 filesystem, a sparse image
  file loop-mounted over it (where the agent may mount: root, util-linux, e2fsprogs).  The
  filesystem holds the limit plus MARGIN, so a task can never write more than MARGIN past it;
  a short poll of the free space notices the limit passed.  tmpfs is not used: its size is
  memory, charged to the writer's memory cgroup, and lost on a reboot.
* "watcher": elsewhere, an inotify watch of the directory tree keeps its size current as the
  task writes (a rescan every few seconds catches what inotify cannot report: mmap writes, a
  queue overflow), so the overshoot is what the task writes while the agent reacts.

Either way the agent then records "Disk Resources Exceeded" and kills the task at once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from inotify_simple import INotify, flags

from tapit.paths import PRIVATE_DIR, open_private, private_dir

from .allocdir import SHARED_DIR

ATTRIBUTE = "tapit.limits.disk"
FILESYSTEM = "filesystem"
WATCHER = "watcher"
# Test knob, like TAPIT_CGROUP_ROOT: "watcher" plays a machine where the agent may not mount.
FORCE_ENV = "TAPIT_DISK_ENFORCEMENT"
MIB = 1024 * 1024
MARGIN = MIB  # what a task may write past its limit on a size-limited filesystem, at most
FILESYSTEM_CHECK_S = 0.1
RESCAN_S = 2.0
TOOL_TIMEOUT_S = 30.0
# mkfs.ext4 and mount live in sbin, which a user's PATH may lack.
TOOL_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
RESERVE = "lost+found/.tapit-reserve"
DESCRIPTION_PREFIX = "ephemeral disk enforced by "  # takes up what the filesystem has beyond limit + MARGIN
WATCH_FLAGS = (
    flags.CREATE | flags.MODIFY | flags.CLOSE_WRITE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.ATTRIB
)
# ext4's own metadata (inode tables, bitmaps, lost+found) takes about 2-3 % of a filesystem of
# 512 MiB or more, and about 10 % of a smaller one, which mke2fs.conf's "small" type gives an
# inode per 4 KiB instead of per 16 KiB: the image is made bigger by this much (an image too
# small is made again, bigger, which doubles the set-up), and what is left over beyond the wanted
# size is reserved away.
IMAGE_SLACK = 1.04
SMALL_IMAGE_SLACK = 1.12
SMALL_IMAGE = 512 * MIB
IMAGE_EXTRA = 2 * MIB


def image_size(want: int) -> int:
    slack = SMALL_IMAGE_SLACK if want * IMAGE_SLACK < SMALL_IMAGE else IMAGE_SLACK
    return int(want * slack) + IMAGE_EXTRA


class DiskError(Exception):
    pass


def _run(*argv: str) -> None:
    tool = shutil.which(argv[0], path=f"{os.environ.get('PATH', '')}:{TOOL_PATH}")
    if tool is None:
        raise DiskError(f"{argv[0]} not found")
    try:
        done = subprocess.run([tool, *argv[1:]], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiskError(f"{argv[0]}: {exc}") from None
    if done.returncode:
        raise DiskError(f"{argv[0]}: {' '.join(done.stderr.split()) or f'exit code {done.returncode}'}")


def fingerprint(disks_dir: Path) -> str:
    """FILESYSTEM when a filesystem can really be made and mounted here, else WATCHER."""
    if os.environ.get(FORCE_ENV) == WATCHER:
        return WATCHER
    probe = Filesystem(private_dir(disks_dir) / "probe.img", disks_dir / "probe.mnt")
    try:
        private_dir(probe.mount_point)
        probe.create(MIB)
        return FILESYSTEM
    except (DiskError, OSError):
        return WATCHER
    finally:
        probe.destroy()
        try:
            probe.mount_point.rmdir()
        except OSError:
            pass


def mounted(path: Path) -> bool:
    """Whether something is mounted at `path`, a bind mount of the same filesystem too (which
    os.path.ismount cannot tell from a directory)."""
    target = os.fsencode(os.path.realpath(path))
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), line.split()[4])
            if point == target:
                return True
    return False


class Filesystem:
    """A size-limited ext4 filesystem in a sparse image file, mounted at `mount_point`."""

    def __init__(self, image: Path, mount_point: Path):
        self.image = image
        self.mount_point = mount_point

    def create(self, limit_bytes: int) -> None:
        """Make and mount a filesystem on which exactly limit_bytes + MARGIN are free."""
        want = limit_bytes + MARGIN
        size = image_size(want)
        for _ in range(2):
            os.close(open_private(self.image, os.O_WRONLY | os.O_TRUNC))
            os.truncate(self.image, size)
            # No journal (the data is scratch space) and no reserved blocks; the root is the
            # agent's user's, and the inode tables are not zeroed behind the task's back.
            _run(
                "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                "-E", f"nodiscard,lazy_itable_init=1,root_owner={os.getuid()}:{os.getgid()}", str(self.image),
            )  # fmt: skip
            _run("mount", "-o", "loop,nosuid,nodev,noatime,noinit_itable", str(self.image), str(self.mount_point))
            free = self._free()
            if free >= want:
                break
            self.destroy()  # ext4 took more for itself than reckoned: once more, bigger
            size += (want - free) * 2
        else:
            raise DiskError(f"a {size // MIB} MB filesystem image still held less than {want // MIB} MB")
        self.mount_point.chmod(PRIVATE_DIR)
        if free > want:
            fd = os.open(self.mount_point / RESERVE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400)
            try:
                os.posix_fallocate(fd, 0, free - want)
            finally:
                os.close(fd)

    def _free(self) -> int:
        st = os.statvfs(self.mount_point)
        return st.f_bavail * st.f_frsize

    def used(self, limit_bytes: int) -> int:
        """Bytes the allocation has written (everything but the room left)."""
        return limit_bytes + MARGIN - self._free()

    @property
    def view(self) -> Path:
        """Where the directory under the mount point is reached while the filesystem covers it."""
        return self.image.with_suffix(".under")

    def release(self) -> None:
        """After the allocation ends: its logs are copied into the directory the filesystem is
        mounted over, reached through a bind mount of its parent (which shows what lies under
        its mounts), and then the filesystem, with whatever else the tasks left, is detached.
        At every moment a reader finds the logs, with the same contents and offsets, at the same
        path; one that holds a log open keeps reading it (the detach is lazy)."""
        if mounted(self.mount_point):
            logs = self.mount_point / SHARED_DIR / "logs"
            self._unbind()  # left by a release cut short
            private_dir(self.view)
            _run("mount", "--bind", str(self.mount_point.parent), str(self.view))
            try:
                kept = private_dir(private_dir(self.view / self.mount_point.name / SHARED_DIR) / "logs")
                if logs.is_dir():
                    for entry in logs.iterdir():
                        if entry.is_file():
                            shutil.copy2(entry, kept / entry.name)
            finally:
                self._unbind()
            self._detach()
        self.image.unlink(missing_ok=True)

    def destroy(self) -> None:
        """The filesystem and its image, with everything on it."""
        self._unbind()
        if mounted(self.mount_point):
            self._detach()
        self.image.unlink(missing_ok=True)

    def _unbind(self) -> None:
        if mounted(self.view):
            _run("umount", str(self.view))
        if self.view.exists():
            self.view.rmdir()

    def _detach(self) -> None:
        # Lazily: a process still holding a file or its cwd there (a log reader, an exec
        # session's shell) does not keep the mount point busy; the loop device, set to
        # autoclear by mount, goes with the last of them.
        _run("umount", "--lazy", str(self.mount_point))


class TreeWatch:
    """The bytes used under a directory, kept current from inotify events."""

    def __init__(self, root: Path):
        self.root = root
        self.inotify = INotify(nonblocking=True)
        self.dirs: dict[int, str] = {}
        self.sizes: dict[str, int] = {}
        self.total = 0
        self.rescan()

    def fileno(self) -> int:
        return self.inotify.fileno()

    def close(self) -> None:
        self.inotify.close()

    def _set(self, path: str, size: int) -> None:
        self.total += size - self.sizes.get(path, 0)
        self.sizes[path] = size

    def _forget(self, path: str) -> None:
        self.total -= self.sizes.pop(path, 0)

    def _watch(self, directory: str) -> None:
        try:
            self.dirs[self.inotify.add_watch(directory, WATCH_FLAGS)] = directory
        except OSError:
            pass  # gone already, or out of watches (fs.inotify.max_user_watches): the rescans count it

    def _stat(self, path: str) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            self._forget(path)
            return
        self._set(path, st.st_blocks * 512)

    def rescan(self) -> None:
        """Every file and directory anew (and a watch on each directory)."""
        for wd in list(self.dirs):
            try:
                self.inotify.rm_watch(wd)
            except OSError:
                pass
        self.dirs.clear()
        self.sizes.clear()
        self.total = 0
        for top, subdirs, files in os.walk(self.root):
            self._watch(top)
            for name in (*subdirs, *files):
                self._stat(os.path.join(top, name))

    def on_events(self) -> None:
        """Read what inotify has queued and bring the sizes up to date."""
        try:
            events = self.inotify.read(timeout=0)
        except BlockingIOError:
            return
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                self.rescan()
                return
            directory = self.dirs.get(event.wd)
            if event.mask & flags.IGNORED:
                self.dirs.pop(event.wd, None)
                continue
            if directory is None or not event.name:
                continue
            path = os.path.join(directory, event.name)
            if event.mask & flags.ISDIR and event.mask & (flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE):
                self.rescan()  # a directory moved or went: rare, and simplest counted afresh
                return
            if event.mask & (flags.DELETE | flags.MOVED_FROM):
                self._forget(path)
            elif event.mask & flags.ISDIR and event.mask & flags.CREATE:
                # What was made in it before the watch was in place is counted here.
                for top, subdirs, files in os.walk(path):
                    self._watch(top)
                    for name in (*subdirs, *files):
                        self._stat(os.path.join(top, name))
                self._stat(path)
            else:
                self._stat(path)


class AllocDisk:
    """One allocation's ephemeral disk, and which of the two mechanisms holds it to its size."""

    def __init__(self, alloc_dir: Path, size_mb: int, filesystem: Filesystem):
        self.alloc_dir = alloc_dir
        self.size_mb = size_mb
        self.limit = size_mb * MIB
        self._candidate = filesystem
        self.filesystem: Filesystem | None = None  # set when the limit is a filesystem's size
        self.watch: TreeWatch | None = None  # set when a watcher keeps it
        self.unavailable = ""  # why the node's filesystem mechanism could not serve this allocation

    def set_up(self, mechanism: str, pool=None) -> None:
        """Blocking: make and mount the filesystem when that is the node's mechanism (or take the
        one diskpool.FilesystemPool has ready); should that fail here (no free loop device, no
        room for the image...), fall back to the watcher."""
        if mechanism != FILESYSTEM:
            return
        try:
            if pool is None or not pool.take(self.size_mb, self._candidate):
                self._candidate.create(self.limit)
            self.filesystem = self._candidate
        except (DiskError, OSError) as exc:
            self.unavailable = str(exc)
            self._candidate.destroy()

    def reattach(self) -> None:
        """After an agent restart: the mechanism is the one the directory shows."""
        if mounted(self.alloc_dir):
            self.filesystem = self._candidate

    def start_watch(self) -> None:
        if self.filesystem is None:
            self.watch = TreeWatch(self.alloc_dir)

    def used(self) -> int:
        if self.filesystem is not None:
            return self.filesystem.used(self.limit)
        if self.watch is None:
            return 0
        self.watch.on_events()  # what is queued and not yet read counts too
        return self.watch.total

    def description(self) -> str:
        """The Task Setup event's message that says how the disk is enforced."""
        if self.filesystem is not None:
            return f"{DESCRIPTION_PREFIX}a size-limited filesystem of {self.size_mb} MB"
        why = f" (no size-limited filesystem: {self.unavailable})" if self.unavailable else ""
        return f"{DESCRIPTION_PREFIX}a watcher: the task is killed once it writes more than {self.size_mb} MB{why}"
