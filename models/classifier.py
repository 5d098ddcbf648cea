"""What every classifier here shares: the book's methods, written once.

A subclass says how to turn inputs into class scores with Tensor ops
(``scores``) and which Tensors are its parameters (``parameter_tensors``);
``predict``, ``loss``, ``accuracy``, ``numerical_gradient`` and ``gradient``
follow from those, with the book's names and return types (ndarrays).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tinygrad_edu import Tensor, no_grad, numerical_gradient
from tinygrad_edu.errors import DTypeError


class Classifier:
    """Base of ``TwoLayerNet`` and ``MLP``: softmax over scores, cross-entropy loss."""

    #: Parameter arrays by name; updating them in place trains the model.
    params: dict[str, np.ndarray]

    def parameter_tensors(self) -> dict[str, Tensor]:
        """Tensors that share ``params``' arrays and require grad, by name."""
        raise NotImplementedError

    def scores(self, x: Tensor, p: dict[str, Tensor]) -> Tensor:
        """Unnormalised class scores of x, recorded with parameter Tensors p."""
        raise NotImplementedError

    def loss_graph(self, x: Any, t: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Record the loss; return it and the parameter Tensors it depends on.

        Exposed for ``gradient`` and for drawing the graph: the tensors are
        named so that a rendered graph reads like the book's figure. A Module's
        (``MLP``) are its own, kept between calls, so as in PyTorch their ``.grad``
        adds up over ``backward()`` calls until reset (``gradient`` resets it
        first); ``TwoLayerNet`` makes new ones around ``params``' arrays each call.
        """
        p = self.parameter_tensors()
        logits = self.scores(Tensor(x, name="x"), p)
        loss = logits.softmax_cross_entropy(Tensor(t, name="t"))
        loss.name = "loss"
        return loss, p

    def loss_and_gradient(self, x: Any, t: Any) -> tuple[float, dict[str, np.ndarray]]:
        """One forward and one backward pass: the loss and the gradient by backprop."""
        loss, p = self.loss_graph(x, t)
        for tensor in p.values():  # a Module's Parameters outlive one call
            tensor.grad = None
        loss.backward()
        return loss.item(), {k: tensor.grad.data for k, tensor in p.items()}

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """The gradient of the loss for every parameter, by backprop."""
        return self.loss_and_gradient(x, t)[1]

    def numerical_gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """The gradient by central differences: slow, the reference for backprop."""

        def loss_at(_: np.ndarray) -> float:  # reads the perturbed params itself
            return self.loss(x, t)

        narrow = sorted(k for k, a in self.params.items() if a.dtype != np.float64)
        if narrow:
            raise DTypeError(
                f"numerical_gradient: parameters {narrow} are not float64. Central "
                f"differences need float64 (in float32 the step 1e-4 is mostly "
                f"rounding, and they agree to about 3 digits); build the model with "
                f"dtype=np.float64 to check its gradient."
            )
        return {k: numerical_gradient(loss_at, a) for k, a in self.params.items()}

    def _scores_array(self, x: Any) -> np.ndarray:
        with no_grad():
            return self.scores(Tensor(x), self.parameter_tensors()).data

    def predict(self, x: Any) -> np.ndarray:
        """Class probabilities, one row per sample (the book's ``predict``)."""
        with no_grad():
            return Tensor(self._scores_array(x)).softmax(axis=-1).data

    def loss(self, x: Any, t: Any) -> float:
        """Mean cross-entropy loss; t as class labels or one-hot rows."""
        with no_grad():
            return Tensor(self._scores_array(x)).softmax_cross_entropy(t).item()

    def accuracy(self, x: Any, t: Any) -> float:
        """Fraction of samples whose highest score is the true class."""
        t = np.asarray(t)
        labels = t if t.ndim == 1 else np.argmax(t, axis=1)
        return float(np.mean(np.argmax(self._scores_array(x), axis=1) == labels))


@contextmanager
def evaluating(model: Classifier) -> Iterator[Classifier]:
    """Measure ``model`` in eval mode, then put its mode back.

    Dropout and BatchNorm behave differently while training; an accuracy is
    a test-time figure (the book's ``predict(x, train_flg=False)``). A model
    that is not an ``nn.Module`` (``TwoLayerNet``) has no mode and is unchanged.
    """
    training = getattr(model, "training", False)
    if training:
        model.eval()
    try:
        yield model
    finally:
        if training:
            model.train()
