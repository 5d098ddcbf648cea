"""Train a network on MNIST: the project's main job.

    python -m models.train_mnist                  # the book's experiment
    python -m models.train_mnist --preset best    # ReLU, He init, Adam: >= 97.5%
    python -m models.train_mnist --help

The defaults are the book's (chapter 4.5): TwoLayerNet 784-50-10 with sigmoid,
mini-batches of 100 drawn with replacement, SGD with learning rate 0.1, 10,000
iterations, train and test accuracy once per epoch. Gradients come from our
autograd. The output directory receives the parameters (``params.npz``), the
metrics (``metrics.json``), the curves (``curves.png``) and the loss's graph
(``loss_graph.svg``). Problems the user can fix (missing MNIST files, no
``dot``) are one ``error:`` line and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_edu
from models.classifier import Classifier
from models.mlp import ACTIVATIONS, MLP
from models.two_layer_net import TwoLayerNet
from tinygrad_edu import optim, viz
from tinygrad_edu._files import atomic_write
from tinygrad_edu.datasets import load_mnist, sample_batch
from tinygrad_edu.errors import DatasetError, TinygradEduError

OPTIMIZERS = {
    "sgd": optim.SGD,
    "momentum": optim.Momentum,
    "adagrad": optim.AdaGrad,
    "rmsprop": optim.RMSprop,
    "adam": optim.Adam,
}


def _default_lr(name: str) -> float:
    return inspect.signature(OPTIMIZERS[name]).parameters["lr"].default


#: The learning rate each optimizer gets unless --lr is given: the defaults of
#: the book's chapter 6 classes (which ours share), except plain SGD, which
#: trains at the 0.1 of the book's chapter 4 experiment, not its class's 0.01.
DEFAULT_LR: dict[str, float] = {name: _default_lr(name) for name in OPTIMIZERS}
DEFAULT_LR["sgd"] = 0.1

#: Named configurations; options given on the command line override them.
PRESETS: dict[str, dict[str, Any]] = {
    "book": {},
    "best": {"hidden": 256, "activation": "relu", "init": "he", "optimizer": "adam"},
}


@dataclass
class History:
    """What a run measured: the loss per iteration and accuracies per epoch.

    ``train_seconds`` is the time spent training (batches, backprop, updates);
    ``eval_seconds`` the time spent measuring the accuracies, kept apart so
    that iterations per second describe training alone.
    """

    loss: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" only for real defaults: not None, not a flag's False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or isinstance(action, argparse._StoreTrueAction):
            return action.help or ""
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The command line: every option with a help text, defaults shown."""
    parser = argparse.ArgumentParser(
        prog="python -m models.train_mnist",
        description="Train a multilayer perceptron on MNIST with tinygrad_edu's "
        "autograd. The defaults are the book's experiment (TwoLayerNet 784-50-10, "
        "sigmoid, SGD lr 0.1, batch 100, 10,000 iterations).",
        formatter_class=_HelpFormatter,
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--hidden", type=_positive_int, default=50, help="units per hidden layer"
    )
    model.add_argument(
        "--depth", type=_positive_int, default=1, help="number of hidden layers"
    )
    model.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default="sigmoid",
        help="activation after each hidden layer",
    )
    model.add_argument(
        "--init",
        choices=("normal", "xavier", "he"),
        default="normal",
        help="weight init: normal with --weight-init-std (the book's), Xavier or He",
    )
    model.add_argument(
        "--weight-init-std",
        type=_positive_float,
        default=0.01,
        help="standard deviation of the weights with --init normal",
    )
    model.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="floating-point type of the parameters and images",
    )

    training = parser.add_argument_group("training")
    training.add_argument(
        "--optimizer",
        choices=sorted(OPTIMIZERS),
        default="sgd",
        help="update rule (the book's chapter 6 set)",
    )
    rates = ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LR.items())
    training.add_argument(
        "--lr",
        type=_positive_float,
        help=f"learning rate (default: the optimizer's own: {rates})",
    )
    training.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=0.0,
        help="weight decay λ: adds λ·p to each parameter's gradient "
        "(an L2 penalty of λ/2·‖p‖²)",
    )
    training.add_argument(
        "--batch-size",
        type=_positive_int,
        default=100,
        help="samples per mini-batch, drawn with replacement as in the book",
    )
    length = training.add_mutually_exclusive_group()
    length.add_argument(
        "--iters", type=_positive_int, default=10_000, help="training iterations"
    )
    length.add_argument(
        "--epochs",
        type=_positive_int,
        help="train this many epochs (60000 / batch size iterations each) "
        "instead of --iters",
    )
    training.add_argument(
        "--seed", type=int, default=0, help="makes a run reproducible"
    )

    files = parser.add_argument_group("files")
    files.add_argument(
        "--data-dir",
        type=Path,
        help="the folder that holds the four MNIST .gz files, and where missing "
        "ones are downloaded (default: the first of $TINYGRAD_EDU_DATA and the "
        "user cache ~/.cache/tinygrad_edu/mnist that holds all four; downloads "
        "go to $TINYGRAD_EDU_DATA if set, else the user cache)",
    )
    files.add_argument(
        "--out", type=Path, default=Path("runs/mnist"), help="output directory"
    )
    files.add_argument(
        "--graph",
        type=_graph_path,
        help="where to draw the loss's computation graph: .svg, .png or .pdf, or "
        ".dot for the DOT text (default: OUT/loss_graph.svg)",
    )

    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="book",
        help="a named configuration; explicit options override it. "
        "best = hidden 256, ReLU, He init, Adam (lr 0.001)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options, with the preset applied and every default filled in."""
    # A first pass reads only --preset, so that the preset's values become the
    # defaults (and --preset best --help shows them); the full parser then
    # reports any error, including an unknown preset.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--preset", default="book")
    preset = first.parse_known_args(argv)[0].preset
    parser = build_parser()
    parser.set_defaults(**PRESETS.get(preset, {}))
    args = parser.parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    if args.graph is None:
        args.graph = args.out / "loss_graph.svg"
    return args


