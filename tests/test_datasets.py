"""tinygrad_edu.datasets on the real MNIST files and a real HTTP server.

The MNIST files come from ``$TINYGRAD_EDU_DATA`` (conftest points it at the
workspace's shared copy). Broken files are built byte by byte in ``tmp_path``;
downloads go through ``http.server`` on 127.0.0.1, whose routes play good, bad
and missing mirrors.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tinygrad_edu.datasets import (
    MNIST_FILES,
    MNIST_MIRRORS,
    default_data_dir,
    load_mnist,
    minibatches,
    mnist_dir,
    sample_batch,
    search_path,
    spiral,
    user_cache_dir,
)
from tinygrad_edu.datasets import mnist as mnist_module
from tinygrad_edu.errors import DatasetError, DomainError, DTypeError, ShapeError

TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
#: A 1 MB gzip file that expands to 1 GiB of zeros: 1024 members of 1 MiB
#: (a gzip file may hold several members; readers join them).
BOMB = gzip.compress(bytes(1 << 20)) * 1024
# Class counts of the canonical MNIST, digits 0..9.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    directory = Path(os.environ.get("TINYGRAD_EDU_DATA", ""))
    missing = [name for name in MNIST_FILES if not (directory / name).is_file()]
    assert not missing, (
        f"these tests need the real MNIST files: set TINYGRAD_EDU_DATA to a "
        f"folder holding {missing}"
    )
    return directory


@pytest.fixture(scope="module")
def mnist(data_dir):
    """The raw data set (uint8 images, int64 labels), loaded once."""
    return load_mnist(normalize=False, flatten=False, data_dir=data_dir)


def uncompressed(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


# -- the real files ----------------------------------------------------------------


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot_label", [True, False])
def test_shapes_dtypes_and_ranges(data_dir, normalize, flatten, one_hot_label):
    splits = load_mnist(normalize, flatten, one_hot_label, data_dir=data_dir)
    for (x, t), n in zip(splits, (60000, 10000)):
        assert x.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        if normalize:
            assert x.dtype == np.float32
            assert x.min() == 0.0 and x.max() == 1.0
        else:
            assert x.dtype == np.uint8
            assert x.min() == 0 and x.max() == 255
        if one_hot_label:
            assert t.shape == (n, 10) and t.dtype == np.float32
            assert set(np.unique(t).tolist()) == {0.0, 1.0}
            assert np.all(t.sum(axis=1) == 1)
        else:
            assert t.shape == (n,) and t.dtype == np.int64
            assert t.min() == 0 and t.max() == 9
        assert x.flags.writeable and t.flags.writeable


def test_the_flags_only_change_the_representation(data_dir, mnist):
    (x_raw, t_raw), _ = mnist
    (x, t), _ = load_mnist(True, True, True, data_dir=data_dir)
    # exactly the book's float32 x / 255.0, and labels = argmax of the one-hot rows
    expected = x_raw.reshape(60000, 784).astype(np.float32) / 255.0
    assert np.array_equal(x, expected)
    assert np.array_equal(np.argmax(t, axis=1), t_raw)


def test_label_histograms(mnist):
    (_, t_train), (_, t_test) = mnist
    assert np.bincount(t_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(t_test, minlength=10).tolist() == TEST_COUNTS
    assert sum(TRAIN_COUNTS) == 60000 and sum(TEST_COUNTS) == 10000


def test_labels_work_as_class_indices(mnist):
    (_, t_train), _ = mnist
    scores = np.zeros((5, 10))
    scores[np.arange(5), t_train[:5]] = 1.0  # the cross-entropy's fancy indexing
    assert np.array_equal(np.argmax(scores, axis=1), t_train[:5])
    assert np.array_equal(np.eye(10)[t_train[:3]].argmax(axis=1), t_train[:3])


def test_the_images_look_like_digits(mnist):
    (x_train, _), (x_test, _) = mnist
    # Mostly black background with a stroke in the middle, in both splits.
    for x in (x_train, x_test):
        assert 0.1 < np.mean(x > 0) < 0.25
        assert x[:, 0, 0, :].mean() < 0.01  # the top row is (nearly) empty
        assert x[:, 0, 10:18, 10:18].mean() > 100


def test_the_embedded_checksums_are_the_files(data_dir):
    for name, digest in MNIST_FILES.items():
        assert hashlib.sha256(uncompressed(data_dir / name)).hexdigest() == digest
    sums = data_dir / "SHA256SUMS"
    if sums.is_file():  # the shared copy documents them too
        listed = dict(line.split()[::-1] for line in sums.read_text().splitlines())
        assert {name[:-3]: d for name, d in MNIST_FILES.items()} == listed


def test_arrays_are_fresh_copies(data_dir):
    (x, t), _ = load_mnist(normalize=False, data_dir=data_dir)
    x[:] = 7
    t[:] = 3
    (x2, t2), _ = load_mnist(normalize=False, data_dir=data_dir)
    assert x2.max() == 255 and t2.min() == 0


def test_the_environment_variable_is_the_default(data_dir, monkeypatch):
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(data_dir))
    assert default_data_dir() == data_dir
    (x, _), _ = load_mnist(download=False)
    assert x.shape == (60000, 784)


def test_the_user_cache_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYGRAD_EDU_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "tinygrad_edu" / "mnist"
    assert user_cache_dir() == default_data_dir()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cache = tmp_path / "home" / ".cache" / "tinygrad_edu" / "mnist"
    assert default_data_dir() == cache
    monkeypatch.setenv("TINYGRAD_EDU_DATA", "~/data")
    assert default_data_dir() == tmp_path / "home" / "data"
    assert search_path() == [tmp_path / "home" / "data", cache]
    assert search_path(tmp_path / "given") == [tmp_path / "given"]


def copy_mnist(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        shutil.copy(source / name, target / name)
    return target


def test_search_falls_through_to_the_user_cache(data_dir, tmp_path, monkeypatch):
    """$TINYGRAD_EDU_DATA without the files: the copy in the user cache is used."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = copy_mnist(data_dir, tmp_path / "xdg" / "tinygrad_edu" / "mnist")
    empty = tmp_path / "empty"
    empty.mkdir()
    write_small_set(empty)  # valid files, but only some of them
    (empty / TRAIN_LABELS).unlink()
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(empty))
    (x, t), _ = load_mnist(download=False)
    assert x.shape == (60000, 784) and np.bincount(t).tolist() == TRAIN_COUNTS
    # The first folder that holds all four is the one read, even when its files
    # turn out to be wrong: an error, never a silent switch to another copy.
    write_small_set(empty)
    with pytest.raises(DatasetError, match="not the canonical MNIST") as caught:
        load_mnist(download=False)
    assert str(empty / TRAIN_LABELS) in str(caught.value)
    assert str(cache) not in str(caught.value)


