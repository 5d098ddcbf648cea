"""Train a network on MNIST: the project's main job.

    python -m models.train_mnist                  # the book's experiment
    python -m models.train_mnist --preset best    # ReLU, He init, Adam: >= 97.5%
    python -m models.train_mnist --preset convnet # SimpleConvNet: >= 98.5%
    python -m models.train_mnist --resume runs/mnist/3.partial
    python -m models.train_mnist --eval runs/mnist/3 --confusion confusion.png
    python -m models.train_mnist --eval runs/mnist/4 --filters filters.png
    python -m models.train_mnist --help

The defaults are the book's (chapter 4.5): TwoLayerNet 784-50-10 with sigmoid,
mini-batches of 100 drawn with replacement, SGD with learning rate 0.1, 10,000
iterations, train and test accuracy once per epoch. Gradients come from our
autograd.

Nothing a user trained is lost or replaced silently. Each run gets its own
folder (``runs/mnist/1``, ``2``, ... unless ``--out`` names one), checked
before the data is loaded; it works in ``<folder>.partial``, where a
checkpoint is written every ``--checkpoint-every`` iterations and on Ctrl-C
or SIGTERM, and becomes ``<folder>`` when the run is complete, holding the
parameters (``params.npz``), the metrics (``metrics.json``, strict JSON), the
curves (``curves.png``) and the loss's graph (``loss_graph.svg``); a conv
net's also its first layer's filters before and after training
(``filters.png``, the initial ones in ``initial_filters.npz``). A run that
diverges (a loss or parameter that is not finite, or a loss 100 times the
first one) stops. Exit codes: 0 done, 1 an error in the data or files,
2 unusable options or paths, 3 diverged, 130 interrupted (resume it with
``--resume``). Errors are one ``error:`` line, never a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_edu
from models import run_folder
from models.classifier import Classifier, evaluating
from models.cli import (
    HelpFormatter,
    check_output_folder,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from models.mlp import ACTIVATIONS, MLP
from models.run_folder import RunFolder, RunFolderError
from models.simple_conv_net import SimpleConvNet
from models.two_layer_net import TwoLayerNet
from tinygrad_edu import optim, viz
from tinygrad_edu._files import atomic_write
from tinygrad_edu.datasets import MNIST_SIZES, load_mnist, mnist_dir, sample_batch
from tinygrad_edu.errors import DatasetError, TinygradEduError

OPTIMIZERS = {
    "sgd": optim.SGD,
    "momentum": optim.Momentum,
    "adagrad": optim.AdaGrad,
    "rmsprop": optim.RMSprop,
    "adam": optim.Adam,
}

EXIT_ERROR, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 1, 2, 3, 130

#: Where runs go unless --out names a folder: runs/mnist/1, 2, ...
RUNS = Path("runs/mnist")

#: A loss this many times the first iteration's counts as divergence: the
#: first is about ln 10 = 2.3 (a guess among ten classes), and a learning
#: rate that is too large sends it to millions within a few steps.
DIVERGENCE_FACTOR = 100


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
    "convnet": {
        "model": "convnet",
        "hidden": 100,
        "init": "he",
        "optimizer": "adam",
        "dtype": "float32",
        "iters": 3 * 600,
    },
}

#: The architectures --model chooses from.
MODELS = ("mlp", "convnet")
#: Options that describe an MLP's layers, which the conv net does not have.
MLP_ONLY = ("depth", "activation")

#: What --resume may still change: how the run is watched and run, never
#: what it computes (the rest comes from the checkpoint).
RESUME_OPTIONS = (
    "quiet",
    "threads",
    "checkpoint_every",
    "data_dir",
    "no_download",
    "overwrite",
)
#: What --eval uses besides the run's own configuration.
EVAL_OPTIONS = ("quiet", "threads", "data_dir", "no_download", "confusion", "filters")
#: The drawings --eval can add, each to a .png the option names.
EVAL_PICTURES = ("confusion", "filters")
#: Where a conv net's run keeps its first filters as they were before training.
INITIAL_FILTERS = "initial_filters.npz"


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


class DivergenceError(Exception):
    """Training produced a loss or parameter that cannot be trained on."""

    def __init__(self, iteration: int, what: str) -> None:
        super().__init__(f"iteration {iteration}: {what}")
        self.iteration, self.what = iteration, what


class InterruptionError(Exception):
    """SIGINT or SIGTERM arrived; ``iteration`` steps are complete."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"interrupted at iteration {iteration}")
        self.iteration = iteration


