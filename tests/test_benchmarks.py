"""The benchmark code runs and compares like with like (no timing is asserted)."""

import importlib.util
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import benchmarks.__main__ as suite
import tinygrad_edu.datasets.mnist as mnist
from benchmarks import conv_reference
from benchmarks.__main__ import (
    conv_peak_memory,
    conv_training_step,
    float32_vs_float64,
    format_table,
    full_run,
    graph_drawing,
    loading_mnist,
    main,
    matmul_limit,
    op_chain,
    peak_memory,
    pytorch_steps,
    sgd_step,
    training_step,
    with_references,
)
from benchmarks.conv_reference import BookSimpleConvNet, TightSimpleConvNet
from benchmarks.drawing import once_against_per_use, over_the_budget, render_time
from benchmarks.reference import HandDerivedTwoLayerNet, TightTwoLayerNet
from benchmarks.timing import interleaved, page_faults_interleaved
from models.simple_conv_net import SimpleConvNet
from models.two_layer_net import TwoLayerNet
from tinygrad_edu.datasets import load_mnist
from tinygrad_edu.errors import DatasetError


def test_every_side_of_the_step_benchmark_trains_the_same_network():
    rng = np.random.default_rng(0)
    x, t = rng.random((8, 784)), rng.integers(0, 10, 8)
    models = with_references(TwoLayerNet(784, 5, 10, rng=rng))
    assert list(models) == ["ours", "book", "tight"]
    for _ in range(3):
        for model in models.values():
            sgd_step(model, x, t)
    ours = models["ours"]
    for reference in (models["book"], models["tight"]):
        for key in ours.params:
            np.testing.assert_allclose(
                ours.params[key], reference.params[key], rtol=1e-12
            )
        assert ours.params["W1"] is not reference.params["W1"]  # separate copies


@pytest.fixture(scope="module")
def mnist_batch():
    (x, t), _ = load_mnist(progress=False)
    return x[:100].astype(np.float64), t[:100]


#: How close each reference's loss is to ours: the book's takes the log of
#: y + 1e-7, which moves it by about 1e-6 here.
LOSS_RTOL = {HandDerivedTwoLayerNet: 1e-5, TightTwoLayerNet: 1e-12}


def assert_the_same_step_as_ours(
    reference: type, x: np.ndarray, t: np.ndarray, loss_rtol: float
) -> None:
    """The reference's loss and gradients are our engine's, to float64 precision:
    each gradient entry to 1e-12 of itself or 1e-13 of its array's largest (a
    sum over the batch that cancels loses relative precision)."""
    ours = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(0))
    loss, grads = ours.loss_and_gradient(x, t)
    their_loss, their_grads = reference(ours.params).loss_and_gradient(x, t)
    assert their_loss == pytest.approx(loss, rel=loss_rtol, abs=0), "the loss"
    assert their_grads.keys() == grads.keys()
    for key, grad in grads.items():
        atol = 1e-13 * np.abs(grad).max()
        np.testing.assert_allclose(
            their_grads[key], grad, rtol=1e-12, atol=atol, err_msg=f"the gradient {key}"
        )


@pytest.mark.parametrize("reference", LOSS_RTOL)
def test_both_references_compute_our_step_on_real_mnist(reference, mnist_batch):
    assert_the_same_step_as_ours(reference, *mnist_batch, LOSS_RTOL[reference])


@pytest.mark.parametrize("reference", LOSS_RTOL)
@pytest.mark.parametrize("planted", ["the loss", "the gradient b1"])
def test_a_reference_with_a_planted_error_is_caught(reference, planted, mnist_batch):
    loss_rtol = LOSS_RTOL[reference]

    class Planted(reference):
        def loss_and_gradient(self, x, t):
            loss, grads = super().loss_and_gradient(x, t)
            if planted == "the loss":
                return loss * (1 + 10 * loss_rtol), grads
            b1 = grads["b1"]
            b1[np.abs(b1).argmax()] *= 1 + 1e-9  # one entry, a billionth off
            return loss, grads

    with pytest.raises(AssertionError, match=planted):
        assert_the_same_step_as_ours(Planted, *mnist_batch, loss_rtol)


@pytest.mark.parametrize(("seconds", "rounds"), [(0.0, 5), (0.4, 50)])
def test_interleaved_times_each_side_in_turn_and_fills_the_seconds(
    monkeypatch, seconds, rounds
):
    clock = [0.0]  # a clock that moves only when a side runs: 1, 3 and 4 ms
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    calls = []

    def side(name, ms):
        def call():
            calls.append(name)
            clock[0] += ms / 1000

        return call

    sides = [side("a", 1), side("b", 3), side("c", 4)]
    medians = interleaved(sides, repeats=5, warmup=2, seconds=seconds)
    assert medians == pytest.approx([0.001, 0.003, 0.004])
    # 2 warm-up rounds, then 0.4 s / 8 ms per round = 50 rounds
    assert "".join(calls) == "abc" * (2 + rounds)


