"""The error catalogue: bad input across the public API, and what the user is told.

Each case is (what the user did, the call, the exception type, fragments the
message must contain). Fragments name the op, the offending shapes or values,
and the fix. A new public entry point adds its mistakes here.
"""

import gzip
import re
import struct

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.functional as F
from tinygrad_edu import (
    DomainError,
    DTypeError,
    GraphError,
    ShapeError,
    StateDictError,
    Tensor,
    TinygradEduError,
    nn,
    optim,
)
from tinygrad_edu.datasets import load_mnist
from tinygrad_edu.diagnostics import default_step


def leaf(*shape, value=1.0):
    return Tensor(np.full(shape, value), requires_grad=True)


def freed_twice():
    y = (leaf(2) * 2.0).sum()
    y.backward()
    y.backward()


def unseeded_backward():
    (leaf(2, 3) * 2.0).backward()


def wrong_seed_shape():
    (leaf(2, 3) * 2.0).backward(np.ones((3, 2)))


def custom_op_wrong_grad_count():
    class TwoGrads(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    TwoGrads.apply(leaf(2)).sum().backward()


def custom_op_wrong_grad_shape():
    class BadShape(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return Tensor(np.ones(5))

    BadShape.apply(leaf(2)).sum().backward()


def model():
    return nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU(), nn.Linear(3, 2, rng=0))


def state_without(key):
    state = model().state_dict()
    del state[key]
    return state


def idx_file(path, magic, dims, payload):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(f">I{len(dims)}I", magic, *dims) + payload)


def mnist_dir_with(tmp_path, broken):
    """Four MNIST-like files, one of them broken in the way named."""
    images = np.zeros((2, 28, 28), np.uint8).tobytes()
    idx_file(tmp_path / "train-images-idx3-ubyte.gz", 0x803, (2, 28, 28), images)
    idx_file(tmp_path / "train-labels-idx1-ubyte.gz", 0x801, (2,), bytes(2))
    idx_file(tmp_path / "t10k-images-idx3-ubyte.gz", 0x803, (2, 28, 28), images)
    idx_file(tmp_path / "t10k-labels-idx1-ubyte.gz", 0x801, (2,), bytes(2))
    target = tmp_path / "train-labels-idx1-ubyte.gz"
    if broken == "magic":
        idx_file(target, 0x999, (2,), bytes(2))
    elif broken == "count":
        idx_file(target, 0x801, (3,), bytes(3))
    elif broken == "truncated":
        target.write_bytes(target.read_bytes()[:10])
    return tmp_path


