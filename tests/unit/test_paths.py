"""write_private: the one atomic, private write (the history, the agent's state and specs)."""

import os

import pytest

from tapit.paths import temporaries, write_private


def test_replaces_whole_and_private(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private(path, b"new", durable=True)
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o600
    assert temporaries(path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "history.json"
    path.mkdir()  # what the rename meets: it fails, as on a full or read-only disk
    (path / "keep").write_text("x")
    with pytest.raises(OSError):
        write_private(path, b"new")
    assert (path / "keep").read_text() == "x"
    assert temporaries(path) == []