def test_rows_have_the_documented_figures():
    rows = [
        training_step("float32", 10, 5, repeats=2),
        matmul_limit(10, 5, repeats=2),
        op_chain(100, repeats=3),
        peak_memory(),
        loading_mnist(None, repeats=2),  # from $TINYGRAD_EDU_DATA
    ]
    step = rows[0]
    for reference in ("book", "tight"):
        ratio = step["ours_ms"] / step[f"{reference}_ms"]
        assert step[f"ratio_{reference}"] == pytest.approx(ratio)
        assert step[f"{reference}_faults"] >= 0
    assert rows[1]["gflops"] > 0
    chain = rows[2]
    assert chain["us_per_op"] > 0
    # The three figures come from one repeat: forward and backward add up.
    total = chain["forward_us_per_op"] + chain["backward_us_per_op"]
    assert total == pytest.approx(chain["us_per_op"])
    assert rows[3]["ratio"] == pytest.approx(rows[3]["ours_kib"] / rows[3]["book_kib"])
    assert rows[4]["seconds"] > 0
    table = format_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert "float32 batch 10 hidden 5" in table[2]


def test_the_float32_row_is_the_ratio_of_our_two_dtypes():
    row = float32_vs_float64(10, 5, repeats=2)
    assert row["ratio"] == pytest.approx(row["float32_ms"] / row["float64_ms"])
    assert row["case"] == "batch 10 hidden 5"


def test_the_pytorch_rows_are_there_exactly_when_pytorch_is():
    """In a child process; it checks that both steps give the same gradients."""
    rows = pytorch_steps(repeats=2)
    if importlib.util.find_spec("torch") is None:  # as on CI: not a dependency
        assert rows == []
    else:
        assert [row["case"].split(",")[0] for row in rows] == [
            "float64 batch 100 hidden 50",
            "float64 batch 1000 hidden 50",
            "float64 batch 100 hidden 1000",
        ]
        for row in rows:
            assert row["ratio"] == pytest.approx(row["ours_ms"] / row["torch_ms"])


def test_a_pytorch_that_fails_costs_its_rows_with_a_warning_not_the_run(
    tmp_path, monkeypatch, capsys
):
    broken = tmp_path / "torch"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('this torch is broken')")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # found before any real torch
    assert pytorch_steps(repeats=2) == []
    assert "this torch is broken" in capsys.readouterr().err


def test_page_faults_are_counted_for_each_side():
    """40 MiB is always a fresh mmap: touching it makes the OS map pages in."""
    big, nothing = page_faults_interleaved([lambda: np.ones(5 << 20), lambda: None], 3)
    assert big > 0
    assert nothing < 1


ROOT = Path(__file__).resolve().parents[1]

#: Eight 1 MiB arrays freed together leave 8 MiB at the top of the heap: glibc
#: gives it back by default, and the next round faults it in again.
_HEAP_ROUNDS = """
import sys, numpy as np
from benchmarks.timing import keep_freed_memory, page_faults_interleaved
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def heap_round():
    arrays = [np.ones(1 << 17) for _ in range(8)]
    del arrays
for _ in range(3):
    heap_round()
print(page_faults_interleaved([heap_round])[0])
"""


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc's malloc only")
def test_with_freed_memory_kept_the_heap_stops_faulting():
    def faults(mode: str) -> float:
        # A fresh process, so that "default" is glibc's default and this
        # test process's allocator is left alone.
        run = [sys.executable, "-c", _HEAP_ROUNDS, mode]
        done = subprocess.run(run, capture_output=True, check=True, cwd=ROOT)
        return float(done.stdout)

    assert faults("default") > 1000  # ~2,000 pages of 4 KiB per round
    assert faults("keep") < 1


def test_the_full_runs_in_lockstep_train_the_same_network_on_real_mnist():
    (x_train, t_train), (x_test, t_test) = load_mnist(progress=False)
    data = ((x_train.astype(np.float64), t_train), (x_test.astype(np.float64), t_test))
    row = full_run(data, iters=300)
    assert row["ours_test_acc"] > 0.3  # it learned, and all learned alike
    for reference in ("book", "tight"):
        assert row[f"ratio_{reference}"] == pytest.approx(
            row["ours_s"] / row[f"{reference}_s"]
        )
        assert 0 < row[f"median_iteration_ratio_{reference}"] < float("inf")
        accuracy = row[f"{reference}_test_acc"]
        assert row["ours_test_acc"] == pytest.approx(accuracy, abs=1e-3)


