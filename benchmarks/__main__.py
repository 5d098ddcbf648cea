"""The benchmark suite: ``python -m benchmarks [--quick] [--json PATH]``.

Each row's sides run in this process, timed in turn (see timing.py), and the
row reports their medians and ratios. (The PyTorch rows come from a child
process of their own, see pytorch.py.)
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.conv_reference import BookSimpleConvNet, TightSimpleConvNet
from benchmarks.drawing import drawing
from benchmarks.reference import HandDerivedTwoLayerNet, TightTwoLayerNet
from benchmarks.timing import interleaved, keep_freed_memory, page_faults_interleaved
from models.simple_conv_net import SimpleConvNet
from models.train_mnist import History, training_iterations
from models.two_layer_net import TwoLayerNet
from tinygrad_edu import Tensor, gradcheck, optim
from tinygrad_edu._files import atomic_write
from tinygrad_edu.datasets import load_mnist, sample_batch

Row = dict[str, Any]


def sgd_step(model: Any, x: np.ndarray, t: np.ndarray, lr: float = 0.1) -> None:
    """Forward, backward and the book's in-place SGD update."""
    _, grads = model.loss_and_gradient(x, t)
    for key, grad in grads.items():
        model.params[key] -= lr * grad


def random_batch(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped images in [0, 1) and labels 0-9: the step benchmarks' input."""
    return rng.random((batch, 784)), rng.integers(0, 10, batch)


#: The hand-derived NumPy steps ours is measured against (see reference.py):
#: the book's, and the tightest we know, which does none of the book's extra work.
REFERENCES = {"book": HandDerivedTwoLayerNet, "tight": TightTwoLayerNet}


def with_references(ours: TwoLayerNet) -> dict[str, Any]:
    """Our net and each reference, on copies of the same weights."""
    return {"ours": ours, **{k: cls(ours.params) for k, cls in REFERENCES.items()}}


def ratios(figures: dict[str, float], name: str = "ratio") -> dict[str, float]:
    """Our figure over each reference's: ``ratio_book`` and ``ratio_tight``."""
    return {f"{name}_{k}": figures["ours"] / figures[k] for k in REFERENCES}


def training_step(
    dtype: str, batch: int, hidden: int, repeats: int, seconds: float = 0.0
) -> Row:
    """Our step and both references' on the same weights and batch, in turn."""
    rng = np.random.default_rng(0)
    x, t = random_batch(rng, batch)
    x = x.astype(dtype)
    models = with_references(
        TwoLayerNet(784, hidden, 10, dtype=np.dtype(dtype), rng=rng)
    )
    steps = [partial(sgd_step, model, x, t) for model in models.values()]
    times = dict(zip(models, interleaved(steps, repeats, seconds=seconds)))
    faults = dict(zip(models, page_faults_interleaved(steps)))
    return {
        "benchmark": "training step",
        "case": f"{dtype} batch {batch} hidden {hidden}",
        **{f"{k}_ms": s * 1e3 for k, s in times.items()},
        **ratios(times),
        **{f"{k}_faults": n for k, n in faults.items()},
    }


def float32_vs_float64(
    batch: int, hidden: int, repeats: int, seconds: float = 0.0
) -> Row:
    """Our step in float32 against ours in float64, the two interleaved.

    The step rows of the two dtypes are measured minutes apart, at whatever
    speed the machine had then; this ratio is measured side by side.
    """
    rng = np.random.default_rng(0)
    x64, t = random_batch(rng, batch)
    x32 = x64.astype(np.float32)
    net64 = TwoLayerNet(784, hidden, 10, rng=np.random.default_rng(1))
    net32 = TwoLayerNet(784, hidden, 10, dtype=np.float32, rng=np.random.default_rng(1))
    t32, t64 = interleaved(
        [lambda: sgd_step(net32, x32, t), lambda: sgd_step(net64, x64, t)],
        repeats,
        seconds=seconds,
    )
    return {
        "benchmark": "float32 vs float64, ours",
        "case": f"batch {batch} hidden {hidden}",
        "float32_ms": t32 * 1e3,
        "float64_ms": t64 * 1e3,
        "ratio": t32 / t64,
    }


def peak_memory() -> Row:
    """Peak bytes allocated during one training step (tracemalloc sees NumPy's)."""
    rng = np.random.default_rng(0)
    x, t = random_batch(rng, 100)
    ours = TwoLayerNet(784, 50, 10, rng=rng)
    hand = HandDerivedTwoLayerNet(ours.params)
    peaks = []
    for model in (ours, hand):
        sgd_step(model, x, t)  # warm caches outside the measurement
        tracemalloc.start()
        sgd_step(model, x, t)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return {
        "benchmark": "peak memory of a step",
        "case": "float64 batch 100 hidden 50",
        "ours_kib": peaks[0] / 1024,
        "book_kib": peaks[1] / 1024,
        "ratio": peaks[0] / peaks[1],
    }


# -- convolution (issue 23): SimpleConvNet against the book's hand-written layers

#: The hand-written NumPy SimpleConvNets ours is measured against (see
#: conv_reference.py), under the same names as the two-layer references.
CONV_REFERENCES = {"book": BookSimpleConvNet, "tight": TightSimpleConvNet}


def conv_models(dtype: str) -> dict[str, Any]:
    """Our SimpleConvNet (the book's sizes, He init) and each reference, on
    copies of the same weights."""
    rng = np.random.default_rng(0)
    ours = SimpleConvNet(weight_init_std="he", dtype=np.dtype(dtype), rng=rng)
    return {"ours": ours, **{k: cls(ours.params) for k, cls in CONV_REFERENCES.items()}}


def conv_training_step(dtype: str, batch: int, repeats: int, seconds: float) -> Row:
    """One SimpleConvNet step, ours and the references', in turn, one BLAS
    thread: forward, backward and the book's in-place SGD update."""
    x, t = random_batch(np.random.default_rng(0), batch)
    models = conv_models(dtype)
    steps = [partial(sgd_step, m, x.astype(dtype), t) for m in models.values()]
    with threadpool_limits(limits=1, user_api="blas"):
        times = interleaved(steps, repeats, warmup=3, seconds=seconds)
    times = dict(zip(models, times))
    return {
        "benchmark": "SimpleConvNet training step",
        "case": f"{dtype} batch {batch}, 1 BLAS thread",
        **{f"{k}_ms": s * 1e3 for k, s in times.items()},
        **ratios(times),
    }


def conv_peak_memory(dtype: str, batch: int) -> Row:
    """Peak bytes allocated during one SimpleConvNet step (tracemalloc)."""
    x, t = random_batch(np.random.default_rng(0), batch)
    x = x.astype(dtype)
    peaks = {}
    for name, model in conv_models(dtype).items():
        sgd_step(model, x, t)  # warm caches outside the measurement
        tracemalloc.start()
        sgd_step(model, x, t)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "benchmark": "peak memory of a SimpleConvNet step",
        "case": f"{dtype} batch {batch}",
        **{f"{k}_mib": n / 2**20 for k, n in peaks.items()},
        **ratios(peaks),
    }


