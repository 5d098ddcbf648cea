"""The experiments of the book's chapter 6, as figures drawn from real runs on MNIST.

    python -m models.chapter6 all                 # every figure, a few minutes
    python -m models.chapter6 optimizers --iterations 500
    python -m models.chapter6 --help

- ``optimizers`` (6.1.8): SGD, Momentum, AdaGrad and Adam, each with the
  book's learning rate, train the same 5-layer ReLU net (hidden layers of
  100, He init) from the same start on the same batches of 128:
  ``optimizers.png``, the loss per iteration.
- ``init`` (6.2): the activations of 5 layers of 100 units for 1000 random
  inputs, with weights of std 0.01 and Xavier's (sigmoid), and He's (ReLU):
  ``init_histograms.png``; then the three inits train the 5-layer ReLU net
  with SGD: ``init_mnist.png``.
- ``batchnorm`` (6.3.2): a net with 5 hidden layers, weights of std from 1
  down to 0.0001, trained on 1000 images with and without Batch
  Normalization: ``batchnorm.png``, the training accuracy per epoch.
- ``regularisation`` (6.4): a 7-layer net overfits 300 images; weight decay
  (λ = 0.1) and Dropout (p = 0.2) narrow the gap between its training and
  test accuracy: ``regularisation.png``.

The networks are ``MLP``s trained by the training command's loop
(``train_mnist.training_iterations``: batches drawn with replacement, the
book's ``optimizer.update``, accuracies per epoch in eval mode), in float32;
the command limits BLAS to one thread. Each run of an experiment starts
from the same seed, so the runs differ only in what the experiment changes.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from models.cli import (
    HelpFormatter,
    check_output_folder,
    non_negative_int,
    positive_int,
)
from models.mlp import ACTIVATIONS, MLP
from models.run_folder import RunFolderError
from models.train_mnist import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    History,
    blas_threads,
    moving_mean,
    save_png,
    training_iterations,
)
from tinygrad_edu import Tensor, no_grad, optim
from tinygrad_edu.datasets import load_mnist
from tinygrad_edu.errors import DatasetError, TinygradEduError

Data = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

EXPERIMENTS = ("optimizers", "init", "batchnorm", "regularisation")

#: Each experiment's training iterations in the book: 2000 batches of 128;
#: 20 epochs of 1000 images in batches of 100; about 200 epochs of 300 images
#: in batches of 100 (the book's 201, and 301 for Dropout).
BOOK_ITERATIONS = {
    "optimizers": 2000,
    "init": 2000,
    "batchnorm": 200,
    "regularisation": 600,
}

#: The book's optimizers with its learning rates (their defaults here).
OPTIMIZERS: dict[str, Callable[[], optim.Optimizer]] = {
    "SGD": optim.SGD,  # lr 0.01
    "Momentum": optim.Momentum,  # lr 0.01, momentum 0.9
    "AdaGrad": optim.AdaGrad,  # lr 0.01
    "Adam": optim.Adam,  # lr 0.001
}

#: The book's three histograms: (MLP options) per label.
HISTOGRAMS: dict[str, dict[str, Any]] = {
    "std 0.01, sigmoid": {"activation": "sigmoid", "init": "normal", "std": 0.01},
    "Xavier, sigmoid": {"activation": "sigmoid", "init": "xavier"},
    "He, ReLU": {"activation": "relu", "init": "he"},
}

#: The inits the book compares on MNIST, all with ReLU.
INITS: dict[str, dict[str, Any]] = {
    "std 0.01": {"init": "normal", "std": 0.01},
    "Xavier": {"init": "xavier"},
    "He": {"init": "he"},
}

#: The book's weight scales for Batch Norm: 16 from 1 down to 0.0001.
SCALES = tuple(float(s) for s in np.logspace(0, -4, num=16))

#: Each regularisation run: SGD's weight decay and the MLP's dropout.
REGULARISATION: dict[str, dict[str, float]] = {
    "no regularisation": {},
    "weight decay 0.1": {"weight_decay": 0.1},
    "dropout 0.2": {"dropout": 0.2},
}


# -- training ---------------------------------------------------------------------


def train_mlp(
    make_model: Callable[[np.random.Generator], MLP],
    optimizer: optim.Optimizer,
    data: Data,
    *,
    iterations: int,
    batch_size: int,
    seed: int,
    bar: Any = None,
) -> History:
    """Build a model and train it with the training command's loop.

    One generator, seeded with ``seed``, draws the initial weights, then the
    batches and dropout masks: runs with the same seed start alike. ``bar``
    (a tqdm bar) advances once per iteration.
    """
    rng = np.random.default_rng(seed)
    model = make_model(rng)
    history = History()
    for _ in training_iterations(
        model,
        optimizer,
        data,
        history,
        iters=iterations,
        batch_size=batch_size,
        rng=rng,
    ):
        if bar is not None:
            bar.update()
    return history


def final_loss(history: History, last: int = 100) -> float:
    """The mean loss of the last ``last`` batches: where a curve ends."""
    return float(np.mean(history.loss[-last:]))


def subset(data: Data, train: int, test: int) -> Data:
    """The first ``train`` training and ``test`` test samples."""
    (x_train, t_train), (x_test, t_test) = data
    return (x_train[:train], t_train[:train]), (x_test[:test], t_test[:test])


def compare_optimizers(
    data: Data,
    iterations: int = BOOK_ITERATIONS["optimizers"],
    *,
    optimizers: Mapping[str, Callable[[], optim.Optimizer]] = OPTIMIZERS,
    seed: int = 0,
    bar: Any = None,
) -> dict[str, History]:
    """One 5-layer ReLU net per optimizer, same start, same batches of 128."""
    return {
        name: train_mlp(
            partial(_mnist_mlp, [100] * 4, activation="relu"),
            make(),
            data,
            iterations=iterations,
            batch_size=128,
            seed=seed,
            bar=bar,
        )
        for name, make in optimizers.items()
    }


def hidden_activations(model: MLP, x: Any) -> list[np.ndarray]:
    """The output of each activation layer of ``model`` for inputs ``x``."""
    outputs = []
    with no_grad():
        h = Tensor(x)
        for layer in model.layers:
            h = layer(h)
            if isinstance(layer, tuple(ACTIVATIONS.values())):
                outputs.append(h.data)
    return outputs


def activation_histograms(
    settings: Mapping[str, dict[str, Any]] = HISTOGRAMS, *, seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """The book's experiment: 1000 standard-normal inputs through 5 layers of
    100 units, per setting; each layer's activations."""
    x = np.random.default_rng(seed).standard_normal((1000, 100))
    return {
        label: hidden_activations(
            MLP(100, [100] * 5, 100, rng=np.random.default_rng(seed), **options), x
        )
        for label, options in settings.items()
    }