def test_a_given_data_dir_is_the_only_place_searched(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(data_dir))  # has the files
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=tmp_path, download=False)
    assert f"missing from {tmp_path}: " in str(caught.value)
    assert str(data_dir) not in str(caught.value)


def test_missing_everywhere_names_every_folder_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as caught:
        load_mnist(download=False)
    message = str(caught.value)
    assert f"missing from {tmp_path / 'env'}: " in message
    assert f"missing from {tmp_path / 'xdg' / 'tinygrad_edu' / 'mnist'}: " in message
    assert f"download them (into {tmp_path / 'env'})" in message


def test_a_changed_file_is_read_again(data_dir, tmp_path):
    for name in MNIST_FILES:
        shutil.copy(data_dir / name, tmp_path / name)
    load_mnist(data_dir=tmp_path)
    (tmp_path / TRAIN_LABELS).write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match=TRAIN_LABELS):
        load_mnist(data_dir=tmp_path)


def test_a_data_root_holding_mnist_is_accepted(data_dir, tmp_path, monkeypatch):
    """As torchvision's root: the variable (or data_dir) may name the folder
    above mnist/, so that other data sets can live beside it."""
    root = tmp_path / "data"
    copy_mnist(data_dir, root / "mnist")
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(root))
    assert mnist_dir() == root / "mnist"
    assert search_path()[0] == root / "mnist"
    (x, _), _ = load_mnist(download=False)
    assert x.shape == (60000, 784)
    assert mnist_dir(root) == root / "mnist"
    # A folder that holds the files itself is read as before, mnist/ or not.
    copy_mnist(data_dir, root)
    assert mnist_dir(root) == root


