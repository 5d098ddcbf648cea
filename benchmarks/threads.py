"""BLAS threads under load: ``python -m benchmarks.threads [--iters N] [--repeats R]``.

Training iterations per second of the training command's loop with 1 and 2
BLAS threads (set with threadpoolctl, as ``--threads`` does), first on the
machine as it is, then with one core kept busy by another process (a Python
busy loop, what a second program or a notebook kernel does to a laptop). The
load average printed with each row says how quiet "as it is" was.
Each block of iterations alternates the thread counts, so that a change in
the machine's speed weighs on both; the medians and their ratio are printed.
OpenBLAS's threads spin while they wait for work: on a core that another
process holds, that waiting is what makes two threads slower than one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from models.train_mnist import History, build_model, build_optimizer, parse_args
from models.train_mnist import training_iterations as loop
from tinygrad_edu.datasets import load_mnist

CONFIGS = {"book": [], "best": ["--preset", "best"]}


def iterations_per_second(args: Any, data: Any, threads: int, iters: int) -> float:
    """A fresh model trained ``iters`` steps with ``threads`` BLAS threads."""
    rng = np.random.default_rng(0)
    model, optimizer = build_model(args, rng), build_optimizer(args)
    steps = loop(
        model, optimizer, data, History(), iters=iters, batch_size=100, rng=rng
    )
    with threadpool_limits(limits=threads, user_api="blas"):
        next(steps)  # the first evaluation, not timed
        start = time.perf_counter()
        for _ in range(iters - 1):
            next(steps)
        return (iters - 1) / (time.perf_counter() - start)


def busy_core() -> subprocess.Popen:
    """Another process that keeps one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(iters: int, repeats: int) -> list[dict[str, Any]]:
    (x, t), (xt, tt) = load_mnist(progress=False)
    data = ((x.astype(np.float64), t), (xt.astype(np.float64), tt))
    rows = []
    for load in ("as it is", "plus one busy core"):
        other = busy_core() if load != "as it is" else None
        try:
            for name, argv in CONFIGS.items():
                args = parse_args([*argv, "--iters", str(iters)])
                rates: dict[int, list[float]] = {1: [], 2: []}
                for repeat in range(repeats):
                    for threads in (1, 2) if repeat % 2 == 0 else (2, 1):
                        rates[threads].append(
                            iterations_per_second(args, data, threads, iters)
                        )
                one, two = (statistics.median(rates[n]) for n in (1, 2))
                rows.append(
                    {
                        "machine": load,
                        "config": name,
                        "1 thread it/s": round(one),
                        "2 threads it/s": round(two),
                        "2 / 1": round(two / one, 2),
                        "load average": round(os.getloadavg()[0], 2),
                    }
                )
                print(rows[-1], flush=True)
        finally:
            if other is not None:
                other.kill()
                other.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads")
    parser.add_argument("--iters", type=int, default=400, help="steps per block")
    parser.add_argument("--repeats", type=int, default=6, help="blocks per count")
    options = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {options.repeats} blocks of {options.iters} steps")
    measure(options.iters, options.repeats)


if __name__ == "__main__":
    main()
