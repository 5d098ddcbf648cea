"""save/load: round trips, exact file names, atomic writes, refusing pickles."""

import os
import pickle

import numpy as np
import pytest

from tinygrad_edu import DomainError, DTypeError, Tensor, nn
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
