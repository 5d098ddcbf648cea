"""A multilayer perceptron of any depth as an ``nn.Module``.

The framework-style counterpart of ``TwoLayerNet``: layers are ``nn.Linear``
modules, parameters are ``nn.Parameter``s, and it can be trained either the
PyTorch way (``loss.backward(); optimizer.step()``) or the book's way
(``optimizer.update(model.params, model.gradient(x, t))``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import numpy as np

from models.classifier import Classifier
from tinygrad_edu import Tensor, nn
from tinygrad_edu.errors import DomainError, ShapeError
from tinygrad_edu.function import check_writable

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


class MLP(nn.Module, Classifier):
    """Linear → activation, repeated once per hidden size, then a last Linear.

    Chapter 6's options, in the book's order (its ``MultiLayerNetExtend``):
    ``batch_norm=True`` puts a ``BatchNorm1d`` between each hidden Linear and
    its activation, and ``dropout=p`` a ``Dropout(p)`` after each activation.
    Both act only in ``train()`` mode; measure in ``eval()`` mode.

    >>> model = MLP(4, [8, 8], 3, activation="relu", rng=np.random.default_rng(0))
    >>> model(np.ones((2, 4))).shape
    (2, 3)
    >>> model
    MLP(4, [8, 8], 3, activation='relu', init='he')
    >>> list(model.params)
    ['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias', \
'layers.4.weight', 'layers.4.bias']
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: Sequence[int],
        output_size: int,
        *,
        activation: str = "sigmoid",
        init: str | None = None,
        std: float = 0.01,
        batch_norm: bool = False,
        dropout: float = 0.0,
        dtype: Any = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise DomainError(
                f"MLP: unknown activation {activation!r}; "
                f"use one of {sorted(ACTIVATIONS)}."
            )
        # He init suits ReLU; Xavier suits the saturating sigmoid and tanh.
        init = init or ("he" if activation == "relu" else "xavier")
        sizes = [input_size, *hidden_sizes, output_size]
        # What __repr__ prints: the arguments that rebuild the same architecture.
        self._arguments = (
            f"{input_size}, {list(hidden_sizes)}, {output_size}, "
            f"activation={activation!r}, init={init!r}"
            + (f", std={std:g}" if init == "normal" else "")
            + (", batch_norm=True" if batch_norm else "")
            + (f", dropout={dropout:g}" if dropout else "")
            + ("" if np.dtype(dtype) == np.float64 else f", dtype={np.dtype(dtype)}")
        )
        linear = functools.partial(nn.Linear, init=init, std=std, dtype=dtype, rng=rng)
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(sizes[:-1]):
            layers.append(linear(n_in, n_out))
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out, dtype=dtype))
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout, rng=rng))
        layers.append(linear(sizes[-2], sizes[-1]))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Any) -> Tensor:
        return self.layers(x)

    def __repr__(self) -> str:
        # One line, like a constructor call; repr(model.layers) shows the layers.
        return f"MLP({self._arguments})"

    @property
    def params(self) -> ParamArrays:
        """The parameters' arrays themselves (not copies), by dotted name."""
        return ParamArrays(dict(self.named_parameters()))

    def parameter_tensors(self) -> dict[str, Tensor]:
        return dict(self.named_parameters())

    def scores(self, x: Tensor, p: dict[str, Tensor]) -> Tensor:
        return self(x)  # the Linear layers hold the tensors in p themselves


class ParamArrays(MutableMapping):
    """``MLP.params``: each parameter's array by dotted name, as the book's
    ``params`` dict. Assigning an array (``params["layers.0.weight"] = w``) copies
    it into the parameter, which must keep its shape; the names are the
    model's, so none can be added or removed."""

    def __init__(self, parameters: dict[str, nn.Parameter]) -> None:
        self._parameters = parameters

    def __getitem__(self, name: str) -> np.ndarray:
        return self._parameters[name].data

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self._parameters:
            raise KeyError(
                f"MLP.params has no parameter {name!r}; its names are "
                f"{list(self._parameters)}"
            )
        array = self._parameters[name].data
        value = np.asarray(value)
        if value.shape != array.shape:
            raise ShapeError(
                f"MLP.params[{name!r}] = an array of shape {value.shape}: the "
                f"parameter has shape {array.shape}, which it keeps"
            )
        check_writable(array, f"MLP.params[{name!r}]")
        np.copyto(array, value, casting="same_kind")

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"MLP.params: the parameter {name!r} cannot be removed")

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __len__(self) -> int:
        return len(self._parameters)
