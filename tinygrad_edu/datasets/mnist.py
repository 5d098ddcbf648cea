"""MNIST, loaded the way the book's ``dataset/mnist.py`` loads it.

The four gzip IDX files are read from ``data_dir`` if one is given; else from
the first of ``$TINYGRAD_EDU_DATA`` and a user cache directory that holds all
four. Each of these may also be a data root holding an ``mnist/`` folder (as
torchvision's ``root`` and scikit-learn's ``data_home``), so that more data
sets can live under one root. Missing files are downloaded from public
mirrors, one mirror after another, into a temporary file beside the target
that only replaces it once its checksum is right, so an interrupted or bad
download never leaves a file the loader would read; the temporary files of a
download that was killed are removed by the next one.

Every load checks each file's gzip CRC, its IDX header and, because a wrong
file that parses is worse than one that fails, the SHA-256 of its content.
MNIST's sizes are known, so no file is ever decompressed (or downloaded)
beyond them: a small file that expands to gigabytes is refused after reading
at most MNIST's size. Nothing is kept in memory between calls: a load reads
the files again (about 0.3 s here), so a changed file is always noticed.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np

from tinygrad_edu._files import atomic_write, cannot_write
from tinygrad_edu.errors import DatasetError, DTypeError

#: The environment variable naming the directory that holds the MNIST files.
DATA_ENV_VAR = "TINYGRAD_EDU_DATA"

#: File name -> SHA-256 of its *uncompressed* content (the canonical MNIST).
MNIST_FILES: Mapping[str, str] = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte.gz": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
    }
)

#: Public mirrors tried in order; each serves the four files under its prefix.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Images (and labels) in each split.
MNIST_SIZES: Mapping[str, int] = MappingProxyType({"train": 60_000, "test": 10_000})

_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGE_MAGIC, _LABEL_MAGIC = 0x803, 0x801
_ROWS = _COLS = 28
_TIMEOUT = 30.0  # seconds without data before a mirror counts as failed
_CHUNK = 1 << 16
#: A download's temporary file untouched this long belongs to a dead process
#: (a live one writes at least every _TIMEOUT seconds or gives up).
_STALE_SECONDS = 10 * _TIMEOUT


def _uncompressed_size(name: str) -> int:
    """The bytes of a canonical MNIST file once decompressed: header + payload."""
    split = next(s for s, names in _SPLITS.items() if name in names)
    if "images" in name:
        return 16 + MNIST_SIZES[split] * _ROWS * _COLS
    return 8 + MNIST_SIZES[split]


def default_data_dir() -> Path:
    """Where ``load_mnist`` downloads to when no ``data_dir`` is given.

    ``$TINYGRAD_EDU_DATA`` if set, else ``user_cache_dir()``. Reading looks
    in both, in that order (``search_path``), so files already in the user
    cache are found even when ``$TINYGRAD_EDU_DATA`` names an empty folder.
    """
    return search_path()[0]


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tinygrad_edu/mnist``, else ``~/.cache/tinygrad_edu/mnist``.

    A per-user cache, so the download happens once, not once per project.
    """
    cache = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "tinygrad_edu" / "mnist"