def matmul_limit(batch: int, hidden: int, repeats: int) -> Row:
    """The floor under a step: its five matmuls at this machine's BLAS rate.

    Forward is x @ W1 and z1 @ W2. Backward is z1ᵀ @ dy and dy @ W2ᵀ for the
    second layer and xᵀ @ dz1 for W1 (nobody needs the gradient of x).
    """
    rng = np.random.default_rng(0)
    x, w1 = rng.random((batch, 784)), rng.random((784, hidden))
    z1, w2 = rng.random((batch, hidden)), rng.random((hidden, 10))
    dy = rng.random((batch, 10))

    def five_matmuls() -> None:
        x @ w1, z1 @ w2, z1.T @ dy, dy @ w2.T, x.T @ z1

    (seconds,) = interleaved([five_matmuls], repeats)
    flops = 2 * batch * hidden * (2 * 784 + 3 * 10)
    return {
        "benchmark": "matmul floor of a step",
        "case": f"float64 batch {batch} hidden {hidden}",
        "matmul_ms": seconds * 1e3,
        "gflops": flops / seconds / 1e9,
    }


def op_chain(n: int, repeats: int) -> Row:
    """Build y = y * 1.0 n times on a 3-element tensor, then backprop it.

    The figures are those of the repeat with the median total time.
    """
    runs = []
    for _ in range(repeats):
        x = Tensor(np.ones(3), requires_grad=True)
        start = time.perf_counter()
        y = x
        for _ in range(n):
            y = y * 1.0
        built = time.perf_counter()
        y.sum().backward()
        done = time.perf_counter()
        del x, y  # free this chain before the next one is built
        runs.append((done - start, built - start, done - built))
    total, forward, backward = sorted(runs)[len(runs) // 2]
    return {
        "benchmark": "per-op overhead",
        "case": f"chain of {n:.0e} muls",
        "forward_us_per_op": forward / n * 1e6,
        "backward_us_per_op": backward / n * 1e6,
        "us_per_op": total / n * 1e6,
    }


def full_run(data: Any, iters: int) -> Row:
    """The default training run, ours and the same loop on each reference.

    The loops run in lockstep, one iteration of each in turn (A B C, C B A, ...),
    and each side's time is summed over its own iterations: separate runs of
    6-12 s each gave medians from 0.64 to 1.21 for the same code, as the
    machine changed speed in between. Evaluation is not counted, as in train().
    The ratios of the median iterations are reported beside the wall-time
    ratios: where they differ, a burst of load on the machine weighed on a side.
    """
    rng = np.random.default_rng(0)
    models = with_references(TwoLayerNet(784, 50, 10, rng=rng))
    histories = {k: History() for k in models}
    loops = {
        k: training_iterations(
            model,
            optim.SGD(lr=0.1),
            data,
            histories[k],
            iters=iters,
            batch_size=100,
            rng=copy.deepcopy(rng),  # the same batches for every side
        )
        for k, model in models.items()
    }
    order = list(loops)
    seconds: dict[str, list[float]] = {name: [] for name in order}
    for i in range(iters + 1):  # the last next() runs the final evaluation
        for name in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            next(loops[name], None)
            seconds[name].append(time.perf_counter() - start)
    totals = {k: sum(seconds[k]) - histories[k].eval_seconds for k in order}
    # The next() calls that also evaluated are left out of the medians.
    evaluated = {row["iteration"] for row in histories["ours"].epochs}
    medians = {
        k: statistics.median(t for i, t in enumerate(s) if i not in evaluated)
        for k, s in seconds.items()
    }
    return {
        "benchmark": "full training run",
        "case": f"book defaults, {iters} iterations, in lockstep",
        **{f"{k}_s": s for k, s in totals.items()},
        **ratios(totals),
        **ratios(medians, "median_iteration_ratio"),
        **{f"{k}_test_acc": h.epochs[-1]["test_acc"] for k, h in histories.items()},
    }


def loading_mnist(data_dir: Path | None, repeats: int) -> Row:
    """Seconds per ``load_mnist`` call: it keeps no cache, so every call reads
    the four files and checks them, and this is what that costs."""
    (seconds,) = interleaved(
        [lambda: load_mnist(data_dir=data_dir, progress=False)], repeats, warmup=1
    )
    return {
        "benchmark": "loading MNIST",
        "case": "load_mnist(), the four files read and checked",
        "seconds": seconds,
    }


def gradient_checking(quick: bool) -> list[Row]:
    """What checking costs: gradcheck full vs fast, numerical gradient vs backprop."""
    rng = np.random.default_rng(0)
    size = (64, 16, 10) if quick else (784, 50, 10)
    net = TwoLayerNet(*size, rng=rng)
    x, t = rng.random((20, size[0])), rng.integers(0, 10, 20)
    rows = []

    small = TwoLayerNet(20, 8, 10, rng=rng)
    xs = Tensor(rng.random((5, 20)))

    def loss_fn(*params: Tensor) -> Tensor:
        p = dict(zip(small.params, params))
        return small.scores(xs, p).softmax_cross_entropy(t[:5])

    tensors = list(small.parameter_tensors().values())
    full, fast = interleaved(
        [
            lambda: gradcheck(loss_fn, tensors),
            lambda: gradcheck(loss_fn, tensors, fast_mode=True),
        ],
        repeats=3 if quick else 7,
        warmup=1,
    )
    n_params = sum(a.size for a in small.params.values())
    rows.append(
        {
            "benchmark": "gradcheck",
            "case": f"TwoLayerNet 20-8-10 ({n_params} params)",
            "full_ms": full * 1e3,
            "fast_mode_ms": fast * 1e3,
            "ratio": full / fast,
        }
    )
    start = time.perf_counter()
    net.numerical_gradient(x, t)
    numerical = time.perf_counter() - start
    (backprop,) = interleaved([lambda: net.gradient(x, t)], repeats=20)
    n_params = sum(a.size for a in net.params.values())
    rows.append(
        {
            "benchmark": "numerical gradient vs backprop",
            "case": f"TwoLayerNet {'-'.join(map(str, size))} ({n_params} params)",
            "numerical_s": numerical,
            "backprop_s": backprop,
            "ratio": numerical / backprop,
        }
    )
    return rows


def soak(data: Any, steps: int) -> Row:
    """Memory over many training steps: a leak shows as steady growth."""
    (x_train, t_train), _ = data
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 50, 10, rng=rng)
    tracemalloc.start()
    samples = []
    for i in range(steps):
        sgd_step(net, *sample_batch(x_train, t_train, 100, rng))
        if i % (steps // 10) == 0 or i == steps - 1:  # the last step too
            gc.collect()
            samples.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    return {
        "benchmark": "memory over a long run",
        "case": f"{steps} training steps",
        "first_kib": samples[1] / 1024,
        "last_kib": samples[-1] / 1024,
        "growth_kib": (samples[-1] - samples[1]) / 1024,
    }


def pytorch_steps(repeats: int) -> list[Row]:
    """The same steps in PyTorch CPU eager, if installed, at one thread each.

    Run in a child process, which sets the thread counts before NumPy and
    PyTorch load: see benchmarks/pytorch.py for why.
    """
    one_thread = {f"{lib}_NUM_THREADS": "1" for lib in ("OPENBLAS", "OMP", "MKL")}
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.pytorch", str(repeats)],
        env={**os.environ, **one_thread},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
    )
    if child.returncode:  # the other rows are measured: report, do not lose them
        print(
            f"warning: no PyTorch rows; python -m benchmarks.pytorch failed:\n"
            f"{child.stderr}",
            file=sys.stderr,
        )
        return []
    return json.loads(child.stdout)


