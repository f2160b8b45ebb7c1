"""An allocation's directory as the client's file system endpoints read it (client/allocdir
alloc_dir.go List, Stat and ReadAt, helper/escapingfs), with Go's words: os.FileMode.String(),
a *PathError's text, net/http's content sniffing for Stat's ContentType.

A path is relative to the allocation directory; one that climbs out of it, by `..` or through a
symlink, is refused ("Path escapes the alloc directory"); ReadAt also refuses a task's secrets
and private directories.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from . import structs as wire


class FsError(Exception):
    """An error as Nomad's allocdir returns it; `missing` when it is an os.ErrNotExist."""

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.missing = missing


def _path_error(op: str, path: str, exc: OSError) -> FsError:
    """Go's *fs.PathError: "<op> <path>: <strerror, lower case>"."""
    text = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return FsError(f"{op} {path}: {text}", missing=exc.errno == errno.ENOENT)


def resolve(alloc_dir: Path, path: str) -> str:
    """escapingfs.PathEscapesAllocDir, then filepath.Join(allocDir, path)."""
    base = str(alloc_dir)
    relative = os.path.normpath(os.path.join("/alloc-dir/alloc-id", path.lstrip("/") if path else ""))
    if not (relative + "/").startswith("/alloc-dir/alloc-id/"):
        raise FsError("Path escapes the alloc directory")
    full = os.path.normpath(os.path.join(base, path.lstrip("/")))
    if os.path.lexists(full) and not os.path.realpath(full).lower().startswith(base.lower()):
        raise FsError("Path escapes the alloc directory")
    return full


def file_mode(mode: int) -> str:
    """os.FileMode.String() of a stat mode (io/fs: the type letters, then rwx for 9 bits)."""
    device = stat.S_ISBLK(mode) or stat.S_ISCHR(mode)  # ModeDevice, and ModeCharDevice for a character one
    flags = (
        (stat.S_ISDIR(mode), "d"),
        (stat.S_ISLNK(mode), "L"),
        (device, "D"),
        (stat.S_ISFIFO(mode), "p"),
        (stat.S_ISSOCK(mode), "S"),
        (bool(mode & stat.S_ISUID), "u"),
        (bool(mode & stat.S_ISGID), "g"),
        (stat.S_ISCHR(mode), "c"),
        (bool(mode & stat.S_ISVTX), "t"),
    )
    letters = "".join(letter for flag, letter in flags if flag)  # in the order of Go's "dalTLDpSugct?"
    perms = "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return (letters or "-") + perms


def _info(name: str, st: os.stat_result) -> dict:
    return {
        "Name": name,
        "IsDir": stat.S_ISDIR(st.st_mode),
        "Size": st.st_size,
        "FileMode": file_mode(st.st_mode),
        "ModTime": wire.rfc3339nano(st.st_mtime_ns),
    }


def list_dir(alloc_dir: Path, path: str) -> list[dict]:
    """AllocDir.List: os.ReadDir, sorted by name; each entry's Lstat (DirEntry.Info)."""
    full = resolve(alloc_dir, path)
    try:
        names = sorted(os.listdir(full))
    except OSError as exc:
        raise _path_error("open", full, exc) from exc
    files = []
    for name in names:
        try:
            files.append(_info(name, os.lstat(os.path.join(full, name))))
        except OSError as exc:
            raise _path_error("lstat", os.path.join(full, name), exc) from exc
    return files


def stat_path(alloc_dir: Path, path: str) -> dict:
    """AllocDir.Stat, with detectContentType."""
    full = resolve(alloc_dir, path)
    try:
        st = os.stat(full)
    except OSError as exc:
        raise _path_error("stat", full, exc) from exc
    info = _info(os.path.basename(full) or "/", st)
    content_type = "application/octet-stream"
    if not stat.S_ISDIR(st.st_mode):
        try:
            with open(full, "rb") as f:
                head = f.read(512)
            if head:  # Go's Read of an empty file is an io.EOF: no sniffing
                content_type = sniff(head)
        except OSError:
            pass
    if full.endswith(".json"):
        content_type = "application/json"
    info["ContentType"] = content_type
    return info


def open_at(alloc_dir: Path, path: str, offset: int):
    """AllocDir.ReadAt: the file, open at `offset`; a task's secrets and private files refused."""
    full = resolve(alloc_dir, path)
    for task_dir in alloc_dir.iterdir() if alloc_dir.is_dir() else ():
        for kind, word in (("secrets", "secret"), ("private", "private")):
            if full.lower().startswith(str(task_dir / kind).lower()):
                raise FsError(f"Reading {word} file prohibited: {path}")
    try:
        handle = open(full, "rb")
    except OSError as exc:
        raise _path_error("open", full, exc) from exc
    handle.seek(offset)
    return handle


# net/http sniff.go, the signatures it tries before its text/binary test (the common ones).
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
    (b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
    (b"\x00asm", "application/wasm"),
    (b"OggS\x00", "application/ogg"),
)
_HTML: tuple[bytes, ...] = (b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1", b"<DIV", b"<FONT")
_HTML += (b"<TABLE", b"<A", b"<STYLE", b"<TITLE", b"<B", b"<BODY", b"<BR", b"<P", b"<!--")
_BINARY = set(range(0x00, 0x09)) | {0x0B} | set(range(0x0E, 0x1B)) | set(range(0x1C, 0x20))


def sniff(data: bytes) -> str:
    """http.DetectContentType, for the signatures above, HTML, XML and the text/binary test."""
    if data.startswith(b"\xfe\xff"):
        return "text/plain; charset=utf-16be"
    if data.startswith(b"\xff\xfe"):
        return "text/plain; charset=utf-16le"
    if data.startswith(b"\xef\xbb\xbf"):
        return "text/plain; charset=utf-8"
    stripped = data.lstrip(b"\t\n\x0c\r ")
    upper = stripped[:16].upper()
    for tag in _HTML:
        if upper.startswith(tag) and len(stripped) > len(tag) and stripped[len(tag)] in b" >":
            return "text/html; charset=utf-8"
    if stripped.startswith(b"<?xml"):
        return "text/xml; charset=utf-8"
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            return kind
    if any(b in _BINARY for b in data):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"
