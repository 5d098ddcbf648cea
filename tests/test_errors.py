"""The error catalogue: bad input across the public API, and what the user is told.

Each case is (what the user did, the call, the exception type, fragments the
message must contain). Fragments name the op, the offending shapes or values,
and the fix. A new public entry point adds its mistakes here.
"""

import gzip
import inspect
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.functional as F
from tinygrad_edu import (
    AnomalyError,
    DomainError,
    DTypeError,
    FileError,
    GraphError,
    ShapeError,
    StateDictError,
    Tensor,
    TinygradEduError,
    detect_anomaly,
    nn,
    optim,
)
from tinygrad_edu.datasets import load_mnist
from tinygrad_edu.diagnostics import default_step


def leaf(*shape, value=1.0):
    return Tensor(np.full(shape, value), requires_grad=True)


def define_op_without_staticmethod():
    class NoStatic(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        def backward(ctx, grad):  # noqa: N805 (the decorator forgotten)
            return grad


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


def custom_op_calling_numpy_in_backward():
    class ExpWithNumpy(tg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.exp(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * np.exp(x)  # a Tensor given to NumPy

    ExpWithNumpy.apply(leaf(2)).sum().backward()


def ndarray_plus_equals_tensor():
    array = np.zeros(2)
    array += leaf(2)


def created_at(function, marker="# the anomaly"):
    """The ``file:line`` an AnomalyError must name: the marked line of ``function``."""
    lines, start = inspect.getsourcelines(function)
    (offset,) = [i for i, line in enumerate(lines) if marker in line]
    return re.escape(f"test_errors.py:{start + offset}) failed the anomaly check")


def nan_in_the_data():
    with detect_anomaly():
        return Tensor([np.nan, 1.0]) * 1.0  # the anomaly


def inf_in_a_leaf():
    x = Tensor([1.0, np.inf], requires_grad=True)
    with detect_anomaly():
        return x + 1.0  # the anomaly


def nan_in_a_numpy_operand():
    w = Tensor([1.0], requires_grad=True)
    with detect_anomaly():
        return w * np.array([np.nan])  # the anomaly


def log_of_zero():
    p = Tensor([0.5, 0.0], requires_grad=True)
    with detect_anomaly():
        return p.log()  # the anomaly


def log_of_a_negative():
    with detect_anomaly():
        return Tensor([-1.0]).log()  # the anomaly


def division_by_zero():
    with detect_anomaly():
        return Tensor([1.0], requires_grad=True) / 0.0  # the anomaly


def exp_overflow():
    with detect_anomaly():
        return Tensor([1000.0], requires_grad=True).exp()  # the anomaly


def nan_logits_into_the_loss():
    logits = Tensor([[np.nan, 0.0]], requires_grad=True)
    with detect_anomaly():
        return logits.softmax_cross_entropy(np.array([0]))  # the anomaly


def inf_gradient_of_sqrt_at_zero():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        y = (x**0.5).sum()  # the anomaly: finite forward, d/dx sqrt(x) = inf at 0
        y.backward()


def step_with_a_row_gradient():
    w = leaf(2, 3)
    w.grad = Tensor(np.ones(3))  # fits by broadcasting, wrong all the same
    optim.SGD([w], lr=0.1).step()


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


LOOK_AT_INPUTS = "Look at this op's inputs"  # the fix when an op made the NaN/inf
CAME_FROM_EARLIER = "came from earlier"  # ... and when its input already held it

CASES = [
    # -- data and dtypes ------------------------------------------------------
    (
        "string data",
        lambda: Tensor("abc"),
        DTypeError,
        ["^Tensor:", "dtype <U3", r"\(str\)", "not numeric", "pass numbers"],
    ),
    (
        "object data",
        lambda: Tensor([{}, 1]),
        DTypeError,
        ["^Tensor:", "dtype object", r"\(list\)", "not numeric", "pass numbers"],
    ),
    (
        "ragged list",
        lambda: Tensor([[1.0], [1.0, 2.0]]),
        DTypeError,
        ["^Tensor:", "from list data", "inhomogeneous shape", "pass numbers"],
    ),
    (
        "int requires grad",
        lambda: Tensor([1, 2], requires_grad=True),
        DTypeError,
        ["^Tensor:", "requires_grad=True", "got int64", r"Tensor\(\[1\.0, 2\.0\]\)"],
    ),
    (
        "bool requires grad",
        lambda: Tensor([True], requires_grad=True),
        DTypeError,
        ["^Tensor:", "requires_grad=True", "floating-point", "got bool", "float data"],
    ),
    (
        "complex data",
        lambda: Tensor([1j]),
        DTypeError,
        ["^Tensor:", r"complex data \(complex128\) is not supported", r"x\.real"],
    ),
    # -- shapes ---------------------------------------------------------------
    (
        "matmul inner sizes",
        lambda: leaf(2, 3) @ leaf(4, 5),
        ShapeError,
        ["^matmul:", r"\(2, 3\) @ \(4, 5\)", r"left operand \(3\)", "transpose"],
    ),
    (
        "matmul with a scalar",
        lambda: leaf(2, 3) @ Tensor(2.0),
        ShapeError,
        ["^matmul:", r"shapes \(2, 3\) and \(\)", "at least 1-D", r"Use \*"],
    ),
    (
        "matmul 1-D lengths",
        lambda: leaf(3) @ leaf(4),
        ShapeError,
        [
            "^matmul:",
            r"\(3,\) @ \(4,\)",
            r"\(3\) must equal",
            r"axis of the right one \(4\)",
            "Two vectors need the same length",
        ],
    ),
    (
        "dot of 3-D",
        lambda: F.dot(leaf(2, 2, 2), leaf(2, 2)),
        ShapeError,
        ["^dot:", r"\(2, 2, 2\) and \(2, 2\)", "1-D or 2-D", r"matmul \(@\)"],
    ),
    (
        "broadcast add",
        lambda: leaf(2, 3) + leaf(4),
        ShapeError,
        [r"^add\(", r"\(2, 3\) float64, \(4,\) float64", "reshape or transpose"],
    ),
    (
        "broadcast mul with ndarray",
        lambda: leaf(3, 2) * np.ones((2, 3)),
        ShapeError,
        [r"^mul\(", r"\(3, 2\) float64, \(2, 3\) float64", "reshape or transpose"],
    ),
    (
        "reshape size",
        lambda: leaf(2, 3).reshape(4, 2),
        ShapeError,
        ["^reshape:", r"\(2, 3\) \(6 elements\) to \(4, 2\)", "may be -1"],
    ),
    (
        "broadcast_to smaller",
        lambda: leaf(2, 3).broadcast_to(3),
        ShapeError,
        [
            r"^broadcast_to\(",
            r"\(2, 3\) float64, shape=\(3,\)",
            "at least as many axes",
        ],
    ),
    (
        "sum_to impossible",
        lambda: leaf(2, 3).sum_to(4),
        ShapeError,
        ["^sum_to:", r"sum shape \(2, 3\) to \(4,\)", "does not broadcast"],
    ),
    (
        "sum axis out of range",
        lambda: leaf(2, 3).sum(axis=2),
        DomainError,
        ["^sum:", "axis 2", "2 dimension", r"\[-2, 1\] or None"],
    ),
    (
        "max axis on a scalar",
        lambda: Tensor(1.0).max(axis=0),
        DomainError,
        ["^max:", "axis 0", "0 dimension", "use None"],
    ),
    (
        "softmax axis",
        lambda: leaf(2, 3).softmax(axis=5),
        DomainError,
        ["^softmax:", "axis 5", "2 dimension", r"\[-2, 1\]\."],
    ),
    (
        "index out of range",
        lambda: leaf(2, 3)[5],
        ShapeError,
        [r"^getitem\(", r"\(2, 3\) float64, index=5", "axis 0 with size 2", "smaller"],
    ),
    (
        "concatenate shapes",
        lambda: F.concatenate([leaf(2, 3), leaf(3, 2)]),
        ShapeError,
        [r"^concatenate\(", r"\(2, 3\) float64, \(3, 2\) float64", "except the one"],
    ),
    (
        "stack shapes",
        lambda: F.stack([leaf(2), leaf(3)]),
        ShapeError,
        ["^stack:", r"\[\(2,\), \(3,\)\]", "equal shape"],
    ),
    # -- softmax_cross_entropy targets ----------------------------------------
    (
        "label too large",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([0, 3])),
        DomainError,
        ["^softmax_cross_entropy:", "label 3 ", "3 classes", r"integers in 0\.\.2"],
    ),
    (
        "negative label",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([-1, 0])),
        DomainError,
        ["^softmax_cross_entropy:", "label -1 ", "3 classes", r"integers in 0\.\.2"],
    ),
    (
        "float labels",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([0.0, 1.0])),
        DTypeError,
        [
            "^softmax_cross_entropy:",
            r"float targets of shape \(2,\)",
            r"astype\(int\)",
            r"one-hot rows of shape \(2, 3\)",
        ],
    ),
    (
        "too few labels",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array([0])),
        ShapeError,
        [
            "^softmax_cross_entropy:",
            r"2 rows of logits \(2, 3\)",
            r"1 labels of shape \(1,\)",
            "one label per row",
        ],
    ),
    (
        "one-hot width",
        lambda: leaf(2, 3).softmax_cross_entropy(np.eye(2)),
        ShapeError,
        [
            "^softmax_cross_entropy:",
            r"\(2, 2\)",
            r"logits of shape \(2, 3\)",
            "3 entries",
        ],
    ),
    (
        "3-D logits",
        lambda: leaf(2, 3, 4).softmax_cross_entropy(np.zeros(2, int)),
        ShapeError,
        ["^softmax_cross_entropy:", r"shape \(N, C\)", r"\(C,\) for one sample", "3-D"],
    ),
    (
        "string targets",
        lambda: leaf(2, 3).softmax_cross_entropy(np.array(["a", "b"])),
        DTypeError,
        ["^softmax_cross_entropy:", "dtype <U1", "not numeric", "pass numbers"],
    ),
    (
        "integer rows that are not one-hot",
        lambda: F.cross_entropy_error(np.full(3, 1 / 3), np.array([0, 2, 0])),
        DomainError,
        [
            "^cross_entropy_error:",
            r"targets of shape \(3,\)",
            r"y \(3,\)",
            "not one-hot",
            "pass class labels",
        ],
    ),
    # -- NaN and inf, under detect_anomaly() ------------------------------------
    (
        "NaN in the data",
        nan_in_the_data,
        AnomalyError,
        [
            "^mul ",
            created_at(nan_in_the_data),
            r"shape \(2,\) holds nan, because input 0 \(shape \(2,\)\) already",
            CAME_FROM_EARLIER,
        ],
    ),
    (
        "inf in a leaf",
        inf_in_a_leaf,
        AnomalyError,
        [
            "^add ",
            created_at(inf_in_a_leaf),
            r"holds inf, because input \d \(shape \(2,\)\) already held inf",
            CAME_FROM_EARLIER,
        ],
    ),
    (
        "NaN in a NumPy operand",
        nan_in_a_numpy_operand,
        AnomalyError,
        [
            "^mul ",
            created_at(nan_in_a_numpy_operand),
            r"shape \(1,\) holds nan, because input \d .* already held nan",
            CAME_FROM_EARLIER,
        ],
    ),
    (
        "log of 0",
        log_of_zero,
        AnomalyError,
        ["^log ", created_at(log_of_zero), "divide by zero encountered in log"],
    ),
    (
        "log of a negative number",
        log_of_a_negative,
        AnomalyError,
        ["^log ", created_at(log_of_a_negative), "invalid value encountered in log"],
    ),
    (
        "division by 0",
        division_by_zero,
        AnomalyError,
        ["^div ", created_at(division_by_zero), "divide by zero", LOOK_AT_INPUTS],
    ),
    (
        "exp overflow",
        exp_overflow,
        AnomalyError,
        ["^exp ", created_at(exp_overflow), "overflow encountered in exp"],
    ),
    (
        "NaN logits into the loss",
        nan_logits_into_the_loss,
        AnomalyError,
        [
            "^softmax_cross_entropy ",
            created_at(nan_logits_into_the_loss),
            r"shape \(\) holds nan, because input 0 \(shape \(1, 2\)\) already",
            CAME_FROM_EARLIER,
        ],
    ),
    (
        "inf gradient in backward",
        inf_gradient_of_sqrt_at_zero,
        AnomalyError,
        [
            "^pow ",
            created_at(inf_gradient_of_sqrt_at_zero),
            "failed the anomaly check in its backward rule",
            "divide by zero",
        ],
    ),
    # -- the graph ------------------------------------------------------------
    (
        "backward twice",
        freed_twice,
        GraphError,
        [
            "^the graph of ",
            "'sum' was freed",
            "retain_graph=True",
        ],
    ),
    (
        "backward on a non-scalar",
        unseeded_backward,
        GraphError,
        [r"^backward\(\)", r"shape \(2, 3\)", r"backward\(gradient\)", r"sum\(\)"],
    ),
    (
        "backward seed of strings",
        lambda: (leaf(2) * 2.0).backward(gradient="a"),
        DTypeError,
        [r"^backward\(gradient\):", "dtype <U1", "not numeric", "pass numbers"],
    ),
    (
        "zeros of a negative size",
        lambda: Tensor.zeros(-1),
        ShapeError,
        [r"^Tensor\.zeros:", r"shape \(-1,\)", "negative size", "0 or more"],
    ),
    (
        "backward seed shape",
        wrong_seed_shape,
        ShapeError,
        [
            r"^backward\(gradient\):",
            r"gradient has shape \(3, 2\)",
            r"tensor has shape \(2, 3\)",
            "must be equal",
        ],
    ),
    (
        "backward without grad",
        lambda: Tensor([1.0]).sum().backward(),
        GraphError,
        [r"^backward\(\)", "does not require grad", r"Tensor\(\.\.\., requires_grad"],
    ),
    (
        "custom op returns two grads for one input",
        custom_op_wrong_grad_count,
        GraphError,
        ["^backward of 'two_grads'", r"2 gradient\(s\) for 1 input", "one per input"],
    ),
    (
        "custom op gradient shape",
        custom_op_wrong_grad_shape,
        GraphError,
        ["^backward of 'bad_shape'", r"shape \(5,\)", r"input of shape \(2,\)"],
    ),
    (
        "custom op calling NumPy in backward",
        custom_op_calling_numpy_in_backward,
        GraphError,
        ["^backward of 'exp_with_numpy'", r"np\.exp\(\) was called", r"t\.exp\(\)"],
    ),
    # -- NumPy functions given a Tensor ---------------------------------------
    (
        "np.exp of a Tensor",
        lambda: np.exp(leaf(2)),
        DTypeError,
        [r"^np\.exp\(\) was called on a Tensor", r"t\.exp\(\)", r"array t\.data"],
    ),
    (
        "np.hypot of a Tensor (no method of that name)",
        lambda: np.hypot(leaf(2), 1.0),
        DTypeError,
        [r"^np\.hypot\(\) was called", "Tensor methods", "tinygrad_edu.functional"],
    ),
    (
        "np.power of a Tensor whose value equals the exponent",
        # (the check for a reflected operator once compared operands with ==)
        lambda: np.power(Tensor([2.0], requires_grad=True), 2),
        DTypeError,
        [
            r"^np\.power\(\) was called on a Tensor",
            r"t\.pow\(\)|Tensor methods",
            r"array t\.data",
        ],
    ),
    (
        "np.dot with a Tensor that requires grad",
        lambda: np.dot(np.ones((4, 3)), Tensor(np.ones((3, 2)), requires_grad=True)),
        DTypeError,
        [r"^np\.dot\(\) was given a Tensor that requires grad", r"t\.dot\(", "no_grad"],
    ),
    (
        "np.concatenate with a Tensor that requires grad",
        lambda: np.concatenate([leaf(1), leaf(2)]),
        DTypeError,
        [r"^np\.concatenate\(\)", "lost without a word", "functional.concatenate"],
    ),
    (
        "ndarray += Tensor",
        ndarray_plus_equals_tensor,
        DTypeError,
        [r"^np\.add\(\.\.\., out=array\)", "in place", r"array \+= tensor\.data"],
    ),
    # -- numerical differentiation --------------------------------------------
    (
        "numerical_gradient on ints",
        lambda: tg.numerical_gradient(lambda x: np.sum(x**2), np.array([3, 4])),
        DTypeError,
        ["^numerical_gradient:", "int64", "25000 instead of 6", r"astype\(float\)"],
    ),
    (
        "numerical_gradient on a list",
        lambda: tg.numerical_gradient(lambda x: 0.0, [1.0, 2.0]),
        DTypeError,
        ["^numerical_gradient:", "must be an ndarray", "got list", r"np\.asarray"],
    ),
    (
        "numerical_gradient read-only",
        lambda: tg.numerical_gradient(lambda x: 0.0, np.broadcast_to(np.ones(1), (3,))),
        DomainError,
        [
            "^numerical_gradient:",
            "x is read-only",
            "perturbed in place",
            r"x\.copy\(\)",
        ],
    ),
    (
        "numerical_gradient non-scalar f",
        lambda: tg.numerical_gradient(lambda x: x, np.ones(2)),
        DomainError,
        ["^numerical_gradient:", "scalar", r"returned shape \(2,\)", r"\.sum\(\)"],
    ),
    (
        "gradcheck without grad inputs",
        lambda: tg.gradcheck(lambda x: x.sum(), [Tensor([1.0])]),
        DomainError,
        ["^gradcheck:", "no input requires grad", "requires_grad=True"],
    ),
    (
        "default step of ints",
        lambda: default_step(np.int32),
        DTypeError,
        ["^default_step:", "dtype int32", "round the step away", "Use float data"],
    ),
    # -- nn, optim, state dicts -----------------------------------------------
    (
        "linear input width",
        lambda: nn.Linear(4, 3, rng=0)(np.ones((2, 5))),
        ShapeError,
        [r"^Linear\(4→3\):", r"shape \(2, 5\)", "must have 4 features", "out_features"],
    ),
    (
        "state dict missing key",
        lambda: model().load_state_dict(state_without("0.weight")),
        StateDictError,
        [
            "^Sequential.load_state_dict",
            r"missing keys.*\['0\.weight'\]",
            "strict=False",
        ],
    ),
    (
        "state dict extra key",
        lambda: model().load_state_dict(
            {**model().state_dict(), "fc9.bias": np.ones(1)}
        ),
        StateDictError,
        [
            "^Sequential.load_state_dict",
            r"unexpected keys.*\['fc9\.bias'\]",
            "strict=False",
        ],
    ),
    (
        "state dict wrong shape",
        lambda: model().load_state_dict({**model().state_dict(), "2.bias": np.ones(5)}),
        StateDictError,
        [
            "^Sequential.load_state_dict",
            r"'2\.bias': the model has \(2,\), the state dict has \(5,\)",
            "layer sizes",
        ],
    ),
    (
        "negative learning rate",
        lambda: optim.SGD(model().parameters(), lr=-0.1),
        DomainError,
        ["^SGD:", "lr=-0.1", "lr >= 0"],
    ),
    (
        "momentum of 1",
        lambda: optim.Momentum(model().parameters(), lr=0.1, momentum=1.0),
        DomainError,
        ["^Momentum:", "momentum=1.0", "0 <= momentum < 1"],
    ),
    (
        "adam betas",
        lambda: optim.Adam(model().parameters(), betas=(0.9, 1.5)),
        DomainError,
        ["^Adam:", r"betas\[1\]=1\.5", "0 <= beta2 < 1"],
    ),
    (
        "optimizer over arrays",
        lambda: optim.SGD([np.ones(3)], lr=0.1),
        DTypeError,
        ["^SGD:", r"params\[0\] is a ndarray", r"update\(params, grads\)"],
    ),
    (
        "empty parameter list",
        lambda: optim.Adam([], lr=0.1),
        DomainError,
        ["^Adam:", "params is empty", "nn.Parameter", "generator"],
    ),
    (
        "update given lists",
        lambda: optim.SGD(lr=0.1).update([np.ones(2)], [np.ones(2)]),
        DTypeError,
        [r"^SGD\.update:", "params must be a dict", r"got list \[array"],
    ),
    (
        "update given strings",
        lambda: optim.Momentum(lr=0.1).update({"W": np.ones(2)}, "grads"),
        DTypeError,
        [r"^Momentum\.update:", "grads must be a dict", "got str 'grads'"],
    ),
    (
        "update given a list of Tensors",
        lambda: optim.Adam(lr=0.1).update([leaf(2)], {}),
        DTypeError,
        [r"^Adam\.update:", r"got list \[Tensor", r"Adam\(params, lr=...\)"],
    ),
    (
        "step with a .grad that would broadcast",
        step_with_a_row_gradient,
        ShapeError,
        [r"^SGD\.step:", r"params\[0\]\.grad has shape \(3,\)", r"\(2, 3\)"],
    ),
    (
        "optimizer state of another optimizer",
        lambda: optim.Adam([leaf(2)]).load_state_dict({"state.0.h": np.ones(2)}),
        StateDictError,
        [r"^Adam\.load_state_dict:", "unexpected key 'state.0.h'", "another"],
    ),
    (
        "ragged value in a state dict",
        lambda: model().load_state_dict(
            {**model().state_dict(), "0.bias": [[1.0], [1.0, 2.0]]}
        ),
        DTypeError,
        [
            r"^Sequential\.load_state_dict:",
            "'0.bias' is not an array of one",
            "inhomogeneous",
        ],
    ),
    (
        "save to an empty path",
        lambda: tg.save({"W": np.ones(2)}, ""),
        FileError,
        ["^save:", "the path '' is empty", "give a file name"],
    ),
    (
        "save to a directory",
        lambda: tg.save({"W": np.ones(2)}, Path(__file__).parent),
        FileError,
        ["^save:", "is a directory", "net.npz"],
    ),
    (
        "mirrors holding None",
        lambda: load_mnist(data_dir=Path(__file__).parent, mirrors=[None]),
        DTypeError,
        ["^load_mnist:", r"got None in \[None\]", "base URLs"],
    ),
    (
        "data_dir a number",
        lambda: load_mnist(data_dir=123),
        DTypeError,
        ["^load_mnist:", "got int 123", "folder path"],
    ),
    # -- the ops and spellings PyTorch users reach for (issue 26)
    (
        "clip without bounds",
        lambda: leaf(2).clip(),
        DomainError,
        ["^clip:", "with neither nothing is cut", "give min, max or both"],
    ),
    (
        "clip with min above max",
        lambda: F.clip(leaf(2), 1, 0),
        DomainError,
        ["^clip:", "min=1 is above max=0", "min <= max"],
    ),
    (
        "maximum of shapes that do not broadcast",
        lambda: F.maximum(leaf(2), leaf(3)),
        ShapeError,
        ["^maximum:", r"\(2,\) and \(3,\)", "equal or 1"],
    ),
    (
        "var with nothing left to divide by",
        lambda: leaf(1).var(ddof=1),
        DomainError,
        ["^var:", "ddof=1 with 1 element", "0 <= ddof < 1"],
    ),
    (
        "an integer to a negative integer power",
        lambda: Tensor([1, 2]) ** -1,
        DTypeError,
        [
            r"^pow\(\(2,\) int64",
            "Integers to negative integer powers",
            r"astype\(float\)",
        ],
    ),
    (
        "BatchNorm1d(momentum=None), PyTorch's cumulative average",
        lambda: nn.BatchNorm1d(3, momentum=None),
        DTypeError,
        ["^BatchNorm1d:", r"momentum=None", r"number in \[0, 1\]"],
    ),
    (
        "a custom op whose backward is not a staticmethod",
        define_op_without_staticmethod,
        DTypeError,
        [r"^NoStatic\.backward must be a @staticmethod", "receives ctx", "not self"],
    ),
    (
        "argmax of an empty tensor",
        lambda: Tensor(np.zeros((0, 3))).argmax(),
        ShapeError,
        ["^argmax:", r"shape \(0, 3\) is empty", "no element to point at"],
    ),
    (
        "axis= and dim= both",
        lambda: leaf(2, 3).sum(axis=0, dim=1),
        DTypeError,
        [r"^sum\(\) got both", "axis= and dim=", "pass one of them"],
    ),
    (
        "max(dim=) as PyTorch spells it",
        lambda: leaf(2, 3).max(dim=1),
        DTypeError,
        [r"^max\(dim=...\) is ambiguous", r"\(values, indices\)", r"argmax\(axis"],
    ),
    (
        "logits (N, 1) against targets (N,)",
        lambda: F.binary_cross_entropy_with_logits(leaf(4, 1), np.ones(4)),
        ShapeError,
        [
            "^binary_cross_entropy_with_logits:",
            r"\(4, 1\) but the targets \(4,\)",
            r"y\.reshape\(-1\)",
        ],
    ),
    (
        "mse of predictions (N, 1) against targets (N,)",
        lambda: F.mse(leaf(3, 1), np.array([1.0, 2.0, 3.0])),
        ShapeError,
        ["^mse:", r"\(3, 1\) but the targets \(3,\)", r"y\.reshape\(-1\)"],
    ),
    (
        "sum_squared_error of a row against a column",
        lambda: F.sum_squared_error(leaf(3), np.ones((3, 1))),
        ShapeError,
        ["^sum_squared_error:", r"\(3,\) but the targets \(3, 1\)", "must match"],
    ),
    (
        "binary_cross_entropy of scores",
        lambda: F.binary_cross_entropy([0.5, 2.0], [1.0, 0.0]),
        DomainError,
        ["^binary_cross_entropy:", r"outside \[0, 1\]", "with_logits"],
    ),
    (
        "nll_loss label out of range",
        lambda: F.nll_loss(leaf(2, 4), [0, 5]),
        DomainError,
        ["^nll_loss:", "label 5 is out of range", r"0\.\.3"],
    ),
    (
        "squeeze an axis that is not of size 1",
        lambda: leaf(2, 1).squeeze(0),
        ShapeError,
        ["^squeeze:", r"axis 0 of shape \(2, 1\) has size 2", "size 1"],
    ),
    (
        "flatten with start_dim after end_dim",
        lambda: leaf(2, 3).flatten(1, 0),
        DomainError,
        ["^flatten:", "start_dim=1 comes after end_dim=0", "start_dim <= end_dim"],
    ),
    (
        "unsqueeze past the last new position",
        lambda: leaf(2, 3).unsqueeze(3),
        DomainError,
        ["^unsqueeze:", "axis 3 is out of range", r"\[-3, 2\]"],
    ),
    # -- convolution and pooling (issue 23): the shapes learners get wrong ------
    (
        "conv2d window larger than the padded image",
        lambda: F.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 5, 5))),
        ShapeError,
        ["^conv2d:", "window 5x5 is larger", r"3x3 padded by \(0, 0\)", "pad=2"],
    ),
    (
        "conv2d channel mismatch",
        lambda: F.conv2d(np.ones((1, 3, 8, 8)), np.ones((4, 1, 3, 3))),
        ShapeError,
        ["^conv2d:", r"\(1, 3, 8, 8\) has 3 channels", "have 1", r"\(4, 3, 3, 3\)"],
    ),
    (
        "conv2d images channels-last",
        lambda: F.conv2d(np.ones((2, 28, 28, 1)), np.ones((30, 1, 5, 5))),
        ShapeError,
        ["^conv2d:", r"\(2, 28, 28, 1\) has 28", "channels-last", r"transpose\(0, 3"],
    ),
    (
        "max_pool2d images channels-last",
        lambda: F.max_pool2d(np.ones((2, 28, 28, 1)), 2),
        ShapeError,
        ["^max_pool2d:", "image 28x1", "channels-last", r"transpose\(0, 3, 1, 2\)"],
    ),
    (
        "conv2d of a 1x1 image with two channels (not channels-last)",
        lambda: F.conv2d(np.ones((1, 2, 1, 1)), np.ones((1, 2, 3, 3))),
        ShapeError,
        ["^conv2d:", "image 1x1", r"more padding \(pad=1"],
    ),
    (
        "conv2d stride 0",
        lambda: F.conv2d(np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3)), stride=0),
        DomainError,
        ["^conv2d:", "stride 0 is too small", "a step of 0 does not move"],
    ),
    (
        "conv2d stride not an integer",
        lambda: F.conv2d(np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3)), stride=1.5),
        DTypeError,
        ["^conv2d:", "stride must be an integer", r"pair .*got 1\.5"],
    ),
    (
        "conv2d one image without the batch axis",
        lambda: F.conv2d(np.ones((1, 8, 8)), np.ones((1, 1, 3, 3))),
        ShapeError,
        ["^conv2d:", r"\(1, 8, 8\) \(3-D\)", r"reshape\(1, 1, H, W\)"],
    ),
    (
        "conv2d filters not 4-D",
        lambda: F.conv2d(np.ones((1, 1, 8, 8)), np.ones((1, 3, 3))),
        ShapeError,
        ["^conv2d:", r"filters w have shape \(1, 3, 3\)", r"\(F, C, KH, KW\)"],
    ),
    (
        "conv2d bias of the wrong length",
        lambda: F.conv2d(np.ones((1, 1, 8, 8)), np.ones((2, 1, 3, 3)), np.ones(3)),
        ShapeError,
        ["^conv2d:", r"bias has shape \(3,\)", r"must have shape \(2,\)"],
    ),
    (
        "max_pool2d padding more than half the window",
        lambda: F.max_pool2d(np.ones((1, 1, 8, 8)), 2, pad=2),
        DomainError,
        ["^max_pool2d:", r"pad \(2, 2\) is more than half", r"pad <= \(1, 1\)"],
    ),
    (
        "BatchNorm1d given the wrong number of features",
        lambda: nn.BatchNorm1d(4)(np.ones((2, 3))),
        ShapeError,
        [r"^BatchNorm1d\(4\):", r"shape \(2, 3\)", "4 channels on axis 1"],
    ),
    (
        "BatchNorm2d training on one value per channel",
        lambda: nn.BatchNorm2d(3)(np.ones((1, 3, 1, 1))),
        ShapeError,
        [r"^BatchNorm2d\(3\):", "variance is 0", r"call eval\(\)"],
    ),
    (
        "Dropout with p=1",
        lambda: nn.Dropout(1.0),
        DomainError,
        ["^Dropout:", r"in \[0, 1\), got 1\.0", "drop everything"],
    ),
]


