"""The benchmark code runs and compares like with like (no timing is asserted)."""

import numpy as np
import pytest

from benchmarks.__main__ import (
    format_table,
    full_run,
    keep_freed_memory,
    matmul_limit,
    op_chain,
    page_faults_per_call,
    peak_memory,
    sgd_step,
    training_step,
)
from benchmarks.reference import HandDerivedTwoLayerNet
from models.two_layer_net import TwoLayerNet
from tinygrad_edu.datasets import load_mnist


def test_both_sides_of_the_step_benchmark_train_the_same_network():
    rng = np.random.default_rng(0)
    x, t = rng.random((8, 784)), rng.integers(0, 10, 8)
    ours = TwoLayerNet(784, 5, 10, rng=rng)
    hand = HandDerivedTwoLayerNet(ours.params)
    for _ in range(3):
        sgd_step(ours, x, t)
        sgd_step(hand, x, t)
    for key in ours.params:
        np.testing.assert_allclose(ours.params[key], hand.params[key], rtol=1e-12)
    assert ours.params["W1"] is not hand.params["W1"]  # separate copies


def test_rows_have_the_documented_figures():
    rows = [
        training_step("float32", 10, 5, repeats=2),
        matmul_limit(10, 5, repeats=2),
        op_chain(100, repeats=3),
        peak_memory(),
    ]
    assert rows[0]["ratio"] == rows[0]["ours_ms"] / rows[0]["numpy_ms"]
    assert rows[1]["gflops"] > 0
    chain = rows[2]
    assert chain["us_per_op"] > 0
    # The three figures come from one repeat: forward and backward add up.
    total = chain["forward_us_per_op"] + chain["backward_us_per_op"]
    assert total == pytest.approx(chain["us_per_op"])
    assert rows[3]["ratio"] == rows[3]["ours_kib"] / rows[3]["numpy_kib"]
    table = format_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert "float32 batch 10 hidden 5" in table[2]


def test_page_faults_are_counted():
    """40 MiB is always a fresh mmap: touching it makes the OS map pages in."""
    assert page_faults_per_call(lambda: np.ones(5 << 20), calls=3) > 0
    assert page_faults_per_call(lambda: None) < 1


def test_with_freed_memory_kept_a_repeated_allocation_stops_faulting():
    assert keep_freed_memory()  # Linux with glibc, as on CI
    allocate = lambda: np.ones(1 << 17)  # noqa: E731 - 1 MiB, mmap by default
    allocate()  # the first one maps the heap's pages in
    assert page_faults_per_call(allocate) < 1


def test_the_full_runs_in_lockstep_train_the_same_network_on_real_mnist():
    (x_train, t_train), (x_test, t_test) = load_mnist(progress=False)
    data = ((x_train.astype(np.float64), t_train), (x_test.astype(np.float64), t_test))
    row = full_run(data, iters=300)
    assert row["ours_test_acc"] == row["numpy_test_acc"] > 0.3  # learned, and alike
    assert row["ratio"] == row["ours_s"] / row["numpy_s"]
    assert row["ours_s"] > 0 and row["numpy_s"] > 0  # evaluation time taken out