def test_mnist_dir_is_the_folder_read(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path / "empty"))
    cache = copy_mnist(data_dir, tmp_path / "xdg" / "tinygrad_edu" / "mnist")
    assert mnist_dir() == cache  # the first that holds all four
    shutil.rmtree(cache)
    assert mnist_dir() == tmp_path / "empty"  # else where downloads go


def peak_traced_bytes(call):
    """The peak of Python and NumPy allocations while call() runs."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    ("name", "limit"),
    [(TEST_LABELS, 10_008), ("t10k-images-idx3-ubyte.gz", 7_840_016)],
)
def test_a_decompression_bomb_is_read_no_further_than_mnists_size(
    data_dir, tmp_path, name, limit
):
    copy_mnist(data_dir, tmp_path)
    (tmp_path / name).write_bytes(BOMB)  # 1 MB expanding to 1 GiB

    def refused():
        with pytest.raises(DatasetError, match=rf"expands to more than {limit} bytes"):
            load_mnist(data_dir=tmp_path, download=False)

    # The files read before it count too (train images: 47 MB, the largest).
    assert peak_traced_bytes(refused) < 2.5 * 47_040_016


# -- broken local files ---------------------------------------------------------------


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


def write_small_set(directory: Path, n: int = 2) -> None:
    """Four structurally valid MNIST-like files of n samples each."""
    images = idx_bytes(0x803, (n, 28, 28), bytes(n * 784))
    labels = idx_bytes(0x801, (n,), bytes(range(n)))
    for name in MNIST_FILES:
        content = images if "images" in name else labels
        (directory / name).write_bytes(gzip.compress(content))


BROKEN = {
    # case: (file content, fragments the message must contain)
    "truncated gzip": (
        lambda: gzip.compress(idx_bytes(0x801, (2,), b"\0\1"))[:15],
        ["truncated or corrupt", "gzip", "Delete it"],
    ),
    "not gzip": (lambda: idx_bytes(0x801, (2,), b"\0\1"), ["not a complete gzip"]),
    "empty": (lambda: b"", ["truncated or corrupt"]),
    "wrong magic": (
        lambda: gzip.compress(idx_bytes(0x999, (2,), b"\0\1")),
        ["magic", "0x00000999", "0x00000801", "Delete it"],
    ),
    "image magic in a label file": (
        lambda: gzip.compress(idx_bytes(0x803, (2,), b"\0\1")),
        ["magic", "image file", "renamed"],
    ),
    "header too short": (
        lambda: gzip.compress(b"\0\0\x08"),
        ["truncated or corrupt", "3 bytes uncompressed, too short"],
    ),
    "payload shorter than the count": (
        lambda: gzip.compress(idx_bytes(0x801, (5,), b"\0\1")),
        ["announces 5 labels", "2 bytes follow"],
    ),
    "label out of range": (
        lambda: gzip.compress(idx_bytes(0x801, (2,), b"\0\x0c")),
        ["label 12", "0..9"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_label_file(tmp_path, case):
    write_small_set(tmp_path)
    content, fragments = BROKEN[case]
    (tmp_path / TRAIN_LABELS).write_bytes(content())
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / TRAIN_LABELS) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_images_of_the_wrong_size(tmp_path):
    write_small_set(tmp_path)
    name = "t10k-images-idx3-ubyte.gz"
    (tmp_path / name).write_bytes(
        gzip.compress(idx_bytes(0x803, (2, 27, 27), bytes(2 * 27 * 27)))
    )
    with pytest.raises(DatasetError, match=r"27x27 pixels; MNIST images are 28x28"):
        load_mnist(data_dir=tmp_path, download=False)


def test_counts_that_do_not_pair_up(tmp_path):
    write_small_set(tmp_path)
    (tmp_path / TEST_LABELS).write_bytes(
        gzip.compress(idx_bytes(0x801, (3,), b"\0\1\2"))
    )
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert "t10k-images-idx3-ubyte.gz holds 2 images" in message
    assert f"{TEST_LABELS} holds 3 labels" in message
    assert "delete both" in message


def test_valid_files_that_are_not_mnist(tmp_path):
    write_small_set(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=tmp_path, download=False)
    message = str(caught.value)
    for name, digest in MNIST_FILES.items():  # every file is listed at once
        assert str(tmp_path / name) in message and digest in message
    assert "not the canonical MNIST" in message and "Delete them" in message


def test_one_changed_label_in_a_real_file(data_dir, tmp_path):
    for name in MNIST_FILES:
        shutil.copy(data_dir / name, tmp_path / name)
    content = bytearray(uncompressed(data_dir / TEST_LABELS))
    content[-1] = (content[-1] + 1) % 10  # still a valid label
    (tmp_path / TEST_LABELS).write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert TEST_LABELS in message and TRAIN_LABELS not in message


def test_a_flipped_bit_in_the_compressed_file(data_dir, tmp_path):
    for name in MNIST_FILES:
        shutil.copy(data_dir / name, tmp_path / name)
    content = bytearray((data_dir / TRAIN_LABELS).read_bytes())
    content[len(content) // 2] ^= 0x10
    (tmp_path / TRAIN_LABELS).write_bytes(bytes(content))
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_mnist(data_dir=tmp_path, download=False)


def test_missing_files_without_download(tmp_path):
    write_small_set(tmp_path)
    (tmp_path / TRAIN_LABELS).unlink()
    (tmp_path / TEST_LABELS).unlink()
    (tmp_path / TEST_LABELS[:-3]).write_bytes(b"unpacked")
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert f"missing from {tmp_path}: {TRAIN_LABELS}, {TEST_LABELS}" in message
    assert "t10k-labels-idx1-ubyte exist uncompressed" in message
    assert "download=True" in message and "TINYGRAD_EDU_DATA" in message


def test_missing_directory_without_download(tmp_path):
    with pytest.raises(DatasetError, match="directory does not exist"):
        load_mnist(data_dir=tmp_path / "nowhere", download=False)


# -- downloads from a real HTTP server --------------------------------------------


class Mirrors(http.server.ThreadingHTTPServer):
    """Routes /<behaviour>/<file name>, each behaving like one kind of mirror."""

    daemon_threads = True

    def __init__(self, source: Path) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.source = source
        self.requests: list[str] = []
        self.base = f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, behaviour: str) -> str:
        return f"{self.base}/{behaviour}/"

    def content(self, behaviour: str, name: str) -> bytes:
        good = (self.source / name).read_bytes()
        if behaviour == "corrupt":  # valid gzip, but a second member adds bytes
            return good + gzip.compress(b"\0")
        if behaviour == "changed":  # valid gzip of the right size, one byte off
            content = bytearray(gzip.decompress(good))
            content[-1] ^= 1
            return gzip.compress(bytes(content))
        if behaviour == "bomb":  # 1 MB that expands to 1 GiB
            return BOMB
        if behaviour == "short":  # a truncated file, served completely
            return good[: len(good) // 2]
        if behaviour == "html":  # a captive portal or an error page with 200
            return b"<html>Please log in</html>"
        return good


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    server: Mirrors

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        behaviour, _, name = self.path.lstrip("/").partition("/")
        if behaviour == "missing" or name not in MNIST_FILES:
            self.send_error(404, "File not found")
            return
        if behaviour == "stall":
            time.sleep(1.0)
        body = self.server.content(behaviour, name)
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "cut":  # the connection drops half way
            body = body[: len(body) // 2]
            self.close_connection = True
        try:
            self.wfile.write(body)
        except ConnectionError:  # the client gave up (the stalled mirror)
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def mirrors_server(data_dir):
    server = Mirrors(data_dir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def server(mirrors_server, monkeypatch):
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    mirrors_server.requests.clear()
    return mirrors_server


@pytest.fixture
def closed_port_url():
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def test_fetch_falls_through_to_the_good_mirror(server, data_dir, tmp_path, capsys):
    bad = ["missing", "corrupt", "short", "cut", "html"]
    target = tmp_path / "cache"
    path = mnist_module._fetch(
        TRAIN_LABELS,
        target,
        [server.url(b) for b in bad] + [server.base + "/good"],  # no trailing /
        progress=True,
    )
    assert path == target / TRAIN_LABELS
    assert uncompressed(path) == uncompressed(data_dir / TRAIN_LABELS)
    assert sorted(os.listdir(target)) == [TRAIN_LABELS]  # no temporary files left
    assert server.requests == [f"/{b}/{TRAIN_LABELS}" for b in [*bad, "good"]]
    err = capsys.readouterr().err
    assert f"{server.url('missing')}{TRAIN_LABELS}: HTTP 404" in err  # a failure
    # tqdm's own bar: the description, the percentage and a rate in bytes/s.
    assert re.search(rf"{re.escape(TRAIN_LABELS)}: 100%\|.*B/s\]", err), err


def test_no_progress_output_when_asked_for_none(server, tmp_path, capsys):
    mnist_module._fetch(
        TRAIN_LABELS, tmp_path, [server.url("missing"), server.url("good")]
    )
    assert capsys.readouterr().err == ""


def test_fetch_reports_every_failed_mirror(server, tmp_path, closed_port_url):
    kinds = ("missing", "corrupt", "changed", "short", "cut", "html", "bomb")
    urls = [server.url(b) for b in kinds]
    urls.append(closed_port_url)
    with pytest.raises(DatasetError) as caught:
        mnist_module._fetch(TEST_LABELS, tmp_path, urls)
    message = str(caught.value)
    reasons = {
        "missing": "HTTP 404",
        "corrupt": "expands to more than 10008 bytes",
        "changed": "wrong content: SHA-256",
        "bomb": f"{len(BOMB)} bytes announced, more than {TEST_LABELS} can be",
        "short": "not a complete gzip file",
        "cut": "received",
        "html": "not a complete gzip file",
    }
    for behaviour, reason in reasons.items():
        assert f"{server.url(behaviour)}{TEST_LABELS}: {reason}" in message
    assert f"{closed_port_url}{TEST_LABELS}: cannot connect" in message
    assert str(tmp_path) in message and "TINYGRAD_EDU_DATA" in message
    assert os.listdir(tmp_path) == []  # a bad mirror never leaves a file


def test_a_stalled_mirror_times_out(server, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module, "_TIMEOUT", 0.2)
    path = mnist_module._fetch(
        TEST_LABELS, tmp_path, [server.url("stall"), server.url("good")]
    )
    assert path.is_file()
    with pytest.raises(DatasetError, match=r"stall/t10k-labels-idx1-ubyte.gz: "):
        mnist_module._fetch(TEST_LABELS, tmp_path / "again", [server.url("stall")])


def test_no_mirrors_at_all(tmp_path):
    with pytest.raises(DatasetError, match=r"tried:\n  \(none\)"):
        mnist_module._fetch(TRAIN_LABELS, tmp_path, [])


def test_load_mnist_downloads_what_is_missing(server, data_dir, tmp_path):
    target = tmp_path / "cache" / "mnist"  # created on demand
    downloaded = load_mnist(
        data_dir=target,
        mirrors=[server.url("missing"), server.url("corrupt"), server.url("good")],
        progress=False,
    )
    assert sorted(os.listdir(target)) == sorted(MNIST_FILES)
    for name in MNIST_FILES:
        assert (target / name).read_bytes() == (data_dir / name).read_bytes()
    reference = load_mnist(data_dir=data_dir)
    for (x, t), (x_ref, t_ref) in zip(downloaded, reference):
        assert np.array_equal(x, x_ref) and np.array_equal(t, t_ref)

    # A download gets the permissions open() gives (0o666 minus the umask).
    mode = (target / TEST_LABELS).stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask

    # Present files are not fetched again; only a missing one is.
    (target / TEST_LABELS).unlink()
    server.requests.clear()
    load_mnist(data_dir=target, mirrors=[server.url("good")], progress=False)
    assert server.requests == [f"/good/{TEST_LABELS}"]


def test_a_download_goes_to_the_environment_variables_folder(
    server, data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path / "env"))
    load_mnist(mirrors=[server.url("good")], progress=False)
    assert sorted(os.listdir(tmp_path / "env")) == sorted(MNIST_FILES)
    assert not (tmp_path / "xdg").exists()
    monkeypatch.delenv("TINYGRAD_EDU_DATA")
    load_mnist(mirrors=[server.url("good")], progress=False)  # into the cache
    cache = tmp_path / "xdg" / "tinygrad_edu" / "mnist"
    assert sorted(os.listdir(cache)) == sorted(MNIST_FILES)


def test_load_mnist_when_every_mirror_fails(server, tmp_path, closed_port_url):
    with pytest.raises(DatasetError) as caught:
        load_mnist(
            data_dir=tmp_path,
            mirrors=[closed_port_url, server.url("missing")],
            progress=False,
        )
    message = str(caught.value)
    assert closed_port_url in message and server.url("missing") in message
    assert f"put them in {tmp_path}" in message
    assert os.listdir(tmp_path) == []


def test_an_uncreatable_directory(server, tmp_path):
    (tmp_path / "afile").write_text("a file, not a directory")
    target = tmp_path / "afile" / "sub"
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=target, mirrors=[server.url("good")], progress=False)
    message = str(caught.value)
    assert f"cannot write the MNIST files to {target}" in message
    assert "data_dir" in message and "TINYGRAD_EDU_DATA" in message
    assert server.requests == []  # nothing downloaded that could not be kept


def test_the_default_mirrors_are_https():
    assert MNIST_MIRRORS and all(url.startswith("https://") for url in MNIST_MIRRORS)


def test_a_full_disk_is_reported_at_once_not_as_a_network_problem(server, full_disk):
    with pytest.raises(DatasetError) as caught:  # 64 KiB cannot take 9.9 MB
        load_mnist(
            data_dir=full_disk,
            mirrors=[server.url("good"), server.url("good")],
            progress=False,
        )
    message = str(caught.value)
    assert f"cannot write the MNIST files to {full_disk}: No space left" in message
    assert "the disk is full" in message and "could not download" not in message
    # The first file did not fit, and the second mirror was not tried.
    assert server.requests == ["/good/train-images-idx3-ubyte.gz"]
    assert os.listdir(full_disk) == []


def test_a_killed_downloads_temporary_file_is_removed_next_time(
    server, data_dir, tmp_path
):
    """A real child process, killed with SIGKILL while it downloads."""
    target = tmp_path / "mnist"
    code = (
        "from tinygrad_edu.datasets import mnist; from pathlib import Path; "
        f"mnist._fetch({TEST_LABELS!r}, Path({str(target)!r}), "
        f"[{server.url('stall')!r}])"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    deadline = time.monotonic() + 60
    while not list(target.glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    (left,) = target.glob(f".{TEST_LABELS}.*.tmp")
    fresh = target / f".{TRAIN_LABELS}.0123abcd.tmp"  # a download still running
    fresh.write_bytes(b"partial")
    hour_ago = time.time() - 3600  # what time does to a file nobody writes
    os.utime(left, (hour_ago, hour_ago))
    load_mnist(data_dir=target, mirrors=[server.url("good")], progress=False)
    assert not left.exists()
    assert fresh.exists()  # not stale: another process may still be writing it


def test_the_failed_mirrors_are_listed_once(server, tmp_path, closed_port_url, capsys):
    urls = [closed_port_url, server.url("missing")]
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=tmp_path, mirrors=urls, progress=True)
    shown = capsys.readouterr().err + str(caught.value)
    first = next(iter(MNIST_FILES))  # the first file fetched stops the load
    for url in urls:
        assert shown.count(f"{url}{first}") == 1, shown


def test_a_data_dir_that_did_not_exist_is_named_when_downloads_fail(server, tmp_path):
    typo = tmp_path / "mnsit"
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=typo, mirrors=[server.url("missing")], progress=False)
    assert f"{typo} did not exist before this call" in str(caught.value)
    assert "check the path" in str(caught.value)
    assert not typo.exists()  # the folder made for the download is gone again


def test_every_folder_made_for_a_failed_download_is_removed(server, tmp_path):
    deep = tmp_path / "typo" / "p" / "mnist"
    with pytest.raises(DatasetError) as caught:
        load_mnist(data_dir=deep, mirrors=[server.url("missing")], progress=False)
    assert f"{tmp_path / 'typo'} did not exist before this call" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # not typo/p left behind


# -- spiral ----------------------------------------------------------------------


def test_spiral_shapes_and_labels():
    x, t = spiral(n_per_class=40, n_classes=4)
    assert x.shape == (160, 2) and x.dtype == np.float64
    assert t.shape == (160,) and t.dtype == np.int64
    assert np.array_equal(t, np.repeat(np.arange(4), 40))
    assert np.all(np.hypot(x[:, 0], x[:, 1]) <= 1 + 1e-12)


def test_spiral_is_deterministic_for_a_seed():
    a, b, c = spiral(seed=1), spiral(seed=1), spiral(seed=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert np.array_equal(spiral()[0], spiral(seed=0)[0])


def test_spiral_arms_without_noise():
    x, _ = spiral(n_per_class=50, n_classes=3, noise=0.0)
    radius = np.hypot(x[:, 0], x[:, 1])
    assert np.allclose(radius, np.tile(np.linspace(0, 1, 50), 3))
    # At the same radius the arms are a third of a turn apart.
    angle = np.arctan2(x[:, 0], x[:, 1])
    gap = np.angle(np.exp(1j * (angle[50 + 25] - angle[25])))
    assert np.isclose(gap, 2 * np.pi / 3)


def test_spiral_is_not_linearly_separable():
    x, t = spiral()
    # The least-squares linear classifier does little better than chance.
    features = np.hstack([x, np.ones((len(x), 1))])
    w, *_ = np.linalg.lstsq(features, np.eye(3)[t], rcond=None)
    assert np.mean(np.argmax(features @ w, axis=1) == t) < 0.65


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_per_class": 0},
        {"n_classes": 0},
        {"n_per_class": 2.5},
        {"n_classes": True},
        {"noise": -0.1},
        {"noise": float("nan")},
    ],
)
def test_spiral_bad_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(DomainError, match=f"spiral: {name}"):
        spiral(**kwargs)


# -- batching -----------------------------------------------------------------------


def numbered(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x row i holds i, so batches can be traced back to indices."""
    return np.arange(n * 3).reshape(n, 3) // 3, np.arange(n)