def compare_inits(
    data: Data,
    iterations: int = BOOK_ITERATIONS["init"],
    *,
    inits: Mapping[str, dict[str, Any]] = INITS,
    seed: int = 0,
    bar: Any = None,
) -> dict[str, History]:
    """The 5-layer ReLU net from each init, trained by SGD (lr 0.01), batch 128."""
    return {
        label: train_mlp(
            partial(_mnist_mlp, [100] * 4, activation="relu", **options),
            optim.SGD(lr=0.01),
            data,
            iterations=iterations,
            batch_size=128,
            seed=seed,
            bar=bar,
        )
        for label, options in inits.items()
    }


def compare_batch_norm(
    data: Data,
    iterations: int = BOOK_ITERATIONS["batchnorm"],
    *,
    scales: Sequence[float] = SCALES,
    batch_norm: tuple[bool, bool] = (True, False),
    seed: int = 0,
    bar: Any = None,
) -> dict[float, dict[str, History]]:
    """Per weight scale (std), a net with 5 hidden ReLU layers trained by SGD
    (lr 0.01, batches of 100) with Batch Norm and without (``batch_norm``
    says which run has it).

    Without Batch Norm the largest scales blow the activations up until the
    loss is NaN: that failure is part of the figure, so NumPy's warnings
    about it are silenced here.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return {
            scale: {
                label: train_mlp(
                    partial(
                        _mnist_mlp,
                        [100] * 5,
                        activation="relu",
                        init="normal",
                        std=scale,
                        batch_norm=bn,
                    ),
                    optim.SGD(lr=0.01),
                    data,
                    iterations=iterations,
                    batch_size=100,
                    seed=seed,
                    bar=bar,
                )
                for label, bn in zip(("Batch Norm", "without"), batch_norm, strict=True)
            }
            for scale in scales
        }


def compare_regularisation(
    data: Data,
    iterations: int = BOOK_ITERATIONS["regularisation"],
    *,
    settings: Mapping[str, dict[str, float]] = REGULARISATION,
    seed: int = 0,
    bar: Any = None,
) -> dict[str, History]:
    """A 7-layer ReLU net (6 hidden layers of 100) trained by SGD (lr 0.01,
    batches of 100) per setting of weight decay and dropout.

    The optimizer's weight decay applies to every parameter, biases too (the
    book's to the weights only); the biases are few, so the curves agree.
    """
    return {
        label: train_mlp(
            partial(
                _mnist_mlp,
                [100] * 6,
                activation="relu",
                dropout=setting.get("dropout", 0.0),
            ),
            optim.SGD(lr=0.01, weight_decay=setting.get("weight_decay", 0.0)),
            data,
            iterations=iterations,
            batch_size=100,
            seed=seed,
            bar=bar,
        )
        for label, setting in settings.items()
    }


def gap(history: History) -> float:
    """Training minus test accuracy at the end: how much the net overfits."""
    last = history.epochs[-1]
    return last["train_acc"] - last["test_acc"]


def _mnist_mlp(hidden: list[int], rng: np.random.Generator, **options: Any) -> MLP:
    return MLP(784, hidden, 10, dtype=np.float32, rng=rng, **options)


# -- figures ------------------------------------------------------------------------


def plot_losses(histories: Mapping[str, History], path: Path, title: str) -> Path:
    """Each run's loss per iteration, as a moving mean over 50 batches."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    for label, history in histories.items():
        axes.plot(*moving_mean(history.loss, 50), label=label)
    axes.set(
        xlabel="iteration", ylabel="loss (moving mean)", title=title, ylim=(0, None)
    )
    axes.legend()
    return save_png(figure, path)


