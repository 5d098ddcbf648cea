"""The book's SimpleConvNet (chapter 7.5), with backprop done by autograd.

conv (30 filters 5x5, stride 1, pad 0) → ReLU → max-pool 2x2 → affine 100 →
ReLU → affine 10 → softmax cross entropy. The API is the book's: ``params``
holds plain ndarrays (W1, b1 for the convolution, W2, b2 and W3, b3 for the
affine layers), ``gradient`` returns a dict of the same keys, so the book's
``optimizer.update(network.params, grads)`` trains it. The book's hand-written
``Convolution`` and ``Pooling`` backward passes are not written here: the
registry's ``conv2d`` and ``max_pool2d`` are checked against central
differences like every other op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.classifier import Classifier
from tinygrad_edu import Tensor, no_grad
from tinygrad_edu import functional as F
from tinygrad_edu.errors import DomainError
from tinygrad_edu.recording import name_scope

#: The book's convolution: 30 filters of 5x5, stride 1, no padding.
BOOK_CONV = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}


class SimpleConvNet(Classifier):
    """conv → ReLU → max-pool → affine → ReLU → affine, on (N, 1, 28, 28) images.

    Inputs may also be flat rows of 784 pixels, as ``load_mnist`` gives them.
    ``weight_init_std`` is the book's 0.01, or ``"he"`` for He initialisation
    (std √(2 / fan-in) per layer), which starts learning at once.

    >>> net = SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3,
    ...     "pad": 0, "stride": 1}, 5, 3, rng=np.random.default_rng(0))
    >>> grads = net.gradient(np.ones((4, 64)), [0, 1, 2, 0])
    >>> {k: g.shape for k, g in grads.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'W1': (2, 1, 3, 3), 'b1': (2,), 'W2': (18, 5), 'b2': (5,),
     'W3': (5, 3), 'b3': (3,)}
    """

    #: Images per forward pass when predicting: im2col of all 10,000 test
    #: images at once would need gigabytes; chunks keep memory bounded.
    eval_batch = 1000

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: dict[str, int] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float | str = 0.01,
        *,
        dtype: Any = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        conv = {**BOOK_CONV, **(conv_param or {})}
        channels, height, width = input_dim
        filters, k = conv["filter_num"], conv["filter_size"]
        pad, stride = conv["pad"], conv["stride"]
        conv_h = (height + 2 * pad - k) // stride + 1
        conv_w = (width + 2 * pad - k) // stride + 1
        pooled = filters * (conv_h // 2) * (conv_w // 2)
        if weight_init_std != "he" and not isinstance(weight_init_std, (int, float)):
            raise DomainError(
                f"SimpleConvNet: weight_init_std must be a number or 'he', got "
                f"{weight_init_std!r}."
            )
        self.input_dim, self.conv_param = tuple(input_dim), conv
        self.weight_init_std = weight_init_std
        randn = (rng or np.random).standard_normal
        shapes = {
            "W1": (filters, channels, k, k),
            "W2": (pooled, hidden_size),
            "W3": (hidden_size, output_size),
        }
        self.params = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            fan_in = int(np.prod(shape[1:])) if name == "W1" else shape[0]
            std = np.sqrt(2 / fan_in) if weight_init_std == "he" else weight_init_std
            self.params[name] = (std * randn(shape)).astype(dtype)
            self.params[f"b{i}"] = np.zeros(shape[0 if name == "W1" else 1], dtype)

    def parameter_tensors(self) -> dict[str, Tensor]:
        # Tensors around params' own arrays: the book's in-place update trains.
        return {
            k: Tensor(a, requires_grad=True, name=k) for k, a in self.params.items()
        }

    def scores(self, x: Tensor, p: dict[str, Tensor]) -> Tensor:
        x = x.reshape(-1, *self.input_dim)
        with name_scope(type(self).__name__):
            with name_scope("Convolution"):
                z = F.conv2d(
                    x,
                    p["W1"],
                    p["b1"],
                    stride=self.conv_param["stride"],
                    pad=self.conv_param["pad"],
                )
            z = F.flatten(F.max_pool2d(z.relu(), 2))
            with name_scope("Affine"):
                z = (z @ p["W2"] + p["b2"]).relu()
            with name_scope("Affine"):
                return z @ p["W3"] + p["b3"]

    def _scores_array(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        p = self.parameter_tensors()
        with no_grad():
            chunks = [
                self.scores(Tensor(x[i : i + self.eval_batch]), p).data
                for i in range(0, len(x), self.eval_batch)
            ]
        return np.concatenate(chunks) if chunks else self.scores(Tensor(x), p).data

    def __repr__(self) -> str:
        c = self.conv_param
        std = self.weight_init_std
        return (
            f"{type(self).__name__}({self.input_dim}, filters={c['filter_num']}, "
            f"filter_size={c['filter_size']}, hidden_size="
            f"{self.params['W2'].shape[1]}, weight_init_std="
            f"{std if isinstance(std, str) else format(std, 'g')!r})"
        )
