"""The training step in PyTorch CPU eager beside ours, one thread each.

``python -m benchmarks`` runs this module as a child process whose
environment sets one thread for NumPy's BLAS and for PyTorch before either
loads (both read their thread counts then). With both at the machine's two
threads in one process, the two thread pools took the cores from each other:
our step ran 2x slower than alone and PyTorch's 1.8x slower than at one
thread. The child prints its rows as JSON, none if PyTorch is not installed
(it is not a dependency).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from benchmarks.__main__ import Row, random_batch, sgd_step
from benchmarks.timing import interleaved, keep_freed_memory
from models.two_layer_net import TwoLayerNet


def torch_steps_against_ours(repeats: int) -> list[Row]:
    """The step at each of the suite's sizes, in float64; [] without PyTorch."""
    try:
        import torch
    except ImportError:
        return []
    torch.set_num_threads(1)
    sizes = ((100, 50), (1000, 50), (100, 1000))
    return [_step_against_ours(torch, b, h, repeats) for b, h in sizes]


def _step_against_ours(torch: Any, batch: int, hidden: int, repeats: int) -> Row:
    """Both steps on the same weights and batch, checked equal, then timed."""
    rng = np.random.default_rng(0)
    x, t = random_batch(rng, batch)
    ours = TwoLayerNet(784, hidden, 10, rng=rng)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in ours.params.items()}
    tx, tt = torch.tensor(x), torch.tensor(t)

    def torch_gradient() -> dict[str, Any]:
        h = torch.sigmoid(tx @ tp["W1"] + tp["b1"])
        loss = torch.nn.functional.cross_entropy(h @ tp["W2"] + tp["b2"], tt)
        loss.backward()
        return {k: p.grad for k, p in tp.items()}

    def torch_step() -> None:
        grads = torch_gradient()
        with torch.no_grad():
            for k, p in tp.items():
                p -= 0.1 * grads[k]
                p.grad = None

    # A ratio means something only if both sides compute the same step.
    expected = ours.gradient(x, t)
    for key, grad in torch_gradient().items():
        np.testing.assert_allclose(grad.numpy(), expected[key], rtol=1e-9, atol=1e-15)
        tp[key].grad = None

    t_ours, t_torch = interleaved([lambda: sgd_step(ours, x, t), torch_step], repeats)
    return {
        "benchmark": "vs PyTorch",
        "case": f"float64 batch {batch} hidden {hidden}, one thread, "
        f"torch {torch.__version__}",
        "ours_ms": t_ours * 1e3,
        "torch_ms": t_torch * 1e3,
        "ratio": t_ours / t_torch,
    }


if __name__ == "__main__":
    keep_freed_memory()
    print(json.dumps(torch_steps_against_ours(int(sys.argv[1]))))
