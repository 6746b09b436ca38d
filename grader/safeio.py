"""Read an untrusted folder without leaving it: no symbolic link is followed, no special file is
opened, nothing is read past its cap.

Every path is walked one component at a time from a descriptor of the submission folder
(`openat` with O_NOFOLLOW), so neither a symlinked file nor a symlinked parent folder can point
the grader at another student's answers or at a secret. Sizes are counted while reading, never
taken from `st_size` (files in /proc report 0). A FIFO is opened non-blocking and refused.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from core.errors import DlhwError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20

MAX_ENTRIES = 2000  # files and folders in one submission
MAX_DEPTH = 12  # folders inside folders


class FileError(DlhwError, ValueError):
    """A submitted file that cannot be read as what it should be: `file:line: field: expected`."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are never followed: submit the file itself)"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a plain file"


def folder_name(folder: Path) -> str:
    """The last component of `folder` as given (`.` and `..` resolved lexically, links not)."""
    return os.path.basename(os.path.abspath(folder))


def shown(name: str) -> str:
    """A file name as it may appear in a message: undecodable bytes and control characters
    escaped, length capped (the name is the student's)."""
    # Undecodable bytes of a file name arrive as U+DC80..U+DCFF (surrogateescape): shown as \xNN;
    # any other lone surrogate (from a YAML or JSON escape) cannot be shown at all.
    name = re.sub("[\ud800-\udc7f\udd00-\udfff]", "\ufffd", name)
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 80 else text[:60] + "…" + text[-10:]