def _graph_path(text: str) -> Path:
    """A path that ``viz.draw`` can write, checked now rather than after training."""
    path = Path(text)
    if path.suffix.lstrip(".").lower() not in viz.FORMATS:
        raise argparse.ArgumentTypeError(
            f"cannot draw to {text!r}: the extension must be one of "
            f"{', '.join('.' + f for f in viz.FORMATS)}"
        )
    return path


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {text}")
    return value


def build_model(args: argparse.Namespace, rng: np.random.Generator) -> Classifier:
    """The book's TwoLayerNet when the options describe it, else an MLP."""
    dtype = np.dtype(args.dtype)
    if args.depth == 1 and args.activation == "sigmoid" and args.init == "normal":
        return TwoLayerNet(
            784, args.hidden, 10, args.weight_init_std, dtype=dtype, rng=rng
        )
    return MLP(
        784,
        [args.hidden] * args.depth,
        10,
        activation=args.activation,
        init=args.init,
        std=args.weight_init_std,
        dtype=dtype,
        rng=rng,
    )


def build_optimizer(args: argparse.Namespace) -> optim.Optimizer:
    return OPTIMIZERS[args.optimizer](lr=args.lr, weight_decay=args.weight_decay)


def training_iterations(
    model: Classifier,
    optimizer: optim.Optimizer,
    data: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    history: History,
    *,
    iters: int,
    batch_size: int,
    rng: np.random.Generator,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[float]:
    """The book's loop, one iteration per ``next()``: sample a batch, backprop,
    update; yields the batch's loss. Every epoch, and once after the last
    iteration, the accuracies go into ``history`` (their time into
    ``eval_seconds``) and to ``on_epoch``.

    ``train`` runs it to the end. A generator, so that the benchmark can run
    two models' loops in lockstep, one iteration of each in turn.
    """
    (x_train, t_train), _ = data
    iter_per_epoch = max(len(x_train) // batch_size, 1)

    def evaluate(iteration: int) -> None:
        started = time.perf_counter()
        recent = history.loss[-iter_per_epoch:]
        row = {
            "epoch": math.ceil(iteration / iter_per_epoch),
            "iteration": iteration,
            "loss": float(np.mean(recent)) if recent else None,
            "train_acc": model.accuracy(*data[0]),
            "test_acc": model.accuracy(*data[1]),
        }
        history.epochs.append(row)
        history.eval_seconds += time.perf_counter() - started
        if on_epoch is not None:
            on_epoch(row)

    for i in range(iters):
        if i % iter_per_epoch == 0:
            evaluate(i)
        x_batch, t_batch = sample_batch(x_train, t_train, batch_size, rng)
        loss, grads = model.loss_and_gradient(x_batch, t_batch)
        optimizer.update(model.params, grads)
        history.loss.append(loss)
        yield loss
    evaluate(iters)


def train(
    model: Classifier,
    optimizer: optim.Optimizer,
    data: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    iters: int,
    batch_size: int,
    rng: np.random.Generator,
    progress: bool = True,
) -> History:
    """The book's loop with a progress bar; evaluate every epoch.

    The accuracies are measured with the clock paused for training: they go
    to ``History.eval_seconds``, everything else to ``train_seconds``.
    """
    from tqdm.auto import tqdm

    history = History()
    bar = tqdm(total=iters, desc="training", unit="it", disable=not progress)

    def report(row: dict[str, Any]) -> None:
        if progress:
            bar.write(
                f"epoch {row['epoch']:>3}  iteration {row['iteration']:>6}  "
                f"train acc {row['train_acc']:.4f}  test acc {row['test_acc']:.4f}"
            )

    start = time.perf_counter()
    iterations = training_iterations(
        model,
        optimizer,
        data,
        history,
        iters=iters,
        batch_size=batch_size,
        rng=rng,
        on_epoch=report,
    )
    for i, loss in enumerate(iterations):
        bar.update()
        if progress and i % 10 == 0:
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
    history.train_seconds = time.perf_counter() - start - history.eval_seconds
    bar.close()
    return history


def save_outputs(
    args: argparse.Namespace,
    model: Classifier,
    history: History,
    sample: tuple[np.ndarray, np.ndarray],
) -> dict[str, Path]:
    """Write parameters, metrics, curves and graph; return what went where."""
    args.out.mkdir(parents=True, exist_ok=True)
    written = {"params": args.out / "params.npz", "metrics": args.out / "metrics.json"}
    tinygrad_edu.save(model.params, written["params"])
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    metrics = {"config": config, **asdict(history)}
    with atomic_write(written["metrics"], "w") as f:
        json.dump(metrics, f, indent=1)
    written["curves"] = plot_curves(history, args.out / "curves.png")
    loss, _ = model.loss_graph(*sample)
    try:
        written["graph"] = viz.draw(loss, args.graph)
    except viz.GraphvizNotFoundError as error:  # the DOT text needs no binary
        written["graph"] = viz.draw(loss, args.graph.with_suffix(".dot"))
        print(
            f"note: {error} The DOT source is in {written['graph']}.", file=sys.stderr
        )
    return written


def plot_curves(history: History, path: Path) -> Path:
    """Loss per iteration and accuracy per epoch, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, acc_axes = figure.subplots(1, 2)
    loss_axes.plot(history.loss, linewidth=0.5, alpha=0.4, label="per batch")
    window = min(100, len(history.loss))
    smooth = np.convolve(history.loss, np.ones(window) / window, mode="valid")
    loss_axes.plot(
        np.arange(window - 1, len(history.loss)), smooth, label="moving mean"
    )
    loss_axes.set(xlabel="iteration", ylabel="loss", title="training loss")
    loss_axes.legend()
    epochs = [row["epoch"] for row in history.epochs]
    acc_axes.plot(
        epochs, [row["train_acc"] for row in history.epochs], "o-", label="train"
    )
    acc_axes.plot(
        epochs, [row["test_acc"] for row in history.epochs], "s--", label="test"
    )
    acc_axes.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    acc_axes.legend(loc="lower right")
    with atomic_write(path, "wb") as f:
        figure.savefig(f, format="png", dpi=100)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Train, write the outputs, print a summary; 0 on success, 1 on an error."""
    args = parse_args(argv)
    try:
        return run(args)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        print(
            "hint: point --data-dir (or the TINYGRAD_EDU_DATA environment variable) "
            "at a folder that holds the four MNIST .gz files, or at a writable "
            "folder to download them into.",
            file=sys.stderr,
        )
    except TinygradEduError as error:
        print(f"error: {error}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    """The whole job for parsed options; errors are main's to report."""
    rng = np.random.default_rng(args.seed)
    (x_train, t_train), (x_test, t_test) = load_mnist(
        data_dir=args.data_dir, progress=not args.quiet
    )
    dtype = np.dtype(args.dtype)
    data = ((x_train.astype(dtype), t_train), (x_test.astype(dtype), t_test))
    iter_per_epoch = max(len(x_train) // args.batch_size, 1)
    iters = args.iters if args.epochs is None else args.epochs * iter_per_epoch
    args.iters = iters  # the config in metrics.json records what ran

    model = build_model(args, rng)
    optimizer = build_optimizer(args)
    say = (lambda *_: None) if args.quiet else print
    say(f"model: {model!r}; optimizer: {optimizer!r}; {iters} iterations")
    history = train(
        model,
        optimizer,
        data,
        iters=iters,
        batch_size=args.batch_size,
        rng=rng,
        progress=not args.quiet,
    )
    x_test, t_test = data[1]
    # The graph of one training-sized batch: the shapes the training used.
    sample = (x_test[: args.batch_size], t_test[: args.batch_size])
    written = save_outputs(args, model, history, sample)
    final = history.epochs[-1]
    train_s, eval_s = history.train_seconds, history.eval_seconds
    say(f"final: train acc {final['train_acc']:.4f}, test acc {final['test_acc']:.4f}")
    say(
        f"time: {train_s + eval_s:.1f} s = training {train_s:.1f} s "
        f"({iters / train_s:.0f} it/s) + evaluation {eval_s:.1f} s"
    )
    for what, path in written.items():
        say(f"{what:>8}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
