"""``save``/``load``: named arrays in a ``.npz`` file, which cannot run code.

``torch.save`` pickles, and unpickling a file can execute anything it asks
for. An ``.npz`` is a zip of plain ``.npy`` arrays; ``load`` reads it with
``allow_pickle=False`` and refuses a file that holds pickled objects, so a
downloaded checkpoint is data, never a program.

>>> import numpy as np, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "weights.npz")
>>> save({"W": np.eye(2), "b": np.zeros(2)}, path)
>>> load(path)["W"]
array([[1., 0.],
       [0., 1.]])
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_edu._files import atomic_write
from tinygrad_edu.errors import DomainError, DTypeError
from tinygrad_edu.tensor import Tensor

__all__ = ["load", "save"]


def save(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write named arrays (or Tensors) to ``path`` as ``.npz``, atomically.

    The file is written beside ``path`` under a temporary name and renamed
    into place when complete, so a crash or an error never leaves half a file,
    and an earlier file at ``path`` stays intact until then. The name is used
    exactly as given (``np.savez`` would append ``.npz`` to a name without it).
    """
    arrays = _numeric_arrays(state_dict)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"save: the directory {str(path.parent)!r} does not exist; create it "
            f"first, e.g. Path({str(path.parent)!r}).mkdir(parents=True)."
        )
    # np.savez(file, **arrays) would fail on a key named "file" or
    # "allow_pickle"; writing the zip members ourselves takes any name.
    with (
        atomic_write(path, "wb") as f,
        zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by ``save`` (or ``np.savez``) into a dict of ndarrays.

    Never unpickles: a file holding Python objects is refused with
    ``DTypeError``; a file that is not an ``.npz`` archive raises
    ``DomainError``; a missing one ``FileNotFoundError``.
    """
    shown = str(path)
    with open(path, "rb") as f:  # FileNotFoundError names the path
        try:
            archive = np.load(f, allow_pickle=False)
        except (ValueError, EOFError, OSError, zipfile.BadZipFile):
            raise DomainError(
                f"load: {shown!r} is not an .npz archive (tinygrad_edu.save and "
                f"np.savez write those); it may be a pickle or another format, "
                f"which load refuses to read."
            ) from None
        if not isinstance(archive, Mapping):
            raise DomainError(
                f"load: {shown!r} holds a single .npy array, not named arrays; "
                f"read it with np.load, or write a dict with tinygrad_edu.save."
            )
        with archive:
            return {name: _read_member(archive, name, shown) for name in archive}


def _read_member(archive: Any, name: str, shown: str) -> np.ndarray:
    try:
        value = archive[name]
    except ValueError as error:
        if "pickle" in str(error):
            raise DTypeError(
                f"load: {shown!r} holds pickled Python objects (array {name!r} has "
                f"dtype object) and will not be loaded: unpickling can run "
                f"arbitrary code. Only numeric arrays are read."
            ) from None
        raise _corrupt(shown, name, error) from None
    except (EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
        raise _corrupt(shown, name, error) from None
    if not isinstance(value, np.ndarray):
        raise DomainError(
            f"load: {shown!r} has a member {name!r} that is not a .npy array; it "
            f"is not a file written by tinygrad_edu.save."
        )
    return value


def _corrupt(shown: str, name: str, error: Exception) -> DomainError:
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