def plot_histograms(activations: Mapping[str, list[np.ndarray]], path: Path) -> Path:
    """One row per setting, one histogram per layer, as the book draws them.

    ReLU's zeros (about half of its outputs) are left out, so that its bars
    are not dwarfed by the one at zero; a row's bins reach its 99th
    percentile, or 1 (sigmoid's bound), whichever is larger."""
    from matplotlib.figure import Figure

    rows, columns = len(activations), max(map(len, activations.values()))
    figure = Figure(figsize=(2.2 * columns, 2 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, sharey="row", squeeze=False)
    for row, (label, layers) in zip(grid, activations.items(), strict=True):
        relu = "ReLU" in label
        top = max(1.0, float(np.quantile(np.concatenate(layers), 0.99)))
        for i, (axes, a) in enumerate(zip(row, layers, strict=False), 1):
            values = a[a > 0] if relu else a.ravel()
            axes.hist(values, bins=30, range=(0, top))
            axes.set_title(f"layer {i}", fontsize=9)
        row[0].set_ylabel(label + (" (no zeros)" if relu else ""), fontsize=9)
    return save_png(figure, path)


def plot_batch_norm(results: Mapping[float, Mapping[str, History]], path: Path) -> Path:
    """Training accuracy per epoch with and without Batch Norm, one panel per
    weight scale."""
    from matplotlib.figure import Figure

    columns = math.ceil(math.sqrt(len(results)))
    rows = math.ceil(len(results) / columns)
    figure = Figure(figsize=(2.6 * columns, 2.2 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for axes, (scale, runs) in zip(grid.flat, results.items(), strict=False):
        for (label, history), style in zip(runs.items(), ("-", "--"), strict=True):
            epochs = [row["epoch"] for row in history.epochs]
            accuracy = [row["train_acc"] for row in history.epochs]
            axes.plot(epochs, accuracy, style, label=label)
        axes.set_title(f"W std {scale:.2g}", fontsize=9)
        axes.set_ylim(0, 1)
    for axes in grid.flat[len(results) :]:
        axes.set_visible(False)
    grid[0, 0].legend(fontsize=8)
    figure.supxlabel("epoch")
    figure.supylabel("training accuracy")
    return save_png(figure, path)


def plot_accuracies(histories: Mapping[str, History], path: Path) -> Path:
    """Training and test accuracy per epoch, one panel per run."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.5 * len(histories), 3.2), layout="constrained")
    grid = figure.subplots(1, len(histories), sharey=True, squeeze=False)
    for axes, (label, history) in zip(grid[0], histories.items(), strict=True):
        epochs = [row["epoch"] for row in history.epochs]
        axes.plot(epochs, [r["train_acc"] for r in history.epochs], label="train")
        axes.plot(epochs, [r["test_acc"] for r in history.epochs], "--", label="test")
        axes.set(title=label, xlabel="epoch", ylim=(0, 1))
    grid[0, 0].set_ylabel("accuracy")
    grid[0, 0].legend(loc="lower right")
    return save_png(figure, path)


# -- the command ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.chapter6",
        description="Run the book's chapter 6 experiments on MNIST and draw their "
        "figures as PNGs: optimizers, weight init, Batch Normalization, and "
        "overfitting with weight decay and Dropout.",
        epilog="Exit codes: 0 done, 1 data error, 2 unusable options or --out.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("experiment", choices=[*EXPERIMENTS, "all"], help="what to run")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="the folder of the MNIST files (default: $TINYGRAD_EDU_DATA, then "
        "the user cache, downloading there if they are missing)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/chapter6"),
        help="the folder for the PNGs (made if missing; figures there are replaced)",
    )
    parser.add_argument(
        "--iterations",
        type=positive_int,
        help="training iterations of every run (default: the book's, "
        + ", ".join(f"{n} for {name}" for name, n in BOOK_ITERATIONS.items())
        + ")",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="the runs' seed"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars and no summary"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen experiments, write their figures, print what they show."""
    args = build_parser().parse_args(argv)
    say = (lambda *_: None) if args.quiet else print
    chosen = EXPERIMENTS if args.experiment == "all" else (args.experiment,)
    try:
        _prepare(args.out)
        data = load_mnist(data_dir=args.data_dir, progress=not args.quiet)
        with blas_threads(1):
            for name in chosen:
                iterations = args.iterations or BOOK_ITERATIONS[name]
                for line in RUNNERS[name](data, args, iterations):
                    say(line)
    except RunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (DatasetError, TinygradEduError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # each figure is written whole, so those done stand
        print(
            f"interrupted: the figures finished so far are in {args.out}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


def _prepare(out: Path) -> None:
    """Make ``--out`` and check that it takes files, before any work."""
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(
            f"--out {out}: cannot make the folder: {error.strerror or error}"
        ) from error
    check_output_folder("--out", out / "figure.png")


def _bar(args: argparse.Namespace, name: str, total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, unit="it", disable=args.quiet, leave=False)


def _run_optimizers(data: Data, args: argparse.Namespace, iterations: int) -> list[str]:
    with _bar(args, "optimizers", iterations * len(OPTIMIZERS)) as bar:
        runs = compare_optimizers(data, iterations, seed=args.seed, bar=bar)
    path = plot_losses(runs, args.out / "optimizers.png", "optimizers on MNIST")
    return [f"optimizers ({iterations} iterations): {path}"] + [
        f"  {name:<9} loss {final_loss(h):.3f}  test acc {h.epochs[-1]['test_acc']:.3f}"
        for name, h in runs.items()
    ]


def _run_init(data: Data, args: argparse.Namespace, iterations: int) -> list[str]:
    activations = activation_histograms(seed=args.seed)
    histograms = plot_histograms(activations, args.out / "init_histograms.png")
    with _bar(args, "init", iterations * len(INITS)) as bar:
        runs = compare_inits(data, iterations, seed=args.seed, bar=bar)
    curves = plot_losses(runs, args.out / "init_mnist.png", "weight init on MNIST")
    lines = [f"init: {histograms}"] + [
        f"  {label:<18} activation std per layer "
        + " ".join(f"{a.std():.3f}" for a in layers)
        for label, layers in activations.items()
    ]
    lines.append(f"init on MNIST ({iterations} iterations): {curves}")
    lines += [f"  {label:<9} loss {final_loss(h):.3f}" for label, h in runs.items()]
    return lines


def _run_batch_norm(data: Data, args: argparse.Namespace, iterations: int) -> list[str]:
    with _bar(args, "batchnorm", iterations * 2 * len(SCALES)) as bar:
        results = compare_batch_norm(
            subset(data, 1000, 1000), iterations, seed=args.seed, bar=bar
        )
    path = plot_batch_norm(results, args.out / "batchnorm.png")
    lines = [f"batchnorm ({iterations} iterations on 1000 images): {path}"]
    lines += [
        f"  W std {scale:<7.2g} training accuracy "
        + "  ".join(f"{k} {h.epochs[-1]['train_acc']:.3f}" for k, h in runs.items())
        for scale, runs in results.items()
    ]
    return lines


def _run_regularisation(
    data: Data, args: argparse.Namespace, iterations: int
) -> list[str]:
    with _bar(args, "regularisation", iterations * len(REGULARISATION)) as bar:
        runs = compare_regularisation(
            subset(data, 300, len(data[1][0])), iterations, seed=args.seed, bar=bar
        )
    path = plot_accuracies(runs, args.out / "regularisation.png")
    return [f"regularisation ({iterations} iterations on 300 images): {path}"] + [
        f"  {label:<18} train {h.epochs[-1]['train_acc']:.3f}  test "
        f"{h.epochs[-1]['test_acc']:.3f}  gap {gap(h):.3f}"
        for label, h in runs.items()
    ]


RUNNERS: dict[str, Callable[[Data, argparse.Namespace, int], list[str]]] = {
    "optimizers": _run_optimizers,
    "init": _run_init,
    "batchnorm": _run_batch_norm,
    "regularisation": _run_regularisation,
}


if __name__ == "__main__":
    sys.exit(main())
