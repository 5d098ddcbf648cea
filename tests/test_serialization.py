"""save/load: round trips, exact file names, atomic writes, refusing pickles,
unusable targets (a real read-only and a real full file system) and bombs."""

import errno
import io
import os
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from tinygrad_edu import DomainError, DTypeError, FileError, Tensor, nn
from tinygrad_edu.serialization import load, save


def test_round_trip_keeps_names_dtypes_shapes_and_values(tmp_path):
    state = {
        "W": np.random.default_rng(0).standard_normal((3, 4)),
        "b32": np.arange(4, dtype=np.float32),
        "step": np.array(7),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 2)),
        "fc1.weight": np.ones((2, 2), dtype=np.float16),
    }
    save(state, tmp_path / "state.npz")
    loaded = load(tmp_path / "state.npz")
    assert type(loaded) is dict
    assert list(loaded) == list(state)
    for name, array in state.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array)


def test_tensors_are_saved_as_their_arrays(tmp_path):
    path = str(tmp_path / "t.npz")
    save({"x": Tensor([1.0, 2.0], requires_grad=True)}, path)
    loaded = load(path)
    assert type(loaded["x"]) is np.ndarray
    np.testing.assert_array_equal(loaded["x"], [1.0, 2.0])


def test_a_model_predicts_identically_after_loading_into_a_fresh_one(tmp_path):
    def make(seed):
        return nn.Sequential(
            nn.Linear(4, 8, rng=seed, dtype=np.float32),
            nn.ReLU(),
            nn.Linear(8, 3, rng=seed + 1, dtype=np.float32),
        )

    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    trained, fresh = make(0), make(10)
    trained[0].bias.data[:] = 0.25
    assert not np.array_equal(trained(x).data, fresh(x).data)
    save(trained.state_dict(), tmp_path / "model.npz")
    fresh.load_state_dict(load(tmp_path / "model.npz"))
    np.testing.assert_array_equal(fresh(x).data, trained(x).data)
    assert fresh[0].weight.dtype == np.float32


def test_the_path_is_used_exactly_as_given(tmp_path):
    save({"a": np.ones(1)}, tmp_path / "weights")  # np.savez would add .npz
    save({"a": np.ones(1)}, str(tmp_path / "w.params"))
    assert sorted(os.listdir(tmp_path)) == ["w.params", "weights"]
    np.testing.assert_array_equal(load(tmp_path / "weights")["a"], [1.0])


def test_files_are_ordinary_npz_both_ways(tmp_path):
    save({"a": np.arange(3)}, tmp_path / "ours.npz")
    with np.load(tmp_path / "ours.npz", allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["a"], [0, 1, 2])
    np.savez(tmp_path / "theirs.npz", b=np.eye(2))
    np.testing.assert_array_equal(load(tmp_path / "theirs.npz")["b"], np.eye(2))


def test_names_that_np_savez_cannot_take_are_fine(tmp_path):
    state = {"file": np.ones(2), "allow_pickle": np.zeros(2), "a/b": np.ones(1)}
    save(state, tmp_path / "odd.npz")
    assert list(load(tmp_path / "odd.npz")) == ["file", "allow_pickle", "a/b"]


def test_an_empty_state_dict_round_trips(tmp_path):
    save({}, tmp_path / "empty.npz")
    assert load(tmp_path / "empty.npz") == {}


# ------------------------------------------------------------ atomic writes


def test_no_temporary_file_is_left_behind(tmp_path):
    for _ in range(2):  # also when replacing an existing file
        save({"a": np.ones(3)}, tmp_path / "p.npz")
    assert os.listdir(tmp_path) == ["p.npz"]


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    save({"a": np.ones(3)}, path)
    before = path.read_bytes()
    written = []

    def disk_full_on_second_array(file, array, **kwargs):
        if written:
            raise OSError(28, "No space left on device")
        written.append(array)
        original(file, array, **kwargs)

    original = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", disk_full_on_second_array)
    with pytest.raises(OSError, match="No space left"):
        save({"a": np.zeros(3), "b": np.zeros(3)}, path)
    assert written  # the failure came half-way through the new file
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.npz"]


def test_bad_values_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "p.npz"
    save({"a": np.ones(1)}, path)
    before = path.read_bytes()
    with pytest.raises(DTypeError, match=r"'objects' has dtype object.*numeric"):
        save({"a": np.ones(1), "objects": np.array([{}], dtype=object)}, path)
    with pytest.raises(DTypeError, match="'name' has dtype <U5"):
        save({"name": "hello"}, path)
    with pytest.raises(DTypeError, match="non-empty str, got 3"):
        save({3: np.ones(1)}, path)
    with pytest.raises(DTypeError, match=r"holds a NUL character"):
        save({"a\x00b": np.ones(1)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["p.npz"]


def test_saving_a_module_itself_suggests_its_state_dict(tmp_path):
    with pytest.raises(DTypeError, match=r"got Linear \(call .state_dict\(\) on it\)"):
        save(nn.Linear(2, 2), tmp_path / "m.npz")


def test_saving_into_a_missing_directory_names_it(tmp_path):
    missing = tmp_path / "runs" / "mnist"
    with pytest.raises(FileNotFoundError, match=r"runs.*mnist.*does not exist"):
        save({"a": np.ones(1)}, missing / "p.npz")


# ------------------------------------------------------------ loading safely


def test_an_npz_holding_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, a=np.array([{}], dtype=object))
    with pytest.raises(DTypeError, match=r"evil.npz.*pickled Python objects.*'a'"):
        load(path)


def test_a_plain_pickle_is_refused_without_being_unpickled(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"W": np.ones(2)}))
    with pytest.raises(DomainError, match=r"model.pkl.*is not an .npz archive"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"W,b\n1,2\n", b"PK\x03\x04truncated"])