def build_parser() -> argparse.ArgumentParser:
    """The command line: every option with a help text, defaults shown."""
    parser = argparse.ArgumentParser(
        prog="python -m models.train_mnist",
        description="Train a multilayer perceptron on MNIST with tinygrad_edu's "
        "autograd. The defaults are the book's experiment (TwoLayerNet 784-50-10, "
        "sigmoid, SGD lr 0.1, batch 100, 10,000 iterations).",
        epilog="Each run gets its own folder, checked before the data is loaded. "
        "While it trains it is OUT.partial, holding a checkpoint (every "
        "--checkpoint-every iterations, and on Ctrl-C or SIGTERM); a complete run "
        "is renamed to OUT. A run whose loss or parameters stop being finite, or "
        "whose loss grows to 100 times the first, is stopped as diverged. Exit "
        "codes: 0 done, 1 data or file error, 2 unusable options or paths, "
        "3 diverged, 130 interrupted (continue with --resume OUT.partial).",
        formatter_class=HelpFormatter,
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="mlp",
        help="mlp: TwoLayerNet or an MLP (--depth, --activation); convnet: the "
        "book's SimpleConvNet (conv 30 5x5 → ReLU → max-pool 2x2 → affine → ReLU "
        "→ affine)",
    )
    model.add_argument(
        "--hidden",
        type=positive_int,
        default=50,
        help="units per hidden layer (the book's conv net: 100)",
    )
    model.add_argument(
        "--depth", type=positive_int, default=1, help="number of hidden layers"
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
        type=positive_float,
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
        type=positive_float,
        help=f"learning rate (default: the optimizer's own: {rates})",
    )
    training.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=0.0,
        help="weight decay λ: adds λ·p to each parameter's gradient "
        "(an L2 penalty of λ/2·‖p‖²)",
    )
    training.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        help="samples per mini-batch, drawn with replacement as in the book "
        f"(at most the {MNIST_SIZES['train']} training images)",
    )
    length = training.add_mutually_exclusive_group()
    length.add_argument(
        "--iters", type=positive_int, default=10_000, help="training iterations"
    )
    length.add_argument(
        "--epochs",
        type=positive_int,
        help="train this many epochs (60000 / batch size iterations each) "
        "instead of --iters",
    )
    training.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="makes a run reproducible (0 or more)",
    )
    training.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="BLAS threads for the matrix products. One is never far from the "
        "best at these sizes, and does not collapse when another program keeps a "
        "core busy, where two spin-waiting threads can be several times slower "
        "(docs/performance.md)",
    )

    files = parser.add_argument_group("files")
    files.add_argument(
        "--data-dir",
        type=Path,
        help="the folder that holds the four MNIST .gz files, or a data root "
        "holding them in mnist/, and where missing ones are downloaded (default: "
        "the first of $TINYGRAD_EDU_DATA and the user cache "
        "~/.cache/tinygrad_edu/mnist that holds all four; downloads go to "
        "$TINYGRAD_EDU_DATA if set, else the user cache)",
    )
    files.add_argument(
        "--no-download",
        action="store_true",
        help="never download: missing MNIST files are an error at once",
    )
    files.add_argument(
        "--out",
        type=Path,
        help=f"the run's folder (default: {RUNS}/<n>, the next free number); "
        "refused if it already holds a run, unless --overwrite",
    )
    files.add_argument(
        "--overwrite",
        action="store_true",
        help="let --out replace the run it holds, once the new run has finished "
        "(a diverged run's .partial folder, which cannot be resumed, at once)",
    )
    files.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=1000,
        help="write a checkpoint (parameters, optimizer state, iteration, RNG "
        "state, metrics) to OUT.partial every this many iterations",
    )
    files.add_argument(
        "--resume",
        type=Path,
        metavar="PARTIAL",
        help="continue an interrupted run from its OUT.partial folder, with its "
        "own configuration; the result is bit for bit the uninterrupted run's",
    )
    files.add_argument(
        "--graph",
        type=_graph_path,
        help="where to draw the loss's computation graph: .svg, .png or .pdf, or "
        ".dot for the DOT text (default: OUT/loss_graph.svg)",
    )
    files.add_argument(
        "--graph-color-by-grad",
        action="store_true",
        help="colour the graph's tensors by the size of their gradient "
        "(vanishing blue ... exploding orange)",
    )
    files.add_argument(
        "--graph-values",
        action="store_true",
        help="print values (or a mean/min/max summary) in the graph",
    )
    files.add_argument(
        "--graph-grads",
        action="store_true",
        help="print each parameter's gradient (norm and range) in the graph",
    )

    evaluation = parser.add_argument_group("evaluating a saved run")
    evaluation.add_argument(
        "--eval",
        type=Path,
        metavar="RUN",
        help="instead of training, evaluate the run in RUN (a finished run "
        "folder or an OUT.partial one) on the test set: accuracy, loss and "
        "accuracy per class",
    )
    evaluation.add_argument(
        "--confusion",
        type=Path,
        metavar="PNG",
        help="with --eval: also draw the confusion matrix to this .png",
    )
    evaluation.add_argument(
        "--filters",
        type=Path,
        metavar="PNG",
        help="with --eval of a --model convnet run: also draw its first layer's "
        "filters before and after training to this .png",
    )

    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="book",
        help="a named configuration; explicit options override it. "
        "best = hidden 256, ReLU, He init, Adam (lr 0.001); convnet = "
        "SimpleConvNet, He init, Adam (lr 0.001), float32, 3 epochs",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print nothing but errors (and the results of --eval)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options, with the preset applied and every default filled in.

    Combinations that cannot work are refused here, before anything runs.
    """
    # A first pass reads only --preset, so that the preset's values become the
    # defaults (and --preset best --help shows them); the full parser then
    # reports any error, including an unknown preset.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--preset", default="book")
    preset = first.parse_known_args(argv)[0].preset
    parser = build_parser()
    parser.set_defaults(**PRESETS.get(preset, {}))
    args = parser.parse_args(argv)
    given = _given_options(argv)
    for mode, allowed in (("resume", RESUME_OPTIONS), ("eval", EVAL_OPTIONS)):
        if getattr(args, mode) is not None:
            others = sorted(given - {mode, *allowed})
            if others:
                parser.error(
                    f"--{mode} takes the run's own configuration; "
                    f"{', '.join(_flag(o) for o in others)} cannot be given with "
                    f"it (allowed: {', '.join(_flag(o) for o in allowed)})"
                )
    for name, what in zip(EVAL_PICTURES, ("the confusion matrix", "the filters")):
        path = getattr(args, name)
        if path is not None and args.eval is None:
            parser.error(f"--{name} draws {what} of --eval RUN")
        if path is not None and path.suffix.lower() != ".png":
            parser.error(f"--{name} {path}: the file must end in .png")
    if args.batch_size > MNIST_SIZES["train"]:
        parser.error(
            f"--batch-size {args.batch_size} is larger than the "
            f"{MNIST_SIZES['train']} MNIST training images"
        )
    if args.data_dir is not None and args.data_dir.expanduser().is_file():
        parser.error(
            f"--data-dir {args.data_dir} is a file; give the folder that holds the "
            f"four MNIST .gz files (or an empty one to download them into)"
        )
    if args.data_dir is not None and not args.data_dir.expanduser().is_dir():
        parent = args.data_dir.expanduser().parent
        if args.no_download or not parent.is_dir():
            missing = "is not a folder" if parent.exists() else "does not exist"
            why = "--no-download" if args.no_download else f"{parent} {missing}"
            parser.error(
                f"--data-dir {args.data_dir} does not exist, and nothing can be "
                f"downloaded into it ({why}); check the path"
            )
    if args.model == "convnet" and given & set(MLP_ONLY) and args.resume is None:
        parser.error(
            f"{', '.join(_flag(o) for o in sorted(given & set(MLP_ONLY)))} "
            f"describe an MLP's layers; --model convnet has its own"
        )
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    if args.epochs is not None:  # the config in metrics.json records what ran
        args.iters = args.epochs * max(MNIST_SIZES["train"] // args.batch_size, 1)
    return args


def _given_options(argv: Sequence[str] | None) -> set[str]:
    """The destinations of the options that were typed, not defaulted."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _graph_path(text: str) -> Path:
    """A path that ``viz.draw`` can write, checked now rather than after training."""
    path = Path(text)
    if path.suffix.lstrip(".").lower() not in viz.FORMATS:
        raise argparse.ArgumentTypeError(
            f"cannot draw to {text!r}: the extension must be one of "
            f"{', '.join('.' + f for f in viz.FORMATS)}"
        )
    return path