def run_suite(quick: bool, data_dir: Path | None) -> list[Row]:
    repeats = 30 if quick else 300
    seconds = 0.0 if quick else 3.0  # per step row: 3,000 pairs at batch 100
    # MNIST first: without it the suite stops here, not after minutes of timing.
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=data_dir, progress=False)
    data = ((x_train.astype(np.float64), t_train), (x_test.astype(np.float64), t_test))
    rows: list[Row] = [loading_mnist(data_dir, repeats=3 if quick else 7)]
    _progress(rows[-1])
    for dtype in ("float64", "float32"):
        for batch, hidden in ((100, 50), (1000, 50), (100, 1000)):
            rows.append(training_step(dtype, batch, hidden, repeats, seconds))
            _progress(rows[-1])
    for batch, hidden in ((100, 50), (1000, 50), (100, 1000)):
        rows.append(float32_vs_float64(batch, hidden, repeats, seconds))
    for batch, hidden in ((100, 50), (1000, 50), (100, 1000)):
        rows.append(matmul_limit(batch, hidden, repeats))
    rows.append(peak_memory())
    for dtype in ("float64", "float32"):
        rows.append(conv_training_step(dtype, 100, 5 if quick else 40, seconds))
        _progress(rows[-1])
        rows.append(conv_peak_memory(dtype, 100))
    for n in (10**3, 10**4) if quick else (10**3, 10**4, 10**5, 10**6):
        # At least 3 chains, and 1e5 ops in all: short chains are noisy alone.
        rows.append(op_chain(n, repeats=1 if quick else max(3, 10**5 // n)))
        _progress(rows[-1])
    rows.append(full_run(data, iters=300 if quick else 10_000))
    _progress(rows[-1])
    rows.extend(gradient_checking(quick))
    rows.append(soak(data, steps=1_000 if quick else 20_000))
    rows.extend(graph_drawing(quick))
    rows.extend(pytorch_steps(repeats))
    return rows


def graph_drawing(quick: bool) -> list[Row]:
    """Render time against graph size (see drawing.py), if Graphviz is installed."""
    if shutil.which("dot") is None:  # the other rows are measured: report, go on
        print(
            "warning: no drawing rows; Graphviz's dot is not installed", file=sys.stderr
        )
        return []
    rows = drawing(quick)
    for row in rows:
        _progress(row)
    return rows


def _progress(row: Row) -> None:
    print(f"  measured {row['benchmark']}: {row['case']}", file=sys.stderr, flush=True)


def format_table(rows: Sequence[Row]) -> str:
    lines = ["| benchmark | case | figures |", "| --- | --- | --- |"]
    for row in rows:
        figures = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in row.items()
            if k not in ("benchmark", "case")
        )
        lines.append(f"| {row['benchmark']} | {row['case']} | {figures} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--data-dir", type=Path, help="where the MNIST files are")
    args = parser.parse_args(argv)
    kept = keep_freed_memory()
    rows = run_suite(args.quick, args.data_dir)
    print(format_table(rows))
    if args.json:
        machine = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "quick": args.quick,
            "malloc_keeps_freed_memory": kept,
        }
        with atomic_write(args.json, "w") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