def test_files_that_are_not_npz_archives_are_named(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DomainError, match=r"bad\.npz"):
        load(path)


def test_a_truncated_archive_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "cut.npz"
    save({"a": np.arange(1000.0)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DomainError, match=r"cut\.npz"):
        load(path)


def test_a_single_npy_array_is_not_a_state_dict(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.ones(2))
    with pytest.raises(DomainError, match=r"one\.npy.*single \.npy array"):
        load(path)


def test_a_missing_file_raises_file_not_found_with_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.npz"):
        load(tmp_path / "nowhere.npz")


# ------------------------------------------------------------ targets save cannot use


def test_an_empty_path_or_a_directory_is_refused(tmp_path):
    for path, fragment in [("", "'' is empty"), (tmp_path, "is a directory")]:
        with pytest.raises(FileError, match=rf"^save: the path .*{fragment}"):
            save({"a": np.ones(1)}, path)
    with pytest.raises(DTypeError, match=r"^save: path must be a str or Path"):
        save({"a": np.ones(1)}, 123)
    assert os.listdir(tmp_path) == []


def test_a_read_only_folder_is_a_file_error(read_only_dir):
    with pytest.raises(FileError, match=r"^save: cannot write .*(read-only|permiss)"):
        save({"a": np.ones(1)}, read_only_dir / "p.npz")
    assert os.listdir(read_only_dir) == []


def test_a_full_disk_is_a_file_error_and_leaves_nothing(full_disk):
    with pytest.raises(FileError, match=r"^save: cannot write .*disk is full") as e:
        save({"a": np.ones(100_000)}, full_disk / "p.npz")  # 800 kB on 64 kB
    assert e.value.errno == errno.ENOSPC
    assert os.listdir(full_disk) == []


# ------------------------------------------------------------ bombs


def npy_header(shape, dtype="<f8"):
    """The bytes np.save writes before the data of an array of this shape."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def peak_traced_bytes(call):
    """The peak of Python and NumPy allocations while call() runs."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_header_declaring_1_gib_in_a_1_mb_file_allocates_nothing(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("W.npy", npy_header((1 << 27,)) + bytes(1 << 20))
    assert path.stat().st_size < 1.1e6

    def refused():
        with pytest.raises(DomainError, match=r"declares 1073741824 bytes.*holds"):
            load(path)

    assert peak_traced_bytes(refused) < 4 << 20  # far below the 1 GiB declared


def test_a_zip_entry_claiming_more_than_it_occupies_is_refused(tmp_path):
    """A forged central directory: the member says 1 GiB, the file has 1 MB."""
    path = tmp_path / "forged.npz"
    data = npy_header((1 << 27,)) + bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("W.npy", data)
    raw = bytearray(path.read_bytes())
    declared = struct.pack("<I", len(data))
    forged = struct.pack("<I", len(npy_header((1 << 27,))) + (1 << 30))
    central = raw.rindex(b"PK\x01\x02")  # the central directory's file_size field
    assert raw[central + 24 : central + 28] == declared
    raw[central + 24 : central + 28] = forged
    path.write_bytes(bytes(raw))

    def refused():
        with pytest.raises(DomainError, match=r"occupies 1048704 in the file"):
            load(path)

    assert peak_traced_bytes(refused) < 4 << 20


def test_a_real_deflate_bomb_is_held_to_max_bytes(tmp_path):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, W=np.zeros(1 << 23))  # 64 MiB of zeros, ~65 kB file
    assert path.stat().st_size < 200_000

    def refused():
        with pytest.raises(FileError, match=r"at least 67108864 bytes.*max_bytes"):
            load(path, max_bytes=1 << 20)

    assert peak_traced_bytes(refused) < 4 << 20
    assert load(path)["W"].shape == (1 << 23,)  # under the default 1 GiB: read


def test_max_bytes_must_be_a_count(tmp_path):
    save({"a": np.ones(2)}, tmp_path / "a.npz")
    for wrong in ("1GB", -1, 1.5, True):
        with pytest.raises(DTypeError, match=r"^load: max_bytes must be a number"):
            load(tmp_path / "a.npz", max_bytes=wrong)
    assert load(tmp_path / "a.npz", max_bytes=16)["a"].shape == (2,)
    with pytest.raises(FileError, match="declares at least 16 bytes"):
        load(tmp_path / "a.npz", max_bytes=15)