def build_model(args: argparse.Namespace, rng: np.random.Generator) -> Classifier:
    """The book's TwoLayerNet when the options describe it, else an MLP; the
    book's SimpleConvNet with --model convnet."""
    dtype = np.dtype(args.dtype)
    if getattr(args, "model", "mlp") == "convnet":
        std = "he" if args.init == "he" else args.weight_init_std
        return SimpleConvNet(
            hidden_size=args.hidden, weight_init_std=std, dtype=dtype, rng=rng
        )
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
    start: int = 0,
) -> Iterator[float]:
    """The book's loop, one iteration per ``next()``: sample a batch, backprop,
    update; yields the batch's loss. Every epoch, and once after the last
    iteration, the accuracies go into ``history`` (their time into
    ``eval_seconds``) and to ``on_epoch``; ``epoch`` counts whole and partial
    epochs (0.5 after half of one). ``start`` > 0 continues a run that has
    done that many iterations.

    ``train`` runs it to the end. A generator, so that the benchmark can run
    two models' loops in lockstep, one iteration of each in turn.
    """
    (x_train, t_train), _ = data
    iter_per_epoch = max(len(x_train) // batch_size, 1)

    def evaluate(iteration: int) -> None:
        started = time.perf_counter()
        recent = history.loss[-iter_per_epoch:]
        with evaluating(model):
            row = {
                "epoch": round(iteration / iter_per_epoch, 4),
                "iteration": iteration,
                "loss": float(np.mean(recent)) if recent else None,
                "train_acc": model.accuracy(*data[0]),
                "test_acc": model.accuracy(*data[1]),
            }
        history.epochs.append(row)
        history.eval_seconds += time.perf_counter() - started
        if on_epoch is not None:
            on_epoch(row)

    for i in range(start, iters):
        if i % iter_per_epoch == 0:
            evaluate(i)
        x_batch, t_batch = sample_batch(x_train, t_train, batch_size, rng)
        loss, grads = model.loss_and_gradient(x_batch, t_batch)
        optimizer.update(model.params, grads)
        history.loss.append(loss)
        yield loss
    evaluate(iters)


class StopRequest:
    """A signal handler that only takes note: the loop finishes its step first."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.signal = signum


@contextmanager
def deferred_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """SIGINT and SIGTERM go to ``stop`` instead of interrupting mid-step."""
    if threading.current_thread() is not threading.main_thread():
        yield stop  # only the main thread may set handlers; nothing to defer
        return
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def train(
    model: Classifier,
    optimizer: optim.Optimizer,
    data: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    iters: int,
    batch_size: int,
    rng: np.random.Generator,
    progress: bool = True,
    history: History | None = None,
    checkpoint_every: int = 0,
    checkpoint: Callable[[int], None] | None = None,
    stop: StopRequest | None = None,
) -> History:
    """The book's loop with a progress bar; evaluate every epoch.

    Continues ``history`` if given (a resumed run). Every ``checkpoint_every``
    iterations ``checkpoint(iteration)`` is called; once ``stop`` has seen a
    signal, the step under way finishes and ``InterruptionError`` is raised; a loss
    that is not finite or is ``DIVERGENCE_FACTOR`` times the first one raises
    ``DivergenceError``. The accuracies are measured with the clock paused for
    training: they go to ``History.eval_seconds``, the rest to ``train_seconds``.
    """
    from tqdm.auto import tqdm

    history = History() if history is None else history
    start = len(history.loss)
    bar = tqdm(
        total=iters, initial=start, desc="training", unit="it", disable=not progress
    )

    def report(row: dict[str, Any]) -> None:
        if progress:
            bar.write(
                f"epoch {row['epoch']:>6g}  iteration {row['iteration']:>6}  "
                f"train acc {row['train_acc']:.4f}  test acc {row['test_acc']:.4f}"
            )

    started, eval_before = time.perf_counter(), history.eval_seconds
    iterations = training_iterations(
        model,
        optimizer,
        data,
        history,
        iters=iters,
        batch_size=batch_size,
        rng=rng,
        on_epoch=report,
        start=start,
    )
    try:
        for loss in iterations:
            done = len(history.loss)
            problem = _loss_problem(loss, history.loss[0])
            if problem:
                raise DivergenceError(done, problem)
            bar.update()
            if progress and done % 10 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            if done < iters:
                if checkpoint is not None and done % checkpoint_every == 0:
                    checkpoint(done)
                if stop is not None and stop.signal is not None:
                    raise InterruptionError(done)
    finally:
        elapsed = time.perf_counter() - started
        history.train_seconds += elapsed - (history.eval_seconds - eval_before)
        bar.close()
    return history


def _loss_problem(loss: float, first: float) -> str | None:
    """Why this loss means the run diverged, or None."""
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    if loss > DIVERGENCE_FACTOR * first:
        return (
            f"the loss {loss:.4g} is more than {DIVERGENCE_FACTOR} times the "
            f"first iteration's {first:.4g}"
        )
    return None


def _parameter_problem(model: Classifier) -> str | None:
    """Which parameter holds NaN or inf, or None."""
    for name, array in model.params.items():
        if not np.isfinite(array).all():
            return f"parameter {name} holds NaN or inf"
    return None


# -- outputs ------------------------------------------------------------------------


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float as None: JSON has no NaN or inf."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """What a run computes with, as JSON values (paths as text)."""
    skip = {"resume", "eval", *EVAL_PICTURES, "overwrite", "no_download"}
    return {
        k: str(v) if isinstance(v, Path) else v
        for k, v in vars(args).items()
        if k not in skip
    }


def write_metrics(
    path: Path, args: argparse.Namespace, history: History, **extra: Any
) -> Path:
    metrics = {"config": run_config(args), **asdict(history), **extra}
    with atomic_write(path, "w") as f:
        json.dump(strict_json(metrics), f, indent=1, allow_nan=False)
    return path


def save_outputs(
    args: argparse.Namespace,
    run: RunFolder,
    model: Classifier,
    history: History,
    sample: tuple[np.ndarray, np.ndarray],
    initial: dict[str, np.ndarray],
) -> dict[str, Path]:
    """Write parameters, metrics, curves and graph into the run's working
    folder (the graph directly where ``--graph`` says, if outside the run),
    and for a conv net the ``initial`` filters and the filters' picture;
    return where each will be once the folder is published."""
    work = run.work
    written = {"params": work / "params.npz"}
    tinygrad_edu.save(model.params, written["params"])
    written["metrics"] = write_metrics(work / "metrics.json", args, history)
    written["curves"] = plot_curves(history, work / "curves.png")
    if initial:
        tinygrad_edu.save(initial, work / INITIAL_FILTERS)
        panels = before_and_after(initial, model.params)
        written["filters"] = plot_filters(panels, work / "filters.png")
    graph = run.target / "loss_graph.svg" if args.graph is None else args.graph
    inside = graph.is_relative_to(run.target)
    where = work / graph.relative_to(run.target) if inside else graph
    written["graph"], note = draw_graph(args, model, sample, where)
    final = {
        what: run.target / path.relative_to(work) if path.is_relative_to(work) else path
        for what, path in written.items()
    }
    if note:
        print(f"note: {note} The DOT source is in {final['graph']}.", file=sys.stderr)
    return final


def draw_graph(
    args: argparse.Namespace,
    model: Classifier,
    sample: tuple[np.ndarray, np.ndarray],
    path: Path,
) -> tuple[Path, str | None]:
    """The loss's graph on one batch, in the views the options ask for; the
    DOT text, and why, when the ``dot`` program is missing or fails: a picture
    is not worth a finished run."""
    loss, params = model.loss_graph(*sample)
    if args.graph_grads:
        for tensor in params.values():  # the last training step's, until now
            tensor.grad = None
        loss.backward(retain_graph=True)  # the gradients to print; keep the graph
    views = {
        "color_by_grad": args.graph_color_by_grad,
        "show_values": args.graph_values,
        "show_grads": args.graph_grads,
    }
    try:
        return viz.draw(loss, path, **views), None
    except viz.GraphvizError as error:  # the DOT text needs no binary
        return viz.draw(loss, path.with_suffix(".dot"), **views), str(error)


def moving_mean(values: Sequence[float], window: int = 100) -> tuple[Any, Any]:
    """Iterations and the mean of the ``window`` values up to each: a noisy
    per-batch loss as a readable curve."""
    window = min(window, len(values))
    mean = np.convolve(values, np.ones(window) / window, mode="valid")
    return np.arange(window - 1, len(values)), mean


def save_png(figure: Any, path: Path) -> Path:
    """Write a matplotlib Figure as a PNG, atomically."""
    with atomic_write(path, "wb") as f:
        figure.savefig(f, format="png", dpi=100)
    return path


def plot_curves(history: History, path: Path) -> Path:
    """Loss per iteration and accuracy per epoch, side by side, as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, acc_axes = figure.subplots(1, 2)
    loss_axes.plot(history.loss, linewidth=0.5, alpha=0.4, label="per batch")
    loss_axes.plot(*moving_mean(history.loss), label="moving mean")
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
    return save_png(figure, path)


def initial_filters(model: Classifier) -> dict[str, np.ndarray]:
    """A copy of a conv net's first filters as they are now (training changes
    the array in place), for the picture of what training made of them; an
    MLP keeps nothing."""
    if isinstance(model, SimpleConvNet):
        return {"W1": model.params["W1"].copy()}
    return {}


def before_and_after(
    initial: dict[str, np.ndarray], params: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The panels of a run's filters picture: its first filters as kept at
    the start, and as they are in ``params``."""
    return {"before training": initial["W1"], "after training": params["W1"]}


def filter_mosaic(filters: np.ndarray, columns: int = 10) -> np.ndarray:
    """The first channel of each filter (N, C, H, W), scaled to [0, 1] on its
    own, min to max, so that its pattern shows whatever the weights' size;
    tiled at most ``columns`` to a row, with NaN (drawn as background)
    between tiles. A constant filter is all 0."""
    tiles = filters[:, 0].astype(np.float64)
    low = tiles.min(axis=(1, 2), keepdims=True)
    span = tiles.max(axis=(1, 2), keepdims=True) - low
    tiles = (tiles - low) / np.where(span > 0, span, 1)
    count, height, width = tiles.shape
    columns = min(columns, count)
    rows = -(-count // columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    for i, tile in enumerate(tiles):
        top, left = (height + 1) * (i // columns), (width + 1) * (i % columns)
        mosaic[top : top + height, left : left + width] = tile
    return mosaic


def plot_filters(panels: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    """Filters (N, C, H, W) as grayscale tiles, white the largest weight of
    each: one panel per entry, titled by its key, one above the other (the
    book's chapter 7.6 picture, before and after training), as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 1.8 * len(panels)), layout="constrained")
    for axes, (title, filters) in zip(
        figure.subplots(len(panels), 1, squeeze=False)[:, 0], panels.items()
    ):
        axes.imshow(filter_mosaic(filters), cmap="gray", vmin=0, vmax=1)
        axes.set_title(f"{title} ({len(filters)} filters)")
        axes.set_axis_off()
    return save_png(figure, Path(path))


# -- the command ------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Train (or evaluate), print a summary; the exit code says how it ended."""
    args = parse_args(argv)
    say = (lambda *_: None) if args.quiet else print
    try:
        with _sigterm_as_interrupt():
            if args.eval is not None:
                return evaluate_run(args, say)
            return run(args, say)
    except RunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
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
    except KeyboardInterrupt:  # before training started: nothing to keep
        what = "the evaluation" if args.eval is not None else "training started"
        print(f"interrupted before {what} ended; nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_ERROR


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the command as Ctrl-C does (training defers both)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace, say: Callable[..., None]) -> int:
    """Train for parsed options; errors are main's to report."""
    checkpointed: dict[str, Any] | None = None
    if args.resume is not None:
        run_dir = RunFolder.of_partial(args.resume)
        if run_dir.target.exists() and not args.overwrite:
            raise RunFolderError(
                f"{run_dir.target} exists, and the resumed run would end there; "
                f"move it away, or add --overwrite to replace it"
            )
        args, checkpointed = _resumed(args, run_dir)
    elif args.out is not None:
        run_dir = run_folder.explicit(args.out, args.overwrite)
    else:
        run_dir = run_folder.numbered(RUNS)
    try:
        return _train_in(run_dir, args, checkpointed, say)
    finally:
        run_folder.discard_if_empty(run_dir)


def _resumed(
    args: argparse.Namespace, run_dir: RunFolder
) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The checkpoint's configuration, with the options --resume may change
    taken from ``args``; and the checkpoint itself."""
    params, optimizer_state, meta, initial = run_folder.load_checkpoint(
        run_dir.checkpoint
    )
    config = {**meta["config"], **{k: getattr(args, k) for k in RESUME_OPTIONS}}
    if args.data_dir is None:  # the folder the run read before
        config["data_dir"] = meta["config"]["data_dir"]
    for name in ("data_dir", "out", "graph"):
        config[name] = None if config[name] is None else Path(config[name])
    pictures = dict.fromkeys(EVAL_PICTURES)
    resumed = argparse.Namespace(**config, resume=args.resume, eval=None, **pictures)
    checkpointed = {"params": params, "optimizer": optimizer_state, "meta": meta}
    return resumed, {**checkpointed, "initial": initial}


def _needed_bytes(args: argparse.Namespace) -> int:
    """A generous estimate of the disk a run needs: parameters, two optimizer
    slots, their checkpoint, the metrics, the pictures, each written twice
    for a moment (atomic replace)."""
    model = build_model(args, np.random.default_rng(0))
    count = sum(a.size for a in model.params.values())
    arrays = count * np.dtype(args.dtype).itemsize * 4
    return 2 * (arrays + 40 * args.iters) + (2 << 20)


def _train_in(
    run_dir: RunFolder,
    args: argparse.Namespace,
    checkpointed: dict[str, Any] | None,
    say: Callable[..., None],
) -> int:
    run_folder.check_space(run_dir, _needed_bytes(args))
    if args.graph is not None and not args.graph.is_relative_to(run_dir.target):
        check_output_folder("--graph", args.graph)
    say(f"run folder: {run_dir.target} (working in {run_dir.work})")

    data_dir = mnist_dir(args.data_dir)
    (x_train, t_train), (x_test, t_test) = load_mnist(
        data_dir=data_dir, download=not args.no_download, progress=not args.quiet
    )
    args.data_dir = data_dir  # metrics.json records the folder actually read
    dtype = np.dtype(args.dtype)
    data = ((x_train.astype(dtype), t_train), (x_test.astype(dtype), t_test))

    rng = np.random.default_rng(args.seed)
    model = build_model(args, rng)
    optimizer = build_optimizer(args)
    history = History()
    initial = initial_filters(model)
    if checkpointed is not None:
        _restore(model, optimizer, rng, history, checkpointed)
        initial = checkpointed["initial"]

    last_checkpoint = len(history.loss) if checkpointed else None

    def checkpoint(iteration: int) -> None:
        nonlocal last_checkpoint
        problem = _parameter_problem(model)
        if problem:
            raise DivergenceError(iteration, problem)
        meta = {
            "iteration": iteration,
            "rng": rng.bit_generator.state,
            "config": run_config(args),
            "history": asdict(history),
        }
        run_folder.save_checkpoint(
            run_dir.checkpoint,
            model.params,
            optimizer.state_dict(),
            strict_json(meta),
            initial,
        )
        last_checkpoint = iteration

    with (
        deferred_signals(StopRequest()) as stop,
        blas_threads(args.threads) as threads,
        np.errstate(over="ignore", invalid="ignore", divide="ignore"),
    ):  # a run that overflows is caught as diverged, without NumPy's warnings
        say(
            f"model: {model!r}; optimizer: {optimizer!r}; {args.iters} iterations"
            + (f", resuming after {len(history.loss)}" if history.loss else "")
            + f"; BLAS threads: {threads}"
        )
        try:
            train(
                model,
                optimizer,
                data,
                iters=args.iters,
                batch_size=args.batch_size,
                rng=rng,
                progress=not args.quiet,
                history=history,
                checkpoint_every=args.checkpoint_every,
                checkpoint=checkpoint,
                stop=stop,
            )
            problem = _parameter_problem(model)
            if problem:
                raise DivergenceError(args.iters, problem)
        except InterruptionError as interrupted:
            checkpoint(interrupted.iteration)
            print(
                f"interrupted at iteration {interrupted.iteration}; saved to "
                f"{run_dir.checkpoint}; resume with: python -m models.train_mnist "
                f"--resume {run_dir.work}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except DivergenceError as diverged:
            return _report_divergence(args, run_dir, history, diverged, last_checkpoint)
        # The graph of one training-sized batch: the shapes the training used.
        x_test, t_test = data[1]
        sample = (x_test[: args.batch_size], t_test[: args.batch_size])
        written = save_outputs(args, run_dir, model, history, sample, initial)
        run_folder.publish(run_dir)
        (run_dir.target / run_folder.CHECKPOINT).unlink(missing_ok=True)

    final = history.epochs[-1]
    train_s, eval_s = history.train_seconds, history.eval_seconds
    say(f"final: train acc {final['train_acc']:.4f}, test acc {final['test_acc']:.4f}")
    say(
        f"time: {train_s + eval_s:.1f} s = training {train_s:.1f} s "
        f"({args.iters / train_s:.0f} it/s) + evaluation {eval_s:.1f} s"
    )
    for what, path in written.items():
        say(f"{what:>8}: {path}")
    say(f"run folder: {run_dir.target}")
    return 0


@contextmanager
def blas_threads(count: int) -> Iterator[str]:
    """Limit the BLAS library's threads (threadpoolctl, so that the limit holds
    whatever the environment says); yield the counts now in force."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=count, user_api="blas"):
        counts = {
            i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"
        }
        yield ", ".join(map(str, sorted(counts))) or "none found"


def _restore(
    model: Classifier,
    optimizer: optim.Optimizer,
    rng: np.random.Generator,
    history: History,
    checkpointed: dict[str, Any],
) -> None:
    """Put a checkpoint's parameters, optimizer state, RNG state and metrics
    back, so that the next iteration is the one the interrupted run would
    have taken."""
    _load_params(model, checkpointed["params"], "the checkpoint")
    optimizer.load_state_dict(checkpointed["optimizer"])
    meta = checkpointed["meta"]
    rng.bit_generator.state = meta["rng"]
    for name, value in meta["history"].items():
        setattr(history, name, value)


def _load_params(model: Classifier, params: dict[str, np.ndarray], source: str) -> None:
    if params.keys() != model.params.keys():
        raise RunFolderError(
            f"{source} holds the parameters {sorted(params)}, but the model "
            f"{model!r} has {sorted(model.params)}"
        )
    misfits = [
        f"{name} {params[name].shape} (the model's {array.shape})"
        for name, array in model.params.items()
        if params[name].shape != array.shape  # copyto would broadcast a (784, 1)
    ]
    if misfits:
        raise RunFolderError(
            f"{source} holds parameters of other shapes than the model {model!r} "
            f"built from its metrics.json: {', '.join(misfits)}; the two files are "
            f"not of one run"
        )
    for name, array in model.params.items():
        np.copyto(array, params[name])  # in place: optimizers keep the arrays


def _report_divergence(
    args: argparse.Namespace,
    run_dir: RunFolder,
    history: History,
    diverged: DivergenceError,
    kept: int | None,
) -> int:
    metrics = write_metrics(
        run_dir.work / "metrics.json",
        args,
        history,
        diverged={"iteration": diverged.iteration, "reason": diverged.what},
    )
    saved = (
        f"the last finite checkpoint (iteration {kept}) is kept in {run_dir.checkpoint}"
        if kept is not None
        else f"no checkpoint was written before it (every {args.checkpoint_every} "
        f"iterations)"
    )
    pull = args.lr * args.weight_decay  # the share of each weight a step's decay takes
    cause = (
        f"The weight decay {args.weight_decay:g} at learning rate {args.lr:g} is the "
        f"likely cause: each step takes lr x decay = {pull:g} times every weight "
        f"from it; keep that well below 1, e.g. --weight-decay {0.1 / args.lr:g}"
        if pull >= 1
        else f"The learning rate {args.lr:g} is the likely cause; try a smaller "
        f"one, e.g. --lr {args.lr / 10:g}"
    )
    print(
        f"error: training diverged at iteration {diverged.iteration}: "
        f"{diverged.what}. {cause}. {saved[0].upper()}{saved[1:]}; "
        f"the metrics so far are in {metrics}.",
        file=sys.stderr,
    )
    return EXIT_DIVERGED


# -- evaluating a saved run ----------------------------------------------------------


def evaluate_run(args: argparse.Namespace, say: Callable[..., None]) -> int:
    """Test accuracy, loss and accuracy per class of a saved run."""
    config, params, initial = _saved_run(args.eval)
    saved = argparse.Namespace(**config)
    model = build_model(saved, np.random.default_rng(0))
    _load_params(model, params, str(args.eval))
    if args.filters is not None and not isinstance(model, SimpleConvNet):
        raise RunFolderError(
            f"--filters: {args.eval} is a run of {model!r}, which has no filters; "
            f"only --model convnet runs do"
        )
    if args.filters is not None and "W1" not in initial:
        raise RunFolderError(
            f"--filters: {args.eval} does not hold the filters before training "
            f"(a run trained before runs kept them)"
        )
    for name in EVAL_PICTURES:
        if getattr(args, name) is not None:
            check_output_folder(f"--{name}", getattr(args, name))
    data_dir = mnist_dir(args.data_dir)
    _, (x_test, t_test) = load_mnist(
        data_dir=data_dir, download=not args.no_download, progress=not args.quiet
    )
    x_test = x_test.astype(np.dtype(saved.dtype))
    with blas_threads(args.threads):
        predicted = np.argmax(model.predict(x_test), axis=1)
        loss = model.loss(x_test, t_test)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (t_test, predicted), 1)
    per_class = confusion.diagonal() / confusion.sum(axis=1)
    print(f"run: {args.eval} ({model!r})")
    print(
        f"test accuracy {confusion.trace() / len(t_test):.4f}, loss {loss:.4f} "
        f"({len(t_test)} images)"
    )
    classes = ", ".join(f"{digit}: {acc:.4f}" for digit, acc in enumerate(per_class))
    print(f"accuracy per class: {classes}")
    if args.confusion is not None:
        say(f"confusion matrix: {plot_confusion(confusion, args.confusion)}")
    if args.filters is not None:
        panels = before_and_after(initial, params)
        say(f"filters: {plot_filters(panels, args.filters)}")
    return 0


def _saved_run(
    path: Path,
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The configuration, parameters and kept initial values (a conv net's
    first filters, if the run kept them) of a finished or interrupted run."""
    if (path / "params.npz").is_file() and (path / "metrics.json").is_file():
        try:
            config = json.loads((path / "metrics.json").read_text())["config"]
        except (ValueError, KeyError) as error:
            raise RunFolderError(
                f"--eval {path}: metrics.json is not the training command's ({error})"
            ) from error
        kept = path / INITIAL_FILTERS
        initial = tinygrad_edu.load(kept) if kept.is_file() else {}
        return config, tinygrad_edu.load(path / "params.npz"), initial
    if (path / run_folder.CHECKPOINT).is_file():
        params, _, meta, initial = run_folder.load_checkpoint(
            path / run_folder.CHECKPOINT
        )
        return meta["config"], params, initial
    raise RunFolderError(
        f"--eval {path}: not a run folder (it needs params.npz and metrics.json, "
        f"or {run_folder.CHECKPOINT})"
    )


def plot_confusion(confusion: np.ndarray, path: Path) -> Path:
    """The confusion matrix (true class by row) with counts, as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 5.5), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(confusion, cmap="Blues")
    for (true, guess), count in np.ndenumerate(confusion):
        light = count > confusion.max() / 2
        axes.text(guess, true, str(count), ha="center", va="center", fontsize=7,
                  color="white" if light else "black")  # fmt: skip
    axes.set(
        xlabel="predicted digit",
        ylabel="true digit",
        xticks=range(10),
        yticks=range(10),
        title="confusion matrix (test set)",
    )
    figure.colorbar(image, ax=axes, shrink=0.8)
    return save_png(figure, path)


if __name__ == "__main__":
    sys.exit(main())