def search_path(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The directories ``load_mnist`` looks in, in order; downloads go to the first.

    ``[data_dir]`` alone when it is given; else ``$TINYGRAD_EDU_DATA`` (if
    set) followed by ``user_cache_dir()``.

    A folder that holds none of the four files but has an ``mnist/``
    subfolder is a data root: its ``mnist/`` is searched instead.

    >>> search_path("~/mnist") == [Path.home() / "mnist"]
    True
    """
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise DTypeError(
                f"load_mnist: data_dir must be a folder path (str or Path), got "
                f"{type(data_dir).__name__} {data_dir!r}."
            )
        return [_data_folder(Path(data_dir).expanduser())]
    found = [user_cache_dir()]
    chosen = os.environ.get(DATA_ENV_VAR)
    if chosen and _data_folder(Path(chosen).expanduser()) != found[0]:
        found.insert(0, _data_folder(Path(chosen).expanduser()))
    return found


def _data_folder(directory: Path) -> Path:
    """``directory``, or its ``mnist/`` when it is a data root holding that."""
    if (directory / "mnist").is_dir() and not any(
        (directory / name).exists() for name in MNIST_FILES
    ):
        return directory / "mnist"
    return directory


def mnist_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder ``load_mnist(data_dir=data_dir)`` reads, or downloads into.

    The first folder of ``search_path`` that holds all four files, else the
    first one searched. The training command records it in its metrics.
    """
    searched = search_path(data_dir)
    return next(
        (d for d in searched if all((d / name).exists() for name in MNIST_FILES)),
        searched[0],
    )


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return ``(x_train, t_train), (x_test, t_test)`` as the book's loader does.

    - images: ``normalize`` -> float32 in [0, 1], else uint8 in 0..255;
      ``flatten`` -> shape (N, 784), else (N, 1, 28, 28).
    - labels: ``one_hot_label`` -> float32 rows of shape (N, 10), else int64
      class indices of shape (N,) (int64, not the file's uint8, so that
      ``t - 1`` or ``t * 30`` cannot silently wrap around).

    N is 60000 for training and 10000 for test. The arrays are fresh copies:
    changing them does not change what the next call returns.

    Where the files are read from (``search_path``): ``data_dir`` if given,
    and nothing else; otherwise the first of ``$TINYGRAD_EDU_DATA`` (if set)
    and the user cache directory that holds all four files. If none does and
    ``download`` is true, the missing files are downloaded into the first
    directory searched (``data_dir``, else ``$TINYGRAD_EDU_DATA`` if set, else
    the user cache: ``default_data_dir()``), from ``mirrors`` (base URLs,
    default ``MNIST_MIRRORS``) with a progress bar if ``progress`` and tqdm is
    installed. Raises ``DatasetError`` saying what is wrong and how to fix it
    when files are missing, corrupt or cannot be downloaded.
    """
    bases = _mirror_urls(mirrors)
    directory = mnist_dir(data_dir)
    absent = [name for name in MNIST_FILES if not (directory / name).exists()]
    if absent and not download:
        searched = search_path(data_dir)
        raise DatasetError(
            _missing_message(
                {
                    d: [name for name in MNIST_FILES if not (d / name).exists()]
                    for d in searched
                }
            )
        )
    if absent:
        _download_into(directory, absent, bases, progress)
    raw = _read_all(directory)
    train, test = (
        (_images(raw[images], normalize, flatten), _labels(raw[labels], one_hot_label))
        for images, labels in _SPLITS.values()
    )
    return train, test


def _images(raw: np.ndarray, normalize: bool, flatten: bool) -> np.ndarray:
    shape = (len(raw), _ROWS * _COLS) if flatten else (len(raw), 1, _ROWS, _COLS)
    if normalize:  # x / 255 computed in float32, one pass, as the book's values
        return np.divide(raw.reshape(shape), np.float32(255), dtype=np.float32)
    return raw.reshape(shape).copy()


def _labels(raw: np.ndarray, one_hot: bool) -> np.ndarray:
    if one_hot:
        return np.eye(10, dtype=np.float32)[raw]
    return raw.astype(np.int64)


# -- reading and checking local files -------------------------------------------


def _read_all(directory: Path) -> dict[str, np.ndarray]:
    """The four files as read-only uint8 arrays, checked."""
    paths = [directory / name for name in MNIST_FILES]
    arrays: dict[str, np.ndarray] = {}
    digests: dict[str, str] = {}
    for path in paths:
        content = _decompress(path)
        arrays[path.name] = _parse_idx(content, path)
        digests[path.name] = hashlib.sha256(content).hexdigest()
    for images, labels in _SPLITS.values():
        n_images, n_labels = len(arrays[images]), len(arrays[labels])
        if n_images != n_labels:
            raise DatasetError(
                f"MNIST files in {directory} do not pair up: {images} holds "
                f"{n_images} images but {labels} holds {n_labels} labels. One of "
                f"them is from another copy or was modified; delete both and "
                f"load_mnist() downloads fresh ones."
            )
    wrong = [name for name, digest in digests.items() if digest != MNIST_FILES[name]]
    if wrong:
        lines = "\n".join(
            f"  {directory / name}: SHA-256 {digests[name]}, "
            f"expected {MNIST_FILES[name]}"
            for name in wrong
        )
        raise DatasetError(
            f"MNIST files whose content is not the canonical MNIST:\n{lines}\n"
            f"They parse as IDX files but are a different or modified data set "
            f"(the checksums are of the uncompressed content). Delete them and "
            f"load_mnist() downloads the real ones, or copy the originals there."
        )
    return arrays


def _decompress(path: Path) -> bytes:
    """The file's content, read no further than MNIST's size for it (plus one
    byte, to notice a larger file): a small file that expands to gigabytes
    costs at most that much memory."""
    limit = _uncompressed_size(path.name)
    try:
        stream = gzip.open(path, "rb")
    except OSError as error:
        raise _unreadable(path, error) from error
    try:  # gzip checks its CRC-32 and length, so this catches truncation too
        with stream:
            content = stream.read(limit + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DatasetError(
            f"{path} is truncated or corrupt: it is not a complete gzip file "
            f"({error}). Delete it and load_mnist() downloads it again, or "
            f"replace it with an intact copy."
        ) from error
    except OSError as error:
        raise _unreadable(path, error) from error
    if len(content) > limit:
        raise DatasetError(
            f"{path} expands to more than {limit} bytes, the size of this MNIST "
            f"file; it is corrupt or another file (or a decompression bomb) and was "
            f"not read further. Delete it and load_mnist() downloads the real one."
        )
    return content


def _unreadable(path: Path, error: OSError) -> DatasetError:
    return DatasetError(
        f"cannot read the MNIST file {path}: {error.strerror or error}. "
        f"Check that it is a readable file, or delete it to download it again."
    )


def _parse_idx(content: bytes, path: Path) -> np.ndarray:
    """An IDX file's payload as a read-only uint8 array, after checking its header."""
    is_images = "images" in path.name
    magic = _IMAGE_MAGIC if is_images else _LABEL_MAGIC
    ndim = 3 if is_images else 1
    kind = "image" if is_images else "label"
    fix = "Delete it and load_mnist() downloads it again."
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise DatasetError(
            f"{path} is truncated or corrupt: {len(content)} bytes uncompressed, "
            f"too short for an IDX {kind} file, whose header alone is "
            f"{header_size} bytes. {fix}"
        )
    found = int.from_bytes(content[:4], "big")
    if found != magic:
        other = {_IMAGE_MAGIC: "an image file", _LABEL_MAGIC: "a label file"}
        hint = (
            f" It looks like {other[found]}: were files renamed?"
            if found in other
            else ""
        )
        raise DatasetError(
            f"{path} has the wrong magic number 0x{found:08x}; an IDX {kind} file "
            f"starts with 0x{magic:08x}.{hint} {fix}"
        )
    dims = tuple(
        int.from_bytes(content[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1)
    )
    if is_images and dims[1:] != (_ROWS, _COLS):
        raise DatasetError(
            f"{path} holds images of {dims[1]}x{dims[2]} pixels; MNIST images are "
            f"{_ROWS}x{_COLS}. {fix}"
        )
    expected = int(np.prod(dims))
    payload = len(content) - header_size
    if payload != expected:
        raise DatasetError(
            f"{path} is truncated or corrupt: its header announces {dims[0]} "
            f"{kind}s ({expected} bytes) but {payload} bytes follow. {fix}"
        )
    array = np.frombuffer(content, np.uint8, offset=header_size).reshape(dims)
    if not is_images and expected and array.max() > 9:
        raise DatasetError(
            f"{path} holds the label {array.max()}; MNIST labels are 0..9. {fix}"
        )
    return array


def _missing_message(missing: dict[Path, list[str]]) -> str:
    """One line per directory searched: which files it lacks, and why that may be."""
    lines = []
    for directory, names in missing.items():
        unpacked = [name[:-3] for name in names if (directory / name[:-3]).exists()]
        note = (
            f" ({', '.join(unpacked)} exist uncompressed: the loader reads the .gz "
            f"files, so gzip them again.)"
            if unpacked
            else ""
        )
        if directory.is_file():
            note += " (It is a file, not a folder.)"
        elif not directory.is_dir():
            note += " (The directory does not exist.)"
        lines.append(f"MNIST files missing from {directory}: {', '.join(names)}.{note}")
    first = next(iter(missing))
    return (
        "\n".join(lines) + f"\nCall load_mnist(download=True) to download them "
        f"(into {first}), put the four files there by hand, or point the loader "
        f"at a folder that has them with load_mnist(data_dir=...) or the "
        f"{DATA_ENV_VAR} environment variable."
    )


# -- downloading -----------------------------------------------------------------


class _MirrorError(Exception):
    """A mirror answered, but with something that is not the file we want."""


def _mirror_urls(mirrors: Sequence[str] | str | None) -> tuple[str, ...]:
    """The mirrors' base URLs, checked before anything is downloaded."""
    if mirrors is None:
        return MNIST_MIRRORS
    # A lone string is one URL, not a sequence of one-letter URLs.
    bases = (mirrors,) if isinstance(mirrors, str) else mirrors
    try:
        bases = tuple(bases)
    except TypeError:
        bases = (mirrors,)  # reported just below
    wrong = [base for base in bases if not isinstance(base, str) or not base]
    if wrong:
        raise DTypeError(
            f"load_mnist: mirrors must be base URLs (non-empty str) such as "
            f"{MNIST_MIRRORS[0]!r}, got {wrong[0]!r} in {mirrors!r}."
        )
    return bases


def _download_into(
    directory: Path, names: list[str], bases: Sequence[str], progress: bool
) -> None:
    """Fetch ``names`` into ``directory``; the folders made for them are
    removed again if the download fails, and, unless it is the user cache,
    the error says that they did not exist (a mistyped path is the usual cause)."""
    made = [] if directory == user_cache_dir() else _missing_folders(directory)
    _remove_stale_temporaries(directory)
    try:
        for name in names:
            _fetch(name, directory, bases, progress=progress)
    except DatasetError as error:
        if not made or not directory.is_dir() or any(directory.iterdir()):
            raise
        for folder in made:  # the deepest first; each is empty once its child is gone
            folder.rmdir()
        raise DatasetError(
            f"{error}\nNote: {made[-1]} did not exist before this call; "
            f"{directory} was created for the download and removed again. If "
            f"the files are elsewhere, check the path."
        ) from error


def _missing_folders(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist, deepest first."""
    return [p for p in (directory, *directory.parents) if not p.exists()]


def _remove_stale_temporaries(directory: Path) -> None:
    """Delete what downloads killed mid-way (SIGKILL, power loss) left behind."""
    if not directory.is_dir():
        return
    now = time.time()
    for name in MNIST_FILES:
        for temp in directory.glob(f".{name}.*.tmp"):
            try:
                if now - temp.stat().st_mtime > _STALE_SECONDS:
                    temp.unlink()
            except FileNotFoundError:  # another process cleaned it first
                pass


def _fetch(
    name: str,
    directory: Path,
    mirrors: Sequence[str] | None = None,
    *,
    progress: bool = False,
) -> Path:
    """Download ``name`` into ``directory`` from the first mirror that serves it intact.

    Each attempt writes to its own temporary file beside the target, checks the
    SHA-256 of the uncompressed content, and only then renames it into place;
    on any failure the temporary file is removed and the next mirror is tried,
    except when the disk cannot take the file (full, read-only): another
    mirror cannot help, so that is reported at once. With ``progress``, the
    mirrors that failed before one served the file are listed; when all fail,
    the error lists them (once).
    """
    bases = _mirror_urls(mirrors)
    _make_directory(directory)
    target = directory / name
    tried: list[tuple[str, str]] = []
    for base in bases:
        url = base if base.endswith("/") else base + "/"
        url += name
        out = None
        try:
            with atomic_write(target, "wb") as out:
                _download(url, out, name, progress)
                out.flush()
                _check_download(Path(out.name), name)  # before the rename
            for failed, reason in tried if progress else ():
                print(f"{failed}: {reason}", file=sys.stderr)
            return target
        except (
            OSError,
            EOFError,
            ValueError,
            zlib.error,
            http.client.HTTPException,
            _MirrorError,
        ) as error:
            if out is None or cannot_write(error):  # the disk, not the mirror
                raise _unwritable(directory, error) from error
            tried.append((url, _reason(error)))
    attempts = "\n".join(f"  {url}: {reason}" for url, reason in tried) or "  (none)"
    raise DatasetError(
        f"could not download {name}; tried:\n{attempts}\n"
        f"Check your internet connection and try again, or download the four "
        f"MNIST files ({', '.join(MNIST_FILES)}) by hand and put them in "
        f"{directory}, or point the loader at a folder that has them with "
        f"load_mnist(data_dir=...) or the {DATA_ENV_VAR} environment variable."
    )


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unwritable(directory, error) from error


def _unwritable(directory: Path, error: OSError) -> DatasetError:
    fix = cannot_write(error)
    if fix and error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix += "; MNIST needs about 12 MB"
    why = f" ({fix})" if fix else ""
    return DatasetError(
        f"cannot write the MNIST files to {directory}: "
        f"{error.strerror or error}{why}. Choose a writable directory with "
        f"load_mnist(data_dir=...) or the {DATA_ENV_VAR} environment variable, or "
        f"fix the directory's permissions."
    )


def _download(url: str, out: IO[bytes], name: str, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "tinygrad_edu"})
    # A gzip file is never much larger than its content; more is not MNIST.
    limit = _uncompressed_size(name) + (1 << 20)
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > limit:
            raise _MirrorError(f"{total} bytes announced, more than {name} can be")
        bar = _progress_bar(name, total) if progress else None
        received = 0
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                if received > limit:
                    raise _MirrorError(f"more than {limit} bytes sent; not {name}")
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise _MirrorError(f"received {received} of {total} bytes")


def _progress_bar(name: str, total: int | None) -> Any:
    try:  # tqdm is optional: no bar without it
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024)


def _check_download(path: Path, name: str) -> None:
    expected, limit = MNIST_FILES[name], _uncompressed_size(name)
    digest, size = hashlib.sha256(), 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            if size > limit:
                raise _MirrorError(f"expands to more than {limit} bytes; not {name}")
    if digest.hexdigest() != expected:
        raise _MirrorError(
            f"wrong content: SHA-256 {digest.hexdigest()}, expected {expected}"
        )


def _reason(error: BaseException) -> str:
    """A short, human description of why one mirror failed."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        missing = isinstance(error.reason, FileNotFoundError)  # a file:// mirror
        return f"{'no such file' if missing else 'cannot connect'} ({error.reason})"
    if isinstance(error, TimeoutError):
        return f"no answer within {_TIMEOUT:g} s"
    if isinstance(error, http.client.IncompleteRead):
        return f"connection closed early ({len(error.partial)} bytes received)"
    if isinstance(error, (EOFError, zlib.error, gzip.BadGzipFile)):
        return f"not a complete gzip file ({error})"
    if isinstance(error, _MirrorError):
        return str(error)
    return f"{type(error).__name__}: {error}"
