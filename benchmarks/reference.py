"""The book's two-layer network with backprop derived by hand, in plain NumPy.

This is the baseline every speed ratio is measured against: chapter 4.5's
forward pass and chapter 5's hand-derived gradient, written out as the book
derives them (``sigmoid_grad`` recomputes the sigmoid, as the book's does).
The loss uses the labels directly, like ours; nothing here uses tinygrad_edu.
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
