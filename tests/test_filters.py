"""The picture of a conv net's first filters, before and after training.

The command runs in this process, on 300 training and 200 test images: a conv
net evaluated on all of MNIST takes most of a minute, and what is checked here
(which arrays are drawn, where they are kept) does not depend on the data's
size. tests/test_train_command.py runs the command as a child process.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

import tinygrad_edu as tg
from models import run_folder, train_mnist
from tinygrad_edu.datasets import load_mnist

SHORT = ["--preset", "convnet", "--iters", "20", "--batch-size", "25", "--quiet"]


@pytest.fixture(scope="module")
def small_mnist():
    (x_train, t_train), (x_test, t_test) = load_mnist(progress=False)
    return (x_train[:300], t_train[:300]), (x_test[:200], t_test[:200])


@pytest.fixture
def drawn(monkeypatch, small_mnist):
    """The command on the small data set; the panels of each filters picture
    it draws, in order."""
    monkeypatch.setattr(train_mnist, "load_mnist", lambda **_: small_mnist)
    calls = []

    def recording(panels, path):
        calls.append({title: array.copy() for title, array in panels.items()})
        return plot_filters(panels, path)

    plot_filters = train_mnist.plot_filters
    monkeypatch.setattr(train_mnist, "plot_filters", recording)
    return calls


def short_run(out: Path, *options: str) -> int:
    graph = str(out / "loss_graph.dot")
    return train_mnist.main([*SHORT, "--out", str(out), "--graph", graph, *options])


def assert_the_runs_filters(panels: dict, run: Path, seed: int) -> None:
    """Before: the W1 the run started from (its seed's) and kept; after: the
    W1 in its params.npz. The two differ, so a swap cannot pass."""
    args = train_mnist.parse_args([*SHORT, "--seed", str(seed)])
    started = train_mnist.build_model(args, np.random.default_rng(seed)).params["W1"]
    before, after = panels["before training"], panels["after training"]
    assert list(panels) == ["before training", "after training"]
    assert np.array_equal(before, started)
    assert np.array_equal(before, tg.load(run / "initial_filters.npz")["W1"])
    assert np.array_equal(after, tg.load(run / "params.npz")["W1"])
    assert not np.array_equal(before, after)


def assert_a_png(path: Path, panels: int) -> None:
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert imread(path).shape == (180 * panels, 500, 4)  # 5 x 1.8 inches a panel


def test_a_convnet_run_draws_the_filters_it_started_from_and_ended_with(
    tmp_path, drawn
):
    assert short_run(tmp_path / "run", "--seed", "3") == 0
    assert len(drawn) == 1
    assert_the_runs_filters(drawn[0], tmp_path / "run", seed=3)
    swapped = dict(zip(drawn[0], reversed(list(drawn[0].values()))))
    nudged = {title: array + 1e-6 for title, array in drawn[0].items()}
    for planted in (swapped, nudged):  # the check can fail
        with pytest.raises(AssertionError):
            assert_the_runs_filters(planted, tmp_path / "run", seed=3)
    assert_a_png(tmp_path / "run" / "filters.png", panels=2)
    assert sorted(os.listdir(tmp_path / "run")) == [
        "curves.png",
        "filters.png",
        "initial_filters.npz",
        "loss_graph.dot",
        "metrics.json",
        "params.npz",
    ]


def test_an_mlp_run_keeps_and_draws_no_filters(tmp_path, drawn):
    out = tmp_path / "run"
    graph = str(out / "loss_graph.dot")
    argv = ["--iters", "20", "--quiet", "--out", str(out), "--graph", graph]
    assert train_mnist.main(argv) == 0
    assert drawn == []
    assert not (out / "filters.png").exists()
    assert not (out / "initial_filters.npz").exists()


def test_a_resumed_run_draws_the_filters_it_started_from(tmp_path, drawn, monkeypatch):
    """Interrupted (a real SIGINT) after its first checkpoint, the run can be
    drawn with --eval; resumed, its "before" panel is the run's start, not
    the checkpoint's W1."""
    save_checkpoint = run_folder.save_checkpoint
    interrupted = []

    def then_interrupt(*args):
        save_checkpoint(*args)
        if not interrupted:
            interrupted.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(run_folder, "save_checkpoint", then_interrupt)
    cut = tmp_path / "cut"
    assert short_run(cut, "--seed", "5", "--checkpoint-every", "5") == 130
    partial = tmp_path / "cut.partial"
    params, _, _, initial = run_folder.load_checkpoint(partial / "checkpoint.npz")
    assert not np.array_equal(initial["W1"], params["W1"])
    picture = tmp_path / "cut.png"
    assert train_mnist.main(["--eval", str(partial), "--filters", str(picture)]) == 0
    assert_a_png(picture, panels=2)
    assert np.array_equal(drawn.pop()["after training"], params["W1"])
    assert train_mnist.main(["--resume", str(partial), "--quiet"]) == 0
    assert len(drawn) == 1
    assert_the_runs_filters(drawn[0], cut, seed=5)
    assert np.array_equal(drawn[0]["before training"], initial["W1"])


def test_eval_draws_the_filters_of_a_saved_run(tmp_path, drawn, capsys):
    assert short_run(tmp_path / "run", "--seed", "3") == 0
    picture = tmp_path / "again.png"
    argv = ["--eval", str(tmp_path / "run"), "--filters", str(picture)]
    assert train_mnist.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"filters: {picture}"
    assert len(drawn) == 2
    assert_the_runs_filters(drawn[1], tmp_path / "run", seed=3)
    assert_a_png(picture, panels=2)


def test_eval_of_filters_refuses_what_it_cannot_draw(tmp_path, drawn, capsys):
    mlp = tmp_path / "mlp"
    graph = str(mlp / "loss_graph.dot")
    argv = ["--iters", "20", "--quiet", "--out", str(mlp), "--graph", graph]
    assert train_mnist.main(argv) == 0
    conv = tmp_path / "conv"
    assert short_run(conv) == 0
    capsys.readouterr()

    def error(*argv: str) -> str:
        assert train_mnist.main(list(argv)) == train_mnist.EXIT_USAGE
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1, lines
        return lines[0]

    assert error("--eval", str(mlp), "--filters", "f.png") == (
        f"error: --filters: {mlp} is a run of TwoLayerNet(784, 50, 10, "
        f"weight_init_std=0.01), which has no filters; only --model convnet runs do"
    )
    missing = tmp_path / "missing" / "f.png"
    assert f"--filters {missing}: the folder {missing.parent} does not exist" in error(
        "--eval", str(conv), "--filters", str(missing)
    )
    (conv / "initial_filters.npz").unlink()
    assert error("--eval", str(conv), "--filters", "f.png") == (
        f"error: --filters: {conv} does not hold the filters before training "
        f"(a run trained before runs kept them)"
    )
    assert drawn == [drawn[0]]  # only the conv run's own picture


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--filters", "f.png"], "--filters draws the filters of --eval RUN"),
        (["--eval", "r", "--filters", "f.svg"], "--filters f.svg: the file must end"),
    ],
)
def test_filters_options_that_cannot_work_are_refused_up_front(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_mnist.parse_args(argv)
    assert exit_info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_each_filter_is_scaled_min_to_max_on_its_own_and_tiled_in_order():
    filters = np.stack([np.full((1, 2, 2), 7.0), -np.arange(4.0).reshape(1, 2, 2)])
    filters = np.concatenate([filters, 100 * filters[1:]])  # three filters
    mosaic = train_mnist.filter_mosaic(filters, columns=2)
    gap = np.full(2, np.nan)
    descending = [[1.0, 2 / 3], [1 / 3, 0.0]]
    np.testing.assert_array_equal(
        mosaic,
        [
            [0.0, 0.0, np.nan, *descending[0]],
            [0.0, 0.0, np.nan, *descending[1]],
            [np.nan] * 5,
            [*descending[0], np.nan, *gap],
            [*descending[1], np.nan, *gap],
        ],
    )
    assert train_mnist.filter_mosaic(filters[:1]).shape == (2, 2)  # one column
