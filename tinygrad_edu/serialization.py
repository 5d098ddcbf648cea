"""``save``/``load``: named arrays in a ``.npz`` file, which cannot run code.

``torch.save`` pickles, and unpickling a file can execute anything it asks
for. An ``.npz`` is a zip of plain ``.npy`` arrays; ``load`` reads it without
ever unpickling and refuses a file that holds pickled objects, so a
downloaded checkpoint is data, never a program. It also reads every array's
declared size before allocating it, so a small file cannot make it allocate
gigabytes.

>>> import numpy as np, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "weights.npz")
>>> save({"W": np.eye(2), "b": np.zeros(2)}, path)
>>> load(path)["W"]
array([[1., 0.],
       [0., 1.]])
"""

from __future__ import annotations

import errno
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from tinygrad_edu._files import atomic_write, file_error, unwritable
from tinygrad_edu.errors import DomainError, DTypeError, FileError
from tinygrad_edu.tensor import Tensor

__all__ = ["MAX_LOAD_BYTES", "load", "save"]

#: What ``load`` allocates at most unless told otherwise: 1 GiB of arrays,
#: far above any model this library trains (the book's net is 0.3 MB).
MAX_LOAD_BYTES = 1 << 30

_NPY_MAGIC = b"\x93NUMPY"
#: Deflate cannot expand data more than about 1032-fold: a member declaring
#: more than that, for the bytes it occupies, lies about its size.
_MAX_DEFLATE_RATIO = 1032


