"""The book's SimpleConvNet with every backward written by hand, in plain NumPy.

The baseline the convolution benchmark measures ``models.SimpleConvNet``
against; nothing here uses tinygrad_edu. It follows the book's chapter 7:
``im2col`` / ``col2im`` by a loop over the window's cells, a ``Convolution``
layer that multiplies the columns by the flattened filters, a ``Pooling``
layer that keeps each window's argmax for its backward, then ReLU, Affine and
softmax with cross entropy, each with its hand-derived backward.

Two adaptations, both in the book's favour or neutral: the columns are made in
the input's dtype (the book's ``np.zeros`` would turn a float32 step into
float64), and the loss takes the labels directly, like ours. ``TightSimpleConvNet``
also skips the one gradient nobody uses, the input images' (the book's first
Convolution computes it; ours, like PyTorch, never does).
"""

from __future__ import annotations

import numpy as np

from benchmarks.reference import cross_entropy_error, softmax


def im2col(x: np.ndarray, fh: int, fw: int, stride: int, pad: int) -> np.ndarray:
    """(N, C, H, W) images as rows of windows, (N·OH·OW, C·FH·FW)."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow), dtype=x.dtype)
    for y in range(fh):
        for x_ in range(fw):
            col[:, :, y, x_] = img[
                :, :, y : y + stride * oh : stride, x_ : x_ + stride * ow : stride
            ]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(
    col: np.ndarray, shape: tuple, fh: int, fw: int, stride: int, pad: int
) -> np.ndarray:
    """Rows of windows added back into images of ``shape``: im2col's adjoint."""
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    padded = (h + 2 * pad + stride - 1, w + 2 * pad + stride - 1)  # as the book's
    img = np.zeros((n, c, *padded), dtype=col.dtype)
    for y in range(fh):
        for x_ in range(fw):
            img[:, :, y : y + stride * oh : stride, x_ : x_ + stride * ow : stride] += (
                col[:, :, y, x_]
            )
    return img[:, :, pad : h + pad, pad : w + pad]


class Convolution:
    def __init__(self, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> None:
        self.w, self.b, self.stride, self.pad = w, b, stride, pad
        self.input_gradient = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        fn, _, fh, fw = self.w.shape
        n, _, h, w = x.shape
        oh = (h + 2 * self.pad - fh) // self.stride + 1
        ow = (w + 2 * self.pad - fw) // self.stride + 1
        self.x_shape = x.shape
        self.col = im2col(x, fh, fw, self.stride, self.pad)
        self.col_w = self.w.reshape(fn, -1).T
        out = self.col @ self.col_w + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        fn, c, fh, fw = self.w.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(dout, axis=0)
        self.dw = (self.col.T @ dout).transpose(1, 0).reshape(fn, c, fh, fw)
        if not self.input_gradient:
            return None
        dcol = dout @ self.col_w.T
        return col2im(dcol, self.x_shape, fh, fw, self.stride, self.pad)


class Pooling:
    def __init__(self, size: int) -> None:
        self.size = size

    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        k = self.size
        oh, ow = (h - k) // k + 1, (w - k) // k + 1
        col = im2col(x, k, k, k, 0).reshape(-1, k * k)
        self.x_shape, self.arg_max = x.shape, np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        return out.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        k = self.size
        dout = dout.transpose(0, 2, 3, 1)
        dmax = np.zeros((dout.size, k * k), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x_shape, k, k, k, 0)


class Relu:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class Affine:
    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        self.w, self.b = w, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.w + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dw, self.db = self.x.T @ dout, np.sum(dout, axis=0)
        return (dout @ self.w.T).reshape(self.x_shape)


class BookSimpleConvNet:
    """conv → ReLU → pool → affine → ReLU → affine → softmax-with-loss, by hand,
    on a copy of ``params`` (W1, b1 ... W3, b3), the book's SGD-ready API."""

    def __init__(self, params: dict[str, np.ndarray], stride: int = 1, pad: int = 0):
        self.params = {k: v.copy() for k, v in params.items()}
        p = self.params
        self.conv = Convolution(p["W1"], p["b1"], stride, pad)
        self.layers = [
            self.conv,
            Relu(),
            Pooling(2),
            Affine(p["W2"], p["b2"]),
            Relu(),
            Affine(p["W3"], p["b3"]),
        ]

    def loss_and_gradient(
        self, x: np.ndarray, t: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        channels = self.params["W1"].shape[1]
        side = int(np.sqrt(x[0].size // channels))
        out = x.reshape(-1, channels, side, side)
        for layer in self.layers:
            out = layer.forward(out)
        y = softmax(out)
        loss = cross_entropy_error(y, t)
        dout = y.copy()
        dout[np.arange(len(t)), t] -= 1
        dout /= len(t)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        conv, fc1, fc2 = self.layers[0], self.layers[3], self.layers[5]
        grads = {"W1": conv.dw, "b1": conv.db, "W2": fc1.dw, "b2": fc1.db}
        return loss, {**grads, "W3": fc2.dw, "b3": fc2.db}


class TightSimpleConvNet(BookSimpleConvNet):
    """The book's network without the input images' gradient, which nobody uses."""

    def __init__(self, params: dict[str, np.ndarray], stride: int = 1, pad: int = 0):
        super().__init__(params, stride, pad)
        self.conv.input_gradient = False