class Folder:
    """An open submission folder; every read stays inside it."""

    def __init__(self, path: Path, follow: bool = False):
        """`follow`: the folder's own path is the caller's, so a link there is followed."""
        self.path = Path(path)
        try:
            self.fd = os.open(self.path, _DIR_FLAGS & ~os.O_NOFOLLOW if follow else _DIR_FLAGS)
        except OSError as exc:
            raise FileError(f"{shown(folder_name(self.path))}: the submission folder "
                            f"is {self._why(exc, None, os.fspath(self.path))}") from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _why(exc: OSError, dir_fd: int | None, name: str) -> str:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            try:
                mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
                return _kind(mode)
            except OSError:
                pass
        return f"cannot be read ({exc.strerror or type(exc).__name__})"

    def _open(self, rel: str) -> int | None:
        """A descriptor of the regular file `rel` (components separated by '/'); None if absent."""
        parts = rel.split("/")
        fd = self.fd
        try:
            for k, part in enumerate(parts):
                last = k == len(parts) - 1
                try:
                    nfd = os.open(part, _FILE_FLAGS if last else _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    nfd = -1
                except OSError as exc:
                    where = "/".join(parts[:k + 1])
                    raise FileError(f"{where}: {self._why(exc, fd, part)}, expected a "
                                    + ("plain file" if last else "folder")) from None
                if fd != self.fd:
                    os.close(fd)
                fd = nfd
                if fd < 0:
                    return None
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise FileError(f"{rel}: {_kind(mode)}, expected a plain file")
        except BaseException:
            if fd not in (self.fd, -1):
                os.close(fd)
            raise
        return fd

    def read(self, rel: str, limit: int) -> bytes | None:
        """The bytes of `rel`, at most `limit` of them (FileError beyond); None if absent."""
        fd = self._open(rel)
        if fd is None:
            return None
        try:
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                block = os.read(fd, min(_CHUNK, limit + 1 - size))
                if not block:
                    break
                chunks.append(block)
                size += len(block)
        except OSError as exc:
            raise FileError(f"{rel}: cannot be read ({exc.strerror})") from None
        finally:
            os.close(fd)
        if size > limit:
            raise FileError(f"{rel}: more than {limit} bytes, expected at most {limit}")
        return b"".join(chunks)

    def copy(self, rel: str, dest: Callable[[], Path], limit: int) -> Path | None:
        """Copy `rel` to the grader-owned path `dest()` (asked for only if `rel` exists),
        streaming, at most `limit` bytes; None if absent."""
        fd = self._open(rel)
        if fd is None:
            return None
        try:
            target = dest()
            size = 0
            with open(target, "wb") as out:
                while block := os.read(fd, _CHUNK):
                    size += len(block)
                    if size > limit:
                        raise FileError(f"{rel}: more than {limit} bytes, expected at most "
                                        f"{limit}")
                    out.write(block)
        except OSError as exc:
            raise FileError(f"{rel}: cannot be read ({exc.strerror})") from None
        finally:
            os.close(fd)
        return target

    def walk(self, max_entries: int = MAX_ENTRIES, max_depth: int = MAX_DEPTH
             ) -> Iterator[tuple[str, int, str, int] | str]:
        """Every entry, sorted by name, folder by folder: (shown relative path, descriptor of
        its folder, its name there, its lstat mode); or a line saying what could not be walked
        (too many entries, folders nested too deep, an unreadable folder). Links are reported,
        never followed."""
        count = 0
        stack: list[tuple[int, str, int]] = [(os.dup(self.fd), "", 0)]
        try:
            while stack:
                fd, prefix, depth = stack.pop()
                try:
                    with os.scandir(fd) as it:
                        # Never list more than the cap (a million files must not cost a million).
                        entries = list(itertools.islice(it, max_entries - count + 1))
                    for entry in sorted(entries, key=lambda e: e.name):
                        count += 1
                        if count > max_entries:
                            yield f"more than {max_entries} files and folders in the submission"
                            return
                        rel = prefix + shown(entry.name)
                        mode = entry.stat(follow_symlinks=False).st_mode
                        yield rel, fd, entry.name, mode
                        if not stat.S_ISDIR(mode):
                            continue
                        if depth + 1 >= max_depth:
                            yield f"{rel}/: folders nested more than {max_depth} deep"
                            continue
                        try:
                            sub = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                        except OSError as exc:
                            yield f"{rel}/: {self._why(exc, fd, entry.name)}"
                            continue
                        stack.append((sub, rel + "/", depth + 1))
                finally:
                    os.close(fd)
        except OSError as exc:
            yield f"the submission folder cannot be listed ({exc.strerror})"
        finally:
            for fd, _, _ in stack:
                os.close(fd)

    def scan(self, max_entries: int = MAX_ENTRIES, max_depth: int = MAX_DEPTH) -> list[str]:
        """One line per entry a submission may not hold: symbolic links and special files
        anywhere, too many entries, folders nested too deep."""
        return [e if isinstance(e, str) else f"{e[0]}: {_kind(e[3])}, not allowed in a submission"
                for e in self.walk(max_entries, max_depth)
                if isinstance(e, str) or not (stat.S_ISDIR(e[3]) or stat.S_ISREG(e[3]))]

    def fingerprint(self, max_file: int = 1 << 30) -> str:
        """A SHA-256 of everything in the folder: names, kinds, and each plain file's bytes
        (size and modification time instead beyond `max_file`); links by their target text."""
        h = hashlib.sha256()
        for e in self.walk():
            if isinstance(e, str):
                h.update(b"!" + e.encode("utf-8", "surrogateescape") + b"\0")
                continue
            rel, fd, name, mode = e
            h.update(b"%o " % mode + rel.encode("utf-8", "surrogateescape") + b"\0")
            if stat.S_ISLNK(mode):
                h.update(os.fsencode(os.readlink(name, dir_fd=fd)) + b"\0")
            elif stat.S_ISREG(mode):
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if st.st_size > max_file:
                    h.update(b"%d %d\0" % (st.st_size, st.st_mtime_ns))
                    continue
                try:
                    f = os.open(name, _FILE_FLAGS, dir_fd=fd)
                except OSError:
                    h.update(b"unreadable\0")
                    continue
                try:
                    while block := os.read(f, _CHUNK):
                        h.update(block)
                finally:
                    os.close(f)
                h.update(b"\0")
        return h.hexdigest()


def read_file(path: Path, limit: int) -> bytes:
    """One file by path, its last component not followed if a link, at most `limit` bytes."""
    path = Path(path)
    with Folder(path.parent, follow=True) as folder:
        data = folder.read(path.name, limit)
    if data is None:
        raise FileError(f"{path.name}: not found")
    return data
