"""The chapter 6 experiments on the real MNIST files: each draws its figure, and
its results go where the book's do.

The runs are short (a few hundred iterations on a part of MNIST). Each check
of a result is a function that is also shown to fail on the results of a
deliberately wrong setting, so that none of them passes whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import chapter6
from models.chapter6 import final_loss, gap, subset
from models.train_mnist import blas_threads
from tinygrad_edu import optim
from tinygrad_edu.datasets import load_mnist

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(progress=False)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """As the command runs: on two shared cores, more threads wait for each other."""
    with blas_threads(1):
        yield


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG, path
    assert path.stat().st_size > 10_000, path  # axes and curves, not a blank


# -- optimizers -------------------------------------------------------------------


def assert_adaptive_methods_beat_sgd(runs, margin=0.2):
    """Book, figure 6-9: after the same batches, SGD's loss is the highest."""
    sgd = final_loss(runs["SGD"])
    for name, history in runs.items():
        if name != "SGD":
            assert final_loss(history) < sgd - margin, (name, final_loss(history), sgd)


def test_optimizers_momentum_adagrad_and_adam_end_below_sgd(mnist, tmp_path):
    data = subset(mnist, 10_000, 500)
    runs = chapter6.compare_optimizers(data, 300)
    assert list(runs) == ["SGD", "Momentum", "AdaGrad", "Adam"]
    assert all(len(h.loss) == 300 for h in runs.values())
    assert_adaptive_methods_beat_sgd(runs)
    assert_png(chapter6.plot_losses(runs, tmp_path / "o.png", "optimizers"))

    frozen = {"SGD": optim.SGD, "Adam": lambda: optim.Adam(lr=0.0)}
    broken = chapter6.compare_optimizers(data, 300, optimizers=frozen)
    with pytest.raises(AssertionError, match="Adam"):
        assert_adaptive_methods_beat_sgd(broken)


# -- weight init ------------------------------------------------------------------


def assert_histograms_as_in_the_book(activations):
    small, xavier, he = activations.values()
    for a in small:  # std 0.01: every unit says about the same thing
        assert abs(a.mean() - 0.5) < 0.02 and a.std() < 0.05, a.std()
    for a in xavier:  # Xavier: spread out, and not stuck at 0 or 1
        assert a.std() > 0.1, a.std()
        assert np.mean((a > 0.05) & (a < 0.95)) > 0.95
    spreads = [a.std() for a in he]  # He with ReLU: the spread survives
    assert min(spreads) > 0.5 * max(spreads) and min(spreads) > 0.3, spreads


def test_init_histograms_concentrate_spread_or_keep_their_spread(tmp_path):
    activations = chapter6.activation_histograms()
    assert [len(layers) for layers in activations.values()] == [5, 5, 5]
    assert_histograms_as_in_the_book(activations)
    assert_png(chapter6.plot_histograms(activations, tmp_path / "h.png"))

    wrong = dict(chapter6.HISTOGRAMS)
    wrong["He, ReLU"] = {"activation": "relu", "init": "normal", "std": 0.01}
    with pytest.raises(AssertionError):  # the spread vanishes layer by layer
        assert_histograms_as_in_the_book(chapter6.activation_histograms(wrong))
    wrong = dict(chapter6.HISTOGRAMS)
    wrong["Xavier, sigmoid"] = {"activation": "sigmoid", "init": "normal", "std": 1}
    with pytest.raises(AssertionError):  # std 1 saturates the sigmoid at 0 and 1
        assert_histograms_as_in_the_book(chapter6.activation_histograms(wrong))


def assert_he_learns_and_small_std_does_not(runs):
    """Book, figure 6-15: std 0.01 does not learn at all; He learns fastest."""
    assert final_loss(runs["std 0.01"]) > 2.2
    assert final_loss(runs["He"]) < final_loss(runs["Xavier"]) < 2.0


def test_init_on_mnist_he_learns_fastest_and_std_001_not_at_all(mnist, tmp_path):
    runs = chapter6.compare_inits(subset(mnist, 10_000, 500), 300)
    assert_he_learns_and_small_std_does_not(runs)
    assert_png(chapter6.plot_losses(runs, tmp_path / "i.png", "inits"))

    inits = dict(chapter6.INITS, He={"init": "normal", "std": 0.01})
    broken = chapter6.compare_inits(subset(mnist, 10_000, 500), 300, inits=inits)
    with pytest.raises(AssertionError):
        assert_he_learns_and_small_std_does_not(broken)