def test_without_mnist_the_suite_stops_before_it_times_anything(tmp_path, monkeypatch):
    def timed(*args, **kwargs):
        raise AssertionError("a step was timed before the data was there")

    monkeypatch.setattr(suite, "training_step", timed)
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", ("http://127.0.0.1:9/",))  # refused
    with pytest.raises(DatasetError, match="could not download"):
        main(["--quick", "--data-dir", str(tmp_path)])


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed"
)
def test_the_drawing_rows_measure_the_graphs_they_name():
    weight, constant = render_time(10, "weight"), render_time(10, "constant")
    # 20 ops, their 20 results and x; the shared tensor beside each of 10 muls.
    assert weight["nodes"] == constant["nodes"] == 41 + 10
    assert weight["case"] == "20 ops, a shared weight"
    assert weight["dot_us_per_node"] == pytest.approx(
        weight["dot_s"] / weight["nodes"] * 1e6
    )
    assert render_time(10, "weight", once=True)["nodes"] == 41 + 1
    row = once_against_per_use(10)
    assert row["ratio"] == pytest.approx(row["once_s"] / row["per_use_s"])
    refused, collapsed = over_the_budget()
    assert refused["seconds_to_the_error"] > 0
    assert collapsed["nodes"] == 100 + 100 + 2  # 100 boxes, w beside each, h0, h


def test_without_dot_the_suite_goes_on_without_the_drawing_rows(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot anywhere: the real situation
    assert graph_drawing(quick=True) == []
    assert "Graphviz's dot is not installed" in capsys.readouterr().err


# -- convolution (issue 23): SimpleConvNet against the book's hand-written layers


def assert_the_same_conv_step_as_ours(reference, x, t, dtype="float64"):
    """The hand-written net's loss and gradients are our SimpleConvNet's: the
    loss to the book's + 1e-7 in the log, each gradient entry to 1e-12 (float64)
    of itself or of its array's largest."""
    rng = np.random.default_rng(0)
    ours = SimpleConvNet(weight_init_std="he", dtype=dtype, rng=rng)
    loss, grads = ours.loss_and_gradient(x.astype(dtype), t)
    theirs = reference(ours.params)
    their_loss, their_grads = theirs.loss_and_gradient(x.astype(dtype), t)
    rtol = 1e-12 if dtype == "float64" else 1e-4
    assert their_loss == pytest.approx(loss, rel=max(rtol, 1e-5), abs=0), "the loss"
    assert their_grads.keys() == grads.keys()
    for key, grad in grads.items():
        assert their_grads[key].dtype == grad.dtype == dtype, key
        np.testing.assert_allclose(
            their_grads[key],
            grad,
            rtol=rtol,
            atol=rtol * np.abs(grad).max(),
            err_msg=f"the gradient {key}",
        )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reference", [BookSimpleConvNet, TightSimpleConvNet])
def test_the_conv_references_compute_our_step_on_real_mnist(
    reference, dtype, mnist_batch
):
    assert_the_same_conv_step_as_ours(reference, *mnist_batch, dtype)


@pytest.mark.parametrize("planted", ["the gradient W1", "the gradient b2"])
def test_a_conv_reference_with_a_planted_error_is_caught(planted, mnist_batch):
    key = planted.split()[-1]

    class Planted(BookSimpleConvNet):
        def loss_and_gradient(self, x, t):
            loss, grads = super().loss_and_gradient(x, t)
            g = grads[key]  # one entry, a billionth off
            g[np.unravel_index(np.abs(g).argmax(), g.shape)] *= 1 + 1e-9
            return loss, grads

    with pytest.raises(AssertionError, match=planted):
        assert_the_same_conv_step_as_ours(Planted, *mnist_batch)


def test_the_book_im2col_and_col2im_are_adjoint_with_overlapping_windows():
    """<im2col(x), c> = <x, col2im(c)>: the references' backward is im2col's
    transpose, stride and padding included."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    for stride, pad in ((1, 0), (2, 1), (3, 2)):
        cols = conv_reference.im2col(x, 3, 3, stride, pad)
        c = rng.standard_normal(cols.shape)
        back = conv_reference.col2im(c, x.shape, 3, 3, stride, pad)
        assert np.sum(cols * c) == pytest.approx(np.sum(x * back), rel=1e-12)


def test_the_conv_rows_have_the_documented_figures():
    step = conv_training_step("float32", 4, repeats=2, seconds=0.0)
    memory = conv_peak_memory("float64", 4)
    for reference in ("book", "tight"):
        ratio = step["ours_ms"] / step[f"{reference}_ms"]
        assert step[f"ratio_{reference}"] == pytest.approx(ratio)
        mib = memory["ours_mib"] / memory[f"{reference}_mib"]
        assert memory[f"ratio_{reference}"] == pytest.approx(mib)
    assert step["case"] == "float32 batch 4, 1 BLAS thread"