@pytest.mark.parametrize("n, batch_size", [(100, 10), (103, 10), (7, 1), (5, 8)])
def test_minibatches_visit_every_sample_once(n, batch_size):
    x, t = numbered(n)
    batches = list(minibatches(x, t, batch_size, rng=0))
    seen = np.concatenate([tb for _, tb in batches])
    assert sorted(seen.tolist()) == list(range(n))
    for xb, tb in batches:
        assert np.array_equal(xb[:, 0], tb)  # x and t stay paired
    full, rest = divmod(n, batch_size)
    assert [len(tb) for _, tb in batches] == [batch_size] * full + [rest] * (rest > 0)


def test_minibatches_drop_last():
    x, t = numbered(103)
    batches = list(minibatches(x, t, 10, rng=0, drop_last=True))
    assert [len(tb) for _, tb in batches] == [10] * 10
    assert len(set(np.concatenate([tb for _, tb in batches]).tolist())) == 100
    assert list(minibatches(x[:5], t[:5], 10, drop_last=True)) == []


def test_minibatches_without_shuffling_are_in_order():
    x, t = numbered(10)
    assert [tb.tolist() for _, tb in minibatches(x, t, 4, shuffle=False)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]


def test_minibatches_shuffle_reproducibly():
    x, t = numbered(50)

    def order(rng):
        return np.concatenate([tb for _, tb in minibatches(x, t, 7, rng=rng)])

    assert np.array_equal(order(3), order(3))
    assert not np.array_equal(order(3), np.arange(50))
    generator = np.random.default_rng(3)
    first, second = order(generator), order(generator)
    assert not np.array_equal(first, second)  # a Generator moves on each epoch
    assert np.array_equal(first, order(3))
    np.random.seed(5)
    global_first = order(None)
    np.random.seed(5)
    assert np.array_equal(global_first, order(None))  # rng=None: np.random.seed


