"""Where tapit keeps its state: TAPIT_HOME, else the XDG state directory.

Everything there is the user's own: the history, archived output, the embedded agent's token,
its job specs and its tasks' environments and logs.  Directories tapit makes are 0700 and files
0600, whatever the umask of the process that happens to make them.
"""

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def state_dir() -> Path:
    """The directory holding the history, archived logs and the embedded agent's state."""
    home = os.environ.get("TAPIT_HOME")
    if home:
        path = Path(home)
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(xdg) / "tapit"
    # Made private when tapit makes it; one that exists already (TAPIT_HOME may name any
    # directory, a home directory even) keeps the modes its owner gave it.
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    return path


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter, made if missing, its mode corrected if not
    (a home made by an older tapit, or under a permissive umask)."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR:
        path.chmod(PRIVATE_DIR)
    return path


def open_private(path: Path, flags: int) -> int:
    """os.open for a file only its owner may read, whatever the umask: O_CREAT applies the mode
    only to a new file, so an existing one is brought to it too."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE:
        os.fchmod(fd, PRIVATE_FILE)
    return fd


def write_private(path: Path, data: bytes, durable: bool = False) -> None:
    """Replace the file with `data`, 0600, atomically: written to a temporary name beside it
    (`temporaries` finds those a killed writer left) and renamed over it, so that a reader (or a
    crash) never sees it torn. `durable`: on disk before the rename, so that a power cut leaves
    the old file or the new one, never an empty one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temporaries(path: Path) -> list[Path]:
    """The temporary copies write_private makes of `path`: after a crash, what it left behind."""
    return list(path.parent.glob(f".{path.name}.*.tmp"))


def agent_dir() -> Path:
    """The embedded agent's own directory: its token, address file, state and allocation dirs."""
    return private_dir(state_dir() / "agent")