def save(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write named arrays (or Tensors) to ``path`` as ``.npz``, atomically.

    The file is written beside ``path`` under a temporary name and renamed
    into place when complete, so a crash or an error never leaves half a file,
    and an earlier file at ``path`` stays intact until then. The name is used
    exactly as given (``np.savez`` would append ``.npz`` to a name without it).
    A target that cannot be written (a directory, a read-only or full file
    system) raises ``FileError`` naming it.
    """
    arrays = _numeric_arrays(state_dict)
    path = _target(path)
    try:
        # np.savez(file, **arrays) would fail on a key named "file" or
        # "allow_pickle"; writing the zip members ourselves takes any name.
        with (
            atomic_write(path, "wb") as f,
            zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
        ):
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
    except FileError:
        raise
    except OSError as error:
        raise unwritable("save", path, error) from error


def _target(path: Any) -> Path:
    """``path`` as a file name that ``save`` can write, checked before writing."""
    if not isinstance(path, (str, os.PathLike)):
        raise DTypeError(
            f"save: path must be a str or Path such as 'net.npz', got "
            f"{type(path).__name__} {path!r}."
        )
    target = Path(path)
    if not str(path) or target.is_dir():
        what = "is empty" if not str(path) else "is a directory"
        raise file_error(
            errno.EISDIR,
            f"save: the path {str(path)!r} {what}; give a file name such as "
            f"{str(target / 'net.npz')!r}.",
        )
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"save: the directory {str(target.parent)!r} does not exist; create "
            f"it first, e.g. Path({str(target.parent)!r}).mkdir(parents=True)."
        )
    return target


def load(
    path: str | os.PathLike, *, max_bytes: int | None = MAX_LOAD_BYTES
) -> dict[str, np.ndarray]:
    """Read a file written by ``save`` (or ``np.savez``) into a dict of ndarrays.

    Never unpickles: a file holding Python objects is refused with
    ``DTypeError``; a file that is not an ``.npz`` archive, or whose arrays
    declare more data than the file holds, raises ``DomainError``; a missing
    one ``FileNotFoundError``. The arrays' declared sizes are added up before
    anything is allocated: more than ``max_bytes`` (``MAX_LOAD_BYTES``, 1 GiB)
    raises ``FileError``; pass a larger ``max_bytes``, or None, for a file you
    trust.
    """
    if max_bytes is not None and (
        not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0
    ):
        raise DTypeError(
            f"load: max_bytes must be a number of bytes (an int >= 0) or None, got "
            f"{max_bytes!r}."
        )
    shown = str(path)
    with open(path, "rb") as f:  # FileNotFoundError names the path
        if f.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise DomainError(
                f"load: {shown!r} holds a single .npy array, not named arrays; "
                f"read it with np.load, or write a dict with tinygrad_edu.save."
            )
        f.seek(0)
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise DomainError(
                f"load: {shown!r} is not an .npz archive (tinygrad_edu.save and "
                f"np.savez write those); it may be a pickle or another format, "
                f"which load refuses to read."
            ) from None
        with archive:
            members = _checked_members(archive, shown, max_bytes)
            return {
                name: _read_member(archive, info, name, shown)
                for name, info in members.items()
            }


def _checked_members(
    archive: zipfile.ZipFile, shown: str, max_bytes: int | None
) -> dict[str, zipfile.ZipInfo]:
    """Every member's header, read and checked before any array is allocated."""
    members, total = {}, 0
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if not info.filename.endswith(".npy"):
            raise DomainError(
                f"load: {shown!r} has a member {info.filename!r} that is not a .npy "
                f"array; it is not a file written by tinygrad_edu.save."
            )
        _check_stored_size(info, shown, name)
        try:
            with archive.open(info) as member:
                header_size, shape, dtype = _npy_header(member)
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as e:
            raise _corrupt(shown, name, e) from None
        if dtype.hasobject:
            raise DTypeError(
                f"load: {shown!r} holds pickled Python objects (array {name!r} has "
                f"dtype object) and will not be loaded: unpickling can run "
                f"arbitrary code. Only numeric arrays are read."
            )
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if header_size + size != info.file_size:
            raise _corrupt(
                shown,
                name,
                f"its header declares {size} bytes of {dtype} {shape} but the "
                f"member holds {info.file_size - header_size}",
            )
        total += size
        if max_bytes is not None and total > max_bytes:
            raise file_error(
                errno.EFBIG,
                f"load: {shown!r} declares at least {total} bytes of arrays, more "
                f"than max_bytes={max_bytes}; nothing was allocated. If you trust "
                f"the file, pass a larger max_bytes (or max_bytes=None).",
            )
        members[name] = info
    return members


def _check_stored_size(info: zipfile.ZipInfo, shown: str, name: str) -> None:
    """The size a member declares must be possible for the bytes it occupies."""
    if info.compress_type == zipfile.ZIP_STORED:
        possible = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        possible = info.compress_size * _MAX_DEFLATE_RATIO + 1024
    else:
        raise DomainError(
            f"load: {shown!r} stores {name!r} with zip compression method "
            f"{info.compress_type}; tinygrad_edu.save and np.savez(_compressed) "
            f"write only stored or deflated members."
        )
    if info.file_size > possible:
        raise _corrupt(
            shown,
            name,
            f"it declares {info.file_size} bytes but occupies "
            f"{info.compress_size} in the file",
        )


def _npy_header(member: IO[bytes]) -> tuple[int, tuple[int, ...], np.dtype]:
    """Header length, shape and dtype of a ``.npy`` stream, from its header alone."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:  # 3.0 is written only for non-Latin-1 field names: never numeric data
        raise ValueError(f".npy format version {version} is not read here")
    header_size = member.tell()
    return header_size, shape, dtype


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, shown: str
) -> np.ndarray:
    try:
        with archive.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
        raise _corrupt(shown, name, error) from None


def _corrupt(shown: str, name: str, error: Any) -> DomainError:
    return DomainError(
        f"load: {shown!r} is corrupt or truncated (reading {name!r} failed: "
        f"{error}); write it again with tinygrad_edu.save."
    )


def _numeric_arrays(state_dict: Any) -> dict[str, np.ndarray]:
    """Check everything before a file is touched: names and numeric arrays."""
    if not isinstance(state_dict, Mapping):
        hint = (
            " (call .state_dict() on it)" if hasattr(state_dict, "state_dict") else ""
        )
        raise DTypeError(
            f"save: expects a dict of name → array, such as model.state_dict(), "
            f"got {type(state_dict).__name__}{hint}."
        )
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str) or not name:
            raise DTypeError(
                f"save: every name must be a non-empty str, got {name!r}; names "
                f"become the keys that load() returns."
            )
        if "\0" in name:  # a zip member's name would end there
            raise DTypeError(
                f"save: the name {name!r} holds a NUL character, which a file's "
                f"member name cannot; use another name."
            )
        array = value.data if isinstance(value, Tensor) else value
        if not isinstance(array, np.ndarray):
            try:
                array = np.asarray(array)
            except (ValueError, TypeError):
                array = np.empty(0, dtype=object)  # reported just below
        if array.dtype.kind not in "biufc":
            raise DTypeError(
                f"save: {name!r} has dtype {array.dtype} ({type(value).__name__}); "
                f"only numeric arrays are saved, so that a file can never hold "
                f"code. Convert it with np.asarray(value, dtype=float)."
            )
        arrays[name] = array
    return arrays
