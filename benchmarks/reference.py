"""The book's two-layer network with backprop derived by hand, in plain NumPy.

The baselines the speed ratios are measured against; nothing here uses
tinygrad_edu. ``HandDerivedTwoLayerNet`` is chapter 4.5's forward pass and
chapter 5's hand-derived gradient as the book writes them (``sigmoid_grad``
recomputes the sigmoid, as the book's does). ``TightTwoLayerNet`` is the
fastest plain NumPy we know for the same step, so that a ratio against the
book's code cannot flatter us by the book's extra work. Both losses use the
labels directly, like ours.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) = inf gives the correct 0
        return 1 / (1 + np.exp(-x))


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    return (1.0 - sigmoid(x)) * sigmoid(x)


def softmax(x: np.ndarray) -> np.ndarray:
    x = x - np.max(x, axis=-1, keepdims=True)  # against overflow
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class HandDerivedTwoLayerNet:
    """TwoLayerNet whose ``loss_and_gradient`` is chapter 5's formulas."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.params = {k: v.copy() for k, v in params.items()}

    def predict(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        z1 = sigmoid(x @ p["W1"] + p["b1"])
        return softmax(z1 @ p["W2"] + p["b2"])

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.predict(x), axis=1) == t))

    def loss_and_gradient(
        self, x: np.ndarray, t: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        p = self.params
        batch_num = x.shape[0]
        a1 = x @ p["W1"] + p["b1"]
        z1 = sigmoid(a1)
        a2 = z1 @ p["W2"] + p["b2"]
        y = softmax(a2)
        loss = cross_entropy_error(y, t)

        dy = y.copy()
        dy[np.arange(batch_num), t] -= 1  # y - one_hot(t)
        dy /= batch_num
        grads = {"W2": z1.T @ dy, "b2": np.sum(dy, axis=0)}
        dz1 = sigmoid_grad(a1) * (dy @ p["W2"].T)
        grads["W1"] = x.T @ dz1
        grads["b1"] = np.sum(dz1, axis=0)
        return loss, grads


class TightTwoLayerNet(HandDerivedTwoLayerNet):
    """The same network and step with nothing computed twice.

    The forward pass runs once and the backward reuses its results: the
    sigmoid's derivative is ``(1 - z1) * z1`` from its output, the softmax's
    exponentials give both the loss (through the stable log-softmax, so no
    ``+ 1e-7``) and the gradient, and the labels pick their entries by
    indexing instead of a one-hot matrix.
    """

    def loss_and_gradient(
        self, x: np.ndarray, t: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        p = self.params
        batch_num = x.shape[0]
        rows = np.arange(batch_num)
        z1 = sigmoid(x @ p["W1"] + p["b1"])
        a2 = z1 @ p["W2"] + p["b2"]
        shifted = a2 - np.max(a2, axis=1, keepdims=True)  # against overflow
        exp = np.exp(shifted)
        total = np.sum(exp, axis=1, keepdims=True)
        loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, t]))

        dy = exp / total  # the softmax
        dy[rows, t] -= 1
        dy /= batch_num
        grads = {"W2": z1.T @ dy, "b2": np.sum(dy, axis=0)}
        dz1 = (dy @ p["W2"].T) * (1 - z1) * z1
        grads["W1"] = x.T @ dz1
        grads["b1"] = np.sum(dz1, axis=0)
        return loss, grads