def message_of(call, error):
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, TinygradEduError), type(caught.value).__mro__
    return str(caught.value)


def unmatched(fragments, message):
    return [fragment for fragment in fragments if not re.search(fragment, message)]


@pytest.mark.parametrize(
    ("call", "error", "fragments"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_catalogue(call, error, fragments):
    message = message_of(call, error)
    assert not unmatched(fragments, message), message


FILE_CASES = {
    "magic": [
        "train-labels-idx1-ubyte.gz has the wrong magic number 0x00000999",
        "starts with 0x00000801",
        "Delete it",
    ],
    "count": [
        "train-images-idx3-ubyte.gz holds 2 images",
        "train-labels-idx1-ubyte.gz holds 3 labels",
        "delete both",
    ],
    "truncated": [
        "train-labels-idx1-ubyte.gz is truncated or corrupt",
        "not a complete gzip file",
        "Delete it",
    ],
}


def dataset_message(directory):
    return message_of(
        lambda: load_mnist(data_dir=directory, download=False), tg.DatasetError
    )


@pytest.mark.parametrize("broken", sorted(FILE_CASES))
def test_catalogue_of_dataset_files(tmp_path, broken):
    message = dataset_message(mnist_dir_with(tmp_path, broken))
    assert not unmatched(FILE_CASES[broken], message), message


MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def vacuous(frags, message, boilerplate=()):
    """The fragments that would match text every such message has anyway: the
    op's name at the start (``4`` in ``Linear(4→3):``) or the file names (``3``
    in ``idx3``)."""
    head = re.search(frags[0], message).group(0) if frags[0].startswith("^") else ""
    context = [head, *boilerplate] if head else list(boilerplate)
    return [
        fragment
        for fragment in (frags[1:] if head else frags)
        if any(re.search(fragment, text) for text in context)
    ]


def test_every_case_checks_something_only_its_own_message_says(tmp_path):
    """Each case names the op (a leading ^name) or the file; no fragment is
    satisfied by that name alone or by the file names; and a case's fragments
    together reject every other case's message."""
    messages = {name: message_of(call, error) for name, call, error, _ in CASES}
    fragments = {name: frags for name, _, _, frags in CASES}
    for broken, frags in FILE_CASES.items():
        directory = tmp_path / broken
        directory.mkdir()
        messages[broken] = dataset_message(mnist_dir_with(directory, broken))
        fragments[broken] = frags
        assert not vacuous(frags, messages[broken], MNIST_FILES), broken
    for name, frags in fragments.items():
        assert len(frags) >= 3, name  # the op/file, what was wrong, the value or fix
        assert frags[0].startswith("^") or "-ubyte.gz" in frags[0], name
        assert not vacuous(frags, messages[name]), name
        for other, message in messages.items():
            if other != name:
                assert unmatched(frags, message), (name, "also matches", other)


def test_the_vacuity_check_catches_the_fragments_it_was_written_for():
    linear = "Linear(4→3): the input has shape (2, 5), but ... must have 4 features"
    assert vacuous([r"^Linear\(4→3\):", r"\(2, 5\)", "4"], linear) == ["4"]
    count = "train-images-idx3-ubyte.gz holds 2 images but ... holds 3 labels"
    assert vacuous(["train-labels-idx1-ubyte.gz", "3"], count, MNIST_FILES) == [
        "train-labels-idx1-ubyte.gz",
        "3",
    ]
    assert not vacuous(["holds 3 labels"], count, MNIST_FILES)


def test_the_checks_fail_on_a_wrong_message():
    """The matcher itself: a message naming another op, shape or line fails."""
    _, _, _, frags = next(case for case in CASES if case[0] == "matmul inner sizes")
    good = (
        "matmul: shapes (2, 3) @ (4, 5) do not fit: the left operand (3) ...; transpose"
    )
    assert not unmatched(frags, good)
    assert unmatched(frags, good.replace("matmul", "dot"))
    assert unmatched(frags, good.replace("(4, 5)", "(4, 6)"))
    logged = message_of(log_of_zero, AnomalyError)
    assert re.search(created_at(log_of_zero), logged)
    assert not re.search(created_at(division_by_zero), logged)  # another line


def test_catalogue_size_is_the_one_the_docs_state():
    total = len(CASES) + len(FILE_CASES)
    assert total >= 40
    assert len({case[0] for case in CASES}) == len(CASES)
    page = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text()
    stated = re.findall(r"holds \*\*(\d+)\*\* distinct bad inputs", page)
    assert stated == [str(total)], stated


def test_the_fuzz_figures_on_the_reliability_page_are_the_tests_settings():
    import test_fuzz  # the tests folder is on sys.path, as for bad_ops

    def examples(test):  # the @settings a Hypothesis test was decorated with
        return test._hypothesis_internal_use_settings.max_examples

    page = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text()
    figures = re.search(
        r"random public op \| \*\*(\d+)\*\*.*\n.*each of the \*\*(\d+)\*\* public "
        r"ops never warn \| \*\*(\d+)\*\* per op, (\d+) in all",
        page,
    )
    random_calls, ops, per_op, all_ops = map(int, figures.groups())
    assert random_calls == examples(
        test_fuzz.test_any_arguments_give_a_result_or_a_documented_error
    )
    assert ops == len(test_fuzz.OPS)
    assert per_op == examples(test_fuzz.test_valid_inputs_never_warn)
    assert all_ops == ops * per_op
    assert f"{random_calls + ops * per_op} fuzz examples per CI run" in page


def test_the_reliability_page_lists_every_error_class():
    from tinygrad_edu import errors

    classes = {
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, TinygradEduError) and cls is not TinygradEduError
    }
    page = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text()
    rows = set(re.findall(r"^\| `(\w+)` \| `\w+` \|", page, re.MULTILINE))
    assert classes and classes <= rows, classes - rows