CASES = [
    # -- data and dtypes ------------------------------------------------------
    ("string data", lambda: Tensor("abc"), DTypeError, ["not numeric", "numbers"]),
    ("object data", lambda: Tensor([{}, 1]), DTypeError, ["Tensor", "numeric"]),
    ("ragged list", lambda: Tensor([[1.0], [1.0, 2.0]]), DTypeError, ["numeric array"]),
    (
        "int requires grad",
        lambda: Tensor([1, 2], requires_grad=True),
        DTypeError,
        ["requires_grad=True", "int64", "float"],
    ),
    (
        "bool requires grad",
        lambda: Tensor([True], requires_grad=True),
        DTypeError,
        ["floating-point"],
    ),
    ("complex data", lambda: Tensor([1j]), DTypeError, ["complex128"]),
    # -- shapes ---------------------------------------------------------------
    (
        "matmul inner sizes",
        lambda: leaf(2, 3) @ leaf(4, 5),
        ShapeError,
        ["matmul", r"\(2, 3\)", r"\(4, 5\)", "transpose"],
    ),
    (
        "matmul with a scalar",
        lambda: leaf(2, 3) @ Tensor(2.0),
        ShapeError,
        ["matmul", "at least 1-D", "Use \\*"],
    ),
    (
        "matmul 1-D lengths",
        lambda: leaf(3) @ leaf(4),
        ShapeError,
        ["matmul", r"\(3,\)"],
    ),
    (
        "dot of 3-D",
        lambda: F.dot(leaf(2, 2, 2), leaf(2, 2)),
        ShapeError,
        ["dot", "matmul"],
    ),
    (
        "broadcast add",
        lambda: leaf(2, 3) + leaf(4),
        ShapeError,
        ["add", r"\(2, 3\)", r"\(4,\)"],
    ),
    (
        "broadcast mul with ndarray",
        lambda: leaf(3, 2) * np.ones((2, 3)),
        ShapeError,
        ["mul", r"\(3, 2\)", r"\(2, 3\)"],
    ),
    (
        "reshape size",
        lambda: leaf(2, 3).reshape(4, 2),
        ShapeError,
        ["reshape", r"\(2, 3\)", "6 elements", r"\(4, 2\)"],
    ),
    (
        "broadcast_to smaller",
        lambda: leaf(2, 3).broadcast_to(3),
        ShapeError,
        ["broadcast_to", r"\(2, 3\)"],
    ),
    (
        "sum_to impossible",
        lambda: leaf(2, 3).sum_to(4),
        ShapeError,
        ["sum_to", r"\(4,\)"],
    ),
    (
        "sum axis out of range",
        lambda: leaf(2, 3).sum(axis=2),
        DomainError,
        ["sum", "axis 2", "2 dimension", r"\[-2, 1\]"],
    ),
    (
        "max axis on a scalar",
        lambda: Tensor(1.0).max(axis=0),
        DomainError,
        ["max", "axis 0", "use None"],
    ),
    (
        "softmax axis",
        lambda: leaf(2, 3).softmax(axis=5),
        DomainError,
        ["softmax", "axis 5", "2 dimension", r"\[-2, 1\]"],
    ),
    ("index out of range", lambda: leaf(2, 3)[5], ShapeError, ["getitem", r"\(2, 3\)"]),
    (
        "concatenate shapes",
        lambda: F.concatenate([leaf(2, 3), leaf(3, 2)]),
        ShapeError,
        ["concatenate", r"\(2, 3\)", r"\(3, 2\)"],
    ),
    (
        "stack shapes",
        lambda: F.stack([leaf(2), leaf(3)]),
        ShapeError,
        ["stack", r"\(2,\)"],
    ),
    # -- softmax_cross_entropy targets ----------------------------------------
    (
        "label too large",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([0, 3])),
        DomainError,
        ["softmax_cross_entropy", "label 3", "3 classes", r"0\.\.2"],
    ),
    (
        "negative label",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([-1, 0])),
        DomainError,
        ["softmax_cross_entropy", "label -1"],
    ),
    (
        "float labels",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([0.0, 1.0])),
        DTypeError,
        ["softmax_cross_entropy", "look like class labels", "astype\\(int\\)"],
    ),
    (
        "too few labels",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([0])),
        ShapeError,
        ["softmax_cross_entropy", "2 rows", "1 labels"],
    ),
    (
        "one-hot width",
        lambda: leaf(2, 3).softmax_cross_entropy(np.eye(2)),
        ShapeError,
        ["softmax_cross_entropy", r"\(2, 2\)", r"\(2, 3\)", "3 entries"],
    ),
    (
        "3-D logits",
        lambda: leaf(2, 3, 4).softmax_cross_entropy(np.zeros(2, int)),
        ShapeError,
        ["softmax_cross_entropy", r"\(N, C\)"],
    ),
    (
        "string targets",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array(["a", "b"])),
        DTypeError,
        ["softmax_cross_entropy", "<U1", "numeric"],
    ),
    (
        "integer rows that are not one-hot",
        lambda: F.cross_entropy_error(np.full(3, 1 / 3), np.array([0, 2, 0])),
        DomainError,
        ["cross_entropy_error", r"\(3,\)", "one-hot", "labels"],
    ),
    # -- the graph ------------------------------------------------------------
    ("backward twice", freed_twice, GraphError, ["second time", "retain_graph=True"]),
    (
        "backward on a non-scalar",
        unseeded_backward,
        GraphError,
        [r"shape \(2, 3\)", "backward\\(gradient\\)", "sum\\(\\)"],
    ),
    ("backward seed shape", wrong_seed_shape, ShapeError, [r"\(3, 2\)", r"\(2, 3\)"]),
    (
        "backward without grad",
        lambda: Tensor([1.0]).sum().backward(),
        GraphError,
        ["does not require grad", "requires_grad=True"],
    ),
    (
        "custom op returns two grads for one input",
        custom_op_wrong_grad_count,
        GraphError,
        ["two_grads", "2 gradient", "1 input"],
    ),
    (
        "custom op gradient shape",
        custom_op_wrong_grad_shape,
        GraphError,
        ["bad_shape", r"\(5,\)", r"\(2,\)"],
    ),
    # -- numerical differentiation --------------------------------------------
    (
        "numerical_gradient on ints",
        lambda: tg.numerical_gradient(lambda x: np.sum(x**2), np.array([3, 4])),
        DTypeError,
        ["numerical_gradient", "int64", "25000", "astype\\(float\\)"],
    ),
    (
        "numerical_gradient on a list",
        lambda: tg.numerical_gradient(lambda x: 0.0, [1.0, 2.0]),
        DTypeError,
        ["ndarray", "list"],
    ),
    (
        "numerical_gradient read-only",
        lambda: tg.numerical_gradient(lambda x: 0.0, np.broadcast_to(np.ones(1), (3,))),
        DomainError,
        ["read-only", "copy"],
    ),
    (
        "numerical_gradient non-scalar f",
        lambda: tg.numerical_gradient(lambda x: x, np.ones(2)),
        DomainError,
        ["scalar", r"\(2,\)"],
    ),
    (
        "gradcheck without grad inputs",
        lambda: tg.gradcheck(lambda x: x.sum(), [Tensor([1.0])]),
        DomainError,
        ["no input requires grad"],
    ),
    (
        "default step of ints",
        lambda: default_step(np.int32),
        DTypeError,
        ["int32", "round the step away"],
    ),
    # -- nn, optim, state dicts -----------------------------------------------
    (
        "linear input width",
        lambda: nn.Linear(4, 3, rng=0)(np.ones((2, 5))),
        ShapeError,
        ["Linear\\(4→3\\)", r"\(2, 5\)", "4"],
    ),
    (
        "state dict missing key",
        lambda: model().load_state_dict(state_without("0.weight")),
        StateDictError,
        ["missing", "0.weight"],
    ),
    (
        "state dict extra key",
        lambda: model().load_state_dict(
            {**model().state_dict(), "fc9.bias": np.ones(1)}
        ),
        StateDictError,
        ["unexpected", "fc9.bias"],
    ),
    (
        "state dict wrong shape",
        lambda: model().load_state_dict({**model().state_dict(), "2.bias": np.ones(5)}),
        StateDictError,
        ["2.bias", r"\(5,\)", r"\(2,\)"],
    ),
    (
        "negative learning rate",
        lambda: optim.SGD(model().parameters(), lr=-0.1),
        DomainError,
        ["SGD", "lr", "-0.1"],
    ),
    (
        "momentum of 1",
        lambda: optim.Momentum(model().parameters(), lr=0.1, momentum=1.0),
        DomainError,
        ["Momentum", "momentum", "1.0"],
    ),
    (
        "adam betas",
        lambda: optim.Adam(model().parameters(), betas=(0.9, 1.5)),
        DomainError,
        ["Adam", "beta", "1.5"],
    ),
    (
        "optimizer over arrays",
        lambda: optim.SGD([np.ones(3)], lr=0.1),
        DTypeError,
        ["SGD", "ndarray"],
    ),
    (
        "empty parameter list",
        lambda: optim.Adam([], lr=0.1),
        DomainError,
        ["Adam", "empty"],
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "fragments"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_catalogue(call, error, fragments):
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, TinygradEduError), type(caught.value).__mro__
    message = str(caught.value)
    for fragment in fragments:
        assert re.search(fragment, message), (fragment, message)


FILE_CASES = {
    "magic": ["train-labels-idx1-ubyte.gz", "magic"],
    "count": ["train-labels-idx1-ubyte.gz", "3"],
    "truncated": ["train-labels-idx1-ubyte.gz", "truncated|corrupt"],
}


@pytest.mark.parametrize("broken", sorted(FILE_CASES))
def test_catalogue_of_dataset_files(tmp_path, broken):
    directory = mnist_dir_with(tmp_path, broken)
    with pytest.raises(tg.DatasetError) as caught:
        load_mnist(data_dir=directory, download=False)
    for fragment in FILE_CASES[broken]:
        assert re.search(fragment, str(caught.value))


def test_catalogue_size():
    assert len(CASES) + len(FILE_CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)
