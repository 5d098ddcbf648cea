"""Writing files so that a crash never leaves half of one behind."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tinygrad_edu.errors import FileError


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; move it into place only on success.

    The rename is atomic on one file system, so a reader sees either the old
    file or the complete new one; on any error the temporary file is removed.
    The file object's ``name`` is the temporary path, so a caller can check
    what it wrote (flush first) before the rename. The temporary file is
    created the way ``open(path, "w")`` would create it (mode 0o666 minus the
    umask, applied by the OS), so the result has the usual permissions without
    this module ever reading or changing the process's umask.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_write: mode must be a write mode, got {mode!r}")
    path = Path(path)
    # A hidden name no other writer uses; "x" creates it and fails if it exists.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    encoding = None if "b" in mode else "utf-8"
    try:
        with open(temp, mode.replace("w", "x"), encoding=encoding) as f:
            yield f
        os.replace(temp, path)
    except BaseException:
        # Best effort: on a read-only file system even this fails, and the
        # error to report is the one that stopped the write.
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


#: Why a write failed, for the errors that say what to do about it.
_WRITE_FIXES = {
    errno.ENOSPC: "the disk is full; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free some space or write elsewhere",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is where its folder would be",
}


def cannot_write(error: OSError) -> str | None:
    """What to do about ``error`` if it means the place cannot take the file
    (full, read-only, not permitted), else None: retrying elsewhere, such as
    another download mirror, cannot help with these."""
    return _WRITE_FIXES.get(error.errno) if isinstance(error, OSError) else None


def unwritable(caller: str, path: Path, error: OSError) -> FileError:
    """The error for a file that could not be written, with the likely fix."""
    fix = cannot_write(error) or "choose another path"
    return file_error(
        error.errno,
        f"{caller}: cannot write {str(path)!r}: {error.strerror or error} ({fix}).",
    )


def file_error(code: int | None, message: str) -> FileError:
    """A ``FileError`` whose text is the message alone, with ``errno`` set."""
    error = FileError(message)
    error.errno = code
    return error