# -- Batch Normalization ------------------------------------------------------------


def assert_batch_norm_trains_faster(results, margin=0.3):
    """Book, figure 6-19: at a small weight scale only Batch Norm learns."""
    for scale, runs in results.items():
        with_bn, without = (h.epochs[-1]["train_acc"] for h in runs.values())
        assert with_bn > without + margin, (scale, with_bn, without)


def test_batch_norm_trains_a_net_with_small_weights(mnist, tmp_path):
    data = subset(mnist, 1000, 500)
    results = chapter6.compare_batch_norm(data, 100, scales=[0.01])
    assert_batch_norm_trains_faster(results)
    assert_png(chapter6.plot_batch_norm(results, tmp_path / "b.png"))

    neither = chapter6.compare_batch_norm(
        data, 100, scales=[0.01], batch_norm=(False, False)
    )
    with pytest.raises(AssertionError):
        assert_batch_norm_trains_faster(neither)


# -- overfitting ------------------------------------------------------------------


def assert_regularisation_narrows_the_gap(runs, margin=0.03):
    """Book, figures 6-20 to 6-23: 300 images are learnt by heart (training
    accuracy near 1, test far below); weight decay and Dropout narrow the gap."""
    plain = runs["no regularisation"]
    assert plain.epochs[-1]["train_acc"] > 0.95
    for label, history in runs.items():
        if label != "no regularisation":
            assert gap(history) < gap(plain) - margin, (label, gap(history))


def test_weight_decay_and_dropout_narrow_the_overfitting_gap(mnist, tmp_path):
    runs = chapter6.compare_regularisation(subset(mnist, 300, 500), 600)
    assert_regularisation_narrows_the_gap(runs)
    assert_png(chapter6.plot_accuracies(runs, tmp_path / "r.png"))

    # weight_decay=0 with the same seed is the unregularised run itself
    with pytest.raises(AssertionError, match="weight decay"):
        unregularised = runs["no regularisation"]
        assert_regularisation_narrows_the_gap(
            {"no regularisation": unregularised, "weight decay 0": unregularised}
        )


# -- the command --------------------------------------------------------------------


def test_the_command_writes_its_figure_and_a_summary(tmp_path):
    out = tmp_path / "figures" / "chapter6"  # made, parents too
    figure = out / "regularisation.png"
    result = subprocess.run(
        [sys.executable, "-m", "models.chapter6", "regularisation"]
        + ["--iterations", "6", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = result.stdout.splitlines()
    assert summary[0] == f"regularisation (6 iterations on 300 images): {figure}"
    assert [line.split()[0] for line in summary[1:]] == ["no", "weight", "dropout"]
    assert all(" gap " in line for line in summary[1:])
    assert list(out.iterdir()) == [figure]
    assert_png(figure)


def test_ctrl_c_keeps_the_finished_figures_and_says_where(tmp_path):
    out = tmp_path / "figures"
    command = [sys.executable, "-m", "models.chapter6", "all", "--out", str(out)]
    with subprocess.Popen(
        command + ["--iterations", "20"],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        for line in run.stdout:  # the first experiment's summary: its figure is out
            if line.startswith("optimizers"):
                break
        run.send_signal(signal.SIGINT)
        _, errors = run.communicate(timeout=60)
    assert run.returncode == 130
    assert errors.strip().splitlines()[-1] == (
        f"interrupted: the figures finished so far are in {out}"
    )
    assert "Traceback" not in errors
    assert_png(out / "optimizers.png")
    assert not list(out.glob(".*.tmp"))  # no half-written figure


def test_an_unknown_experiment_is_refused(capsys):
    with pytest.raises(SystemExit) as stopped:
        chapter6.main(["overfitting"])
    assert stopped.value.code == 2
    assert "invalid choice: 'overfitting'" in capsys.readouterr().err


def test_iterations_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        chapter6.main(["init", "--iterations", "0"])
    assert "--iterations" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["a file", "under a file", "read-only"])
def test_an_unusable_out_is_one_error_line_before_any_work(
    kind, tmp_path, request, capsys
):
    if kind == "read-only":
        out, fragment = request.getfixturevalue("read_only_dir"), "cannot write to"
    else:
        (tmp_path / "taken").write_text("a file")
        out = tmp_path / "taken" / ("figures" if kind == "under a file" else "")
        fragment = "cannot make the folder" if kind == "under a file" else "a file"
    code = chapter6.main(["init", "--out", str(out), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: --out {out}") and fragment in err
    assert err.count("\n") == 1
