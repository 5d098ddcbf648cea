"""The training command as a user runs it: a real child process, real signals,
real MNIST files, real read-only and full file systems where the tests run as
root (tests/conftest.py).

Each run is small (a few hundred iterations of a narrow net) so that the file
stays at a few seconds per test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
from models import train_mnist
from tinygrad_edu import viz
from tinygrad_edu.datasets import load_mnist

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--hidden", "16", "--iters", "300", "--checkpoint-every", "100"]
RUN_SET = ["curves.png", "loss_graph.dot", "metrics.json", "params.npz"]


def environment(**changes: str) -> dict[str, str]:
    """This process's environment, with the repository importable from any cwd."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **changes}
    env.pop("COLUMNS", None)
    return env


def command(*argv: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "models.train_mnist", *argv],
        cwd=cwd,
        env=env or environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(*argv: str, cwd: Path, env: dict | None = None):
    """Run the command to its end; (exit code, stdout, stderr)."""
    child = command(*argv, cwd=cwd, env=env)
    out, err = child.communicate(timeout=600)
    return child.returncode, out, err


def strict_json(path: Path) -> dict:
    """The file as JSON, refusing NaN and Infinity as a strict parser does."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{path} holds {constant}: not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# -- run folders ------------------------------------------------------------------


def test_each_run_gets_its_own_folder_named_at_start_and_end(tmp_path):
    argv = [*SMALL, "--graph", "g.dot", "--iters", "50"]
    code, out, err = finished(*argv, cwd=tmp_path)
    assert code == 0, err
    first = tmp_path / "runs" / "mnist" / "1"
    params = (first / "params.npz").read_bytes()
    lines = out.splitlines()
    assert lines[0] == "run folder: runs/mnist/1 (working in runs/mnist/1.partial)"
    assert lines[-1] == "run folder: runs/mnist/1"
    code, out, err = finished(*argv, "--seed", "1", cwd=tmp_path)
    assert code == 0, err
    assert out.splitlines()[-1] == "run folder: runs/mnist/2"
    assert (first / "params.npz").read_bytes() == params  # the first run is intact
    assert sorted(os.listdir(tmp_path / "runs" / "mnist")) == ["1", "2"]
    assert sorted(os.listdir(first)) == ["curves.png", "metrics.json", "params.npz"]


def test_an_out_holding_a_run_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "best"
    argv = [*SMALL, "--iters", "50", "--out", str(out), "--graph", str(out / "g.dot")]
    assert finished(*argv, cwd=tmp_path)[0] == 0
    before = (out / "params.npz").read_bytes()
    # An empty data folder without downloads: had the data been read first,
    # the error would be about MNIST (exit 1), not about --out.
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = environment(TINYGRAD_EDU_DATA=str(empty))
    again = [*argv, "--seed", "1"]
    code, _, err = finished(*again, "--no-download", cwd=tmp_path, env=env)
    assert code == 2
    assert one_line_error(err) == (
        f"error: --out {out} already holds a run; give another --out, or add "
        f"--overwrite to replace it once the new run has finished"
    )
    assert (out / "params.npz").read_bytes() == before
    code, _, err = finished(*again, "--overwrite", cwd=tmp_path)
    assert code == 0, err
    assert (out / "params.npz").read_bytes() != before
    assert sorted(os.listdir(tmp_path)) == ["best", "no-data"]  # nothing aside


def unusable_outs(tmp_path: Path, kind: str, request) -> tuple[Path, str]:
    if kind == "a file":
        (tmp_path / "taken").write_text("a file")
        return tmp_path / "taken", "is a file, not a folder"
    if kind == "under a file":
        (tmp_path / "taken").write_text("a file")
        return tmp_path / "taken" / "run", "taken is a file, not a folder"
    if kind == "read-only":
        folder = request.getfixturevalue("read_only_dir")
        return folder / "run", "cannot write to"
    if kind == "a full disk":
        folder = request.getfixturevalue("full_disk")
        return folder / "run", "MB free on the disk of"
    folder = tmp_path / "things"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    return folder, "is a folder of other files"


@pytest.mark.parametrize(
    "kind", ["a file", "under a file", "read-only", "a full disk", "other files"]
)
def test_an_unusable_out_stops_before_the_data_is_loaded(tmp_path, kind, request):
    out, fragment = unusable_outs(tmp_path, kind, request)
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = environment(TINYGRAD_EDU_DATA=str(empty))
    code, _, err = finished(
        *SMALL, "--out", str(out), "--no-download", cwd=tmp_path, env=env
    )
    assert code == 2, err
    assert fragment in one_line_error(err)
    assert not out.with_name(out.name + ".partial").exists()


# -- interruption and resume -----------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "optimizer"), [(signal.SIGINT, "adam"), (signal.SIGTERM, "momentum")]
)
def test_an_interrupted_run_resumes_to_the_same_bits(tmp_path, stop, optimizer):
    """Ctrl-C (or SIGTERM) mid-run, then --resume: the parameters equal those
    of the same run left alone, bit for bit."""
    argv = [*SMALL, "--iters", "700", "--optimizer", optimizer, "--seed", "7"]
    argv += ["--graph", "g.dot", "--quiet"]
    code, _, err = finished(*argv, "--out", "whole", cwd=tmp_path)
    assert code == 0, err

    child = command(*argv, "--out", "cut", cwd=tmp_path)
    checkpoint = tmp_path / "cut.partial" / "checkpoint.npz"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and child.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    child.send_signal(stop)
    _, err = child.communicate(timeout=300)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    done = int(err.split("interrupted at iteration ")[1].split(";")[0])
    assert 100 <= done < 700  # after the first checkpoint, before the end
    assert err.strip() == (
        f"interrupted at iteration {done}; saved to cut.partial/checkpoint.npz; "
        f"resume with: python -m models.train_mnist --resume cut.partial"
    )
    assert not (tmp_path / "cut").exists()
    _, _, meta, _ = train_mnist.run_folder.load_checkpoint(checkpoint)
    assert meta["iteration"] == done and len(meta["history"]["loss"]) == done

    (tmp_path / "cut").mkdir()  # made meanwhile: resuming must not replace it
    (tmp_path / "cut" / "mine.txt").write_text("keep")
    code, _, err = finished("--resume", "cut.partial", "--quiet", cwd=tmp_path)
    assert code == 2 and "cut exists, and the resumed run would end there" in err
    assert (tmp_path / "cut" / "mine.txt").read_text() == "keep"
    (tmp_path / "cut" / "mine.txt").unlink()
    (tmp_path / "cut").rmdir()
    code, _, err = finished("--resume", "cut.partial", "--quiet", cwd=tmp_path)
    assert code == 0, err
    assert not (tmp_path / "cut.partial").exists()
    whole, cut = (
        tg.load(tmp_path / "whole" / "params.npz"),
        tg.load(tmp_path / "cut" / "params.npz"),
    )
    assert whole.keys() == cut.keys()
    for name in whole:
        assert whole[name].tobytes() == cut[name].tobytes(), name
    whole_metrics = strict_json(tmp_path / "whole" / "metrics.json")
    cut_metrics = strict_json(tmp_path / "cut" / "metrics.json")
    assert cut_metrics["loss"] == whole_metrics["loss"]
    assert [r["test_acc"] for r in cut_metrics["epochs"]] == [
        r["test_acc"] for r in whole_metrics["epochs"]
    ]


def test_a_resume_without_the_state_would_differ(tmp_path):
    """The comparison above can fail: a run restarted from the checkpoint's
    parameters alone (new optimizer state, new random stream) ends elsewhere."""
    argv = [*SMALL, "--optimizer", "adam", "--seed", "7", "--quiet"]
    assert finished(*argv, "--out", "whole", "--graph", "g.dot", cwd=tmp_path)[0] == 0
    child = command(*argv, "--out", "cut", "--graph", "g.dot", cwd=tmp_path)
    checkpoint = tmp_path / "cut.partial" / "checkpoint.npz"
    while not checkpoint.exists() and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=300)
    params, _, meta, _ = train_mnist.run_folder.load_checkpoint(checkpoint)
    args = train_mnist.parse_args([*argv])
    rng = np.random.default_rng(7)
    model = train_mnist.build_model(args, rng)
    for name, array in model.params.items():
        array[...] = params[name]
    data = load_mnist(progress=False)
    history = train_mnist.History(loss=meta["history"]["loss"])
    train_mnist.train(
        model,
        train_mnist.build_optimizer(args),  # Adam's m and v start again at 0
        data,
        iters=300,
        batch_size=100,
        rng=rng,
        progress=False,
        history=history,
    )
    whole = tg.load(tmp_path / "whole" / "params.npz")
    assert any(not np.array_equal(model.params[k], whole[k]) for k in whole)


def test_resume_keeps_the_runs_configuration(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        train_mnist.parse_args(["--resume", "x.partial", "--lr", "0.5"])
    assert exit_info.value.code == 2
    code, _, err = finished("--resume", "nowhere", cwd=tmp_path)
    assert code == 2
    assert "nowhere is not an interrupted run" in one_line_error(err)


# -- divergence --------------------------------------------------------------------


def test_a_diverging_run_stops_with_exit_3_and_keeps_the_last_finite_checkpoint(
    tmp_path,
):
    argv = ["--lr", "1e9", "--iters", "50", "--checkpoint-every", "1", "--quiet"]
    code, _, err = finished(*argv, "--out", "run", cwd=tmp_path)
    assert code == 3
    assert "Traceback" not in err
    message = one_line_error(err)
    assert message.startswith("error: training diverged at iteration 2: the loss ")
    assert "more than 100 times the first iteration's 2.3" in message
    assert "--lr 1e+08" in message
    assert "The last finite checkpoint (iteration 1) is kept in run.partial" in message
    assert not (tmp_path / "run").exists()
    params, _, meta, _ = train_mnist.run_folder.load_checkpoint(
        tmp_path / "run.partial" / "checkpoint.npz"
    )
    assert meta["iteration"] == 1
    assert all(np.isfinite(array).all() for array in params.values())
    metrics = strict_json(tmp_path / "run.partial" / "metrics.json")
    assert metrics["diverged"]["iteration"] == 2 and len(metrics["loss"]) == 2


def test_a_divergence_of_the_weight_decay_names_the_decay(tmp_path):
    # lr 0.1 x decay 30: each step takes 3 times every weight from it.
    argv = ["--weight-decay", "30", "--iters", "50", "--quiet", "--out", "run"]
    code, _, err = finished(*argv, cwd=tmp_path)
    assert code == 3
    message = one_line_error(err)
    assert "The weight decay 30 at learning rate 0.1 is the likely cause" in message
    assert "--weight-decay 1." in message and "--lr" not in message


def test_nan_and_inf_losses_give_strict_json(tmp_path):
    argv = ["--optimizer", "momentum", "--lr", "1e307", "--iters", "300", "--quiet"]
    code, _, err = finished(*argv, "--out", "run", cwd=tmp_path)
    assert code == 3
    message = one_line_error(err)
    assert "diverged at iteration 2: the loss is inf" in message
    assert "No checkpoint was written before it (every 1000 iterations)" in message
    metrics = strict_json(tmp_path / "run.partial" / "metrics.json")
    assert metrics["loss"][-1] is None  # the non-finite loss, as JSON's null
    # Its folder holds no checkpoint: it cannot be resumed, and the same --out
    # says so (not "continue it with --resume") and is taken with --overwrite.
    code, _, err = finished("--iters", "2", "--quiet", "--out", "run", cwd=tmp_path)
    assert code == 2
    assert "stopped before its first checkpoint" in one_line_error(err)
    assert "--overwrite" in err and "--resume" not in err
    argv = ["--iters", "2", "--quiet", "--out", "run", "--overwrite"]
    assert finished(*argv, cwd=tmp_path)[0] == 0
    assert "diverged" not in strict_json(tmp_path / "run" / "metrics.json")
    assert not (tmp_path / "run.partial").exists()


# -- evaluation ----------------------------------------------------------------------


def test_evaluating_a_saved_run(tmp_path):
    argv = [*SMALL, "--out", "run", "--graph", "run/g.dot", "--quiet"]
    assert finished(*argv, cwd=tmp_path)[0] == 0
    code, _, err = finished(
        "--eval", "run", "--confusion", "missing/c.png", cwd=tmp_path
    )
    assert code == 2 and "--confusion missing/c.png: the folder missing" in err
    code, out, err = finished(
        "--eval", "run", "--confusion", "confusion.png", cwd=tmp_path
    )
    assert code == 0, err
    final = strict_json(tmp_path / "run" / "metrics.json")["epochs"][-1]
    lines = out.splitlines()
    assert lines[0].startswith("run: run (TwoLayerNet(784, 16, 10")
    assert lines[1].startswith(f"test accuracy {final['test_acc']:.4f}, loss ")
    assert lines[1].endswith("(10000 images)")
    per_class = lines[2].removeprefix("accuracy per class: ").split(", ")
    assert [entry.split(":")[0] for entry in per_class] == [str(d) for d in range(10)]
    accuracies = [float(entry.split(": ")[1]) for entry in per_class]
    _, (_, t_test) = load_mnist(progress=False)
    counts = np.bincount(t_test)
    assert np.isclose(np.dot(accuracies, counts) / counts.sum(), final["test_acc"])
    assert lines[3] == "confusion matrix: confusion.png"
    png = (tmp_path / "confusion.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_evaluating_an_interrupted_run(tmp_path):
    child = command(*SMALL, "--iters", "5000", "--out", "run", cwd=tmp_path)
    while not (tmp_path / "run.partial" / "checkpoint.npz").exists():
        assert child.poll() is None
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=300)
    code, out, err = finished("--eval", "run.partial", cwd=tmp_path)
    assert code == 0, err
    assert out.splitlines()[1].startswith("test accuracy 0.")


# -- arguments and views ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--batch-size", "60001"], "larger than the 60000 MNIST training images"),
        (["--seed", "-1"], "--seed: must be zero or a positive integer, got -1"),
        (["--epochs", "x"], "--epochs: must be a positive integer, got 'x'"),
        (["--lr", "fast"], "--lr: must be a positive number, got 'fast'"),
        (["--data-dir", "/nowhere/mnist"], "(/nowhere does not exist); check the path"),
        (["--data-dir", __file__], "is a file; give the folder that holds the four"),
        (["--confusion", "c.png"], "--confusion draws the confusion matrix of --eval"),
        (["--eval", "r", "--iters", "5"], "--iters cannot be given with it"),
    ],
)
def test_arguments_that_cannot_work_are_refused_up_front(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_mnist.parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and "positive_int" not in err and "Traceback" not in err


def test_a_missing_data_dir_without_downloads_is_refused(tmp_path):
    code, _, err = finished(
        "--data-dir", str(tmp_path / "mnsit"), "--no-download", cwd=tmp_path
    )
    assert code == 2
    assert "does not exist, and nothing can be downloaded into it" in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_fewer_iterations_than_an_epoch_are_not_called_epoch_1(tmp_path):
    code, out, err = finished(
        *SMALL, "--iters", "50", "--out", "run", "--graph", "g.dot", cwd=tmp_path
    )
    assert code == 0, err
    epochs = strict_json(tmp_path / "run" / "metrics.json")["epochs"]
    assert [(row["iteration"], row["epoch"]) for row in epochs] == [
        (0, 0.0),
        (50, 0.0833),
    ]
    assert "epoch 0.0833  iteration     50" in err + out
    assert "epoch      1" not in err + out


def test_the_graph_views_of_viz_are_options(tmp_path):
    argv = [*SMALL, "--iters", "20", "--out", "run", "--quiet"]
    argv += ["--graph", "run/g.dot", "--graph-color-by-grad"]
    argv += ["--graph-values", "--graph-grads"]
    code, _, err = finished(*argv, cwd=tmp_path)
    assert code == 0, err
    # The same views drawn here from the saved parameters and the same batch.
    args = train_mnist.parse_args(argv)
    model = train_mnist.build_model(args, np.random.default_rng(0))
    for name, array in tg.load(tmp_path / "run" / "params.npz").items():
        model.params[name][...] = array
    _, (x_test, t_test) = load_mnist(progress=False)
    loss, _ = model.loss_graph(x_test[:100].astype(np.float64), t_test[:100])
    loss.backward(retain_graph=True)
    expected = viz.to_dot(loss, color_by_grad=True, show_values=True, show_grads=True)
    drawn = (tmp_path / "run" / "g.dot").read_text(encoding="utf-8")
    assert drawn == expected.source
    plain = viz.to_dot(loss).source
    assert drawn != plain  # the options changed the picture


def test_metrics_record_the_data_folder_actually_read(tmp_path):
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    for name in tg.datasets.MNIST_FILES:
        (root / "mnist" / name).symlink_to(Path(os.environ["TINYGRAD_EDU_DATA"]) / name)
    env = environment(TINYGRAD_EDU_DATA=str(root))  # a data root, as torchvision's
    code, _, err = finished(
        *SMALL,
        "--iters",
        "5",
        "--out",
        "run",
        "--graph",
        "g.dot",
        cwd=tmp_path,
        env=env,
    )
    assert code == 0, err
    config = strict_json(tmp_path / "run" / "metrics.json")["config"]
    assert config["data_dir"] == str(root / "mnist")


def test_the_threads_option_limits_blas_in_the_run(tmp_path):
    """The child reports the BLAS threads (read with threadpoolctl) in force."""
    for threads in ("1", "2"):
        argv = [*SMALL, "--iters", "3", "--graph", "g.dot", "--threads", threads]
        code, out, err = finished(*argv, "--out", f"run{threads}", cwd=tmp_path)
        assert code == 0, err
        assert f"; 3 iterations; BLAS threads: {threads}\n" in out