def test_minibatches_check_arguments_when_called():
    x, t = numbered(10)
    with pytest.raises(DomainError, match="minibatches: batch_size must be a positive"):
        minibatches(x, t, 0)  # raises before the first batch is asked for
    with pytest.raises(ShapeError, match=r"x has 10 samples .* t has 9"):
        minibatches(x, t[:9], 2)
    with pytest.raises(DTypeError, match="minibatches: rng must be"):
        minibatches(x, t, 2, rng="seed")
    with pytest.raises(DomainError, match="sample_batch: an rng seed must be >= 0"):
        sample_batch(x, t, 2, rng=-1)


def test_sample_batch_is_the_books_draw():
    x, t = numbered(1000)
    np.random.seed(0)
    xb, tb = sample_batch(x, t, 100)
    np.random.seed(0)
    batch_mask = np.random.choice(1000, 100)  # the book's line
    assert np.array_equal(tb, batch_mask) and np.array_equal(xb, x[batch_mask])


def test_sample_batch_is_reproducible_with_a_seed():
    x, t = numbered(1000)
    assert np.array_equal(sample_batch(x, t, 50, 7)[1], sample_batch(x, t, 50, 7)[1])
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):
        assert np.array_equal(sample_batch(x, t, 9, a)[1], sample_batch(x, t, 9, b)[1])
    legacy = sample_batch(x, t, 50, np.random.RandomState(7))[1]
    assert np.array_equal(legacy, np.random.RandomState(7).choice(1000, 50))


def test_sample_batch_draws_with_replacement():
    x, t = numbered(3)
    xb, tb = sample_batch(x, t, 30, rng=0)
    assert xb.shape == (30, 3) and set(tb.tolist()) == {0, 1, 2}


def test_sample_batch_from_mnist(data_dir):
    (x_train, t_train), _ = load_mnist(data_dir=data_dir)
    xb, tb = sample_batch(x_train, t_train, 100, np.random.default_rng(0))
    assert xb.shape == (100, 784) and xb.dtype == np.float32 and tb.shape == (100,)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "10"])
def test_sample_batch_bad_batch_size(batch_size):
    x, t = numbered(10)
    with pytest.raises(DomainError, match=re.escape(f"got {batch_size!r}")):
        sample_batch(x, t, batch_size)


def test_sample_batch_bad_data():
    x, t = numbered(10)
    with pytest.raises(ShapeError, match="sample_batch: x has 10 samples"):
        sample_batch(x, t[:3], 2)
    with pytest.raises(ShapeError, match="first axis"):
        sample_batch(np.float64(1.0), t, 2)
    with pytest.raises(DomainError, match="0 samples"):
        sample_batch(x[:0], t[:0], 2)
