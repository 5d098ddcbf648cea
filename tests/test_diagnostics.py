"""Diagnostics: blame names the broken op, explain shows the walk, step sweeps."""

import numpy as np
import pytest

from tinygrad_edu import Function, GradcheckError, Tensor, gradcheck
from tinygrad_edu.diagnostics import (
    Explanation,
    blame,
    default_step,
    explain,
    step_size_sweep,
    summarize,
)
from tinygrad_edu.errors import DTypeError, GraphError


class SquareWithWrongBackward(Function):
    """y = x², but the rule forgets the factor 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


def twenty_ops(x, w):
    """A 20-op graph with the broken op buried in the middle."""
    h = (x @ w).tanh()
    for _ in range(4):
        h = (h * 0.9 + 0.1).sigmoid()
    h = SquareWithWrongBackward.apply(h)  # the culprit (this line is reported)
    for _ in range(3):
        h = (h - 0.5).tanh() * 2.0
    return h.sum()


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return [
        Tensor(rng.standard_normal((3, 4)), requires_grad=True),
        Tensor(rng.standard_normal((4, 2)), requires_grad=True),
    ]


def test_blame_names_the_broken_op_and_its_line():
    culprit = blame(twenty_ops, inputs())
    assert culprit is not None
    assert culprit.op_name == "square_with_wrong_backward"
    assert culprit.created_at.endswith(f"test_diagnostics.py:{_culprit_line()}")
    assert culprit.input_shapes == [(3, 2)]
    assert "analytic" in culprit.detail and "numerical" in culprit.detail


def _culprit_line():
    import inspect

    lines, start = inspect.getsourcelines(twenty_ops)
    return start + next(i for i, line in enumerate(lines) if "the culprit" in line)


def test_gradcheck_failure_message_carries_the_blame():
    with pytest.raises(
        GradcheckError,
        match=r"The cause: the backward of "
        r"'square_with_wrong_backward' \(created at .*test_diagnostics",
    ):
        gradcheck(twenty_ops, inputs())


def test_blame_is_none_when_every_rule_is_right():
    def fine(x, w):
        return ((x @ w).sigmoid() * 3.0).sum()

    assert blame(fine, inputs()) is None


def test_explain_lists_the_steps_in_engine_order_with_values():
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, -1.0], requires_grad=True)
    explanation = explain((x * w).sigmoid().sum())
    assert [s.op_name for s in explanation.steps] == ["sum", "sigmoid", "mul"]
    mul = explanation.steps[-1]
    s = 1 / (1 + np.exp(-np.array([3.0, -2.0])))
    upstream = s * (1 - s)
    np.testing.assert_allclose(mul.upstream, upstream)
    np.testing.assert_allclose(mul.input_grads[0], upstream * w.data)
    np.testing.assert_allclose(x.grad.data, upstream * w.data)  # backward really ran
    text = str(explanation)
    assert "step 2: sigmoid" in text and "dy/dx = y (1 - y)" in text
    assert "<table>" in explanation._repr_html_()


def test_explain_summarizes_large_arrays_and_marks_unneeded_inputs():
    x = Tensor(np.ones((50, 50)), requires_grad=True)
    explanation = explain((x * 2.0).sum())
    text = str(explanation)
    assert "shape (50, 50), norm 100" in text
    assert "not needed" in text  # the constant 2.0 needs no gradient
    assert isinstance(explanation, Explanation)


def test_explain_refuses_a_graph_without_gradients():
    with pytest.raises(GraphError, match="does not require grad"):
        explain(Tensor([1.0]).sum())


def test_summarize_small_and_large():
    assert summarize(np.array([1.0, 2.0])) == "[1., 2.]"
    assert summarize(np.arange(10.0)).startswith("shape (10,), norm 16.88")


def test_step_sweep_has_the_v_shape_and_dtype_dependent_bottom():
    def fn(x):
        return (x.exp() * 0.5).sum()

    x = np.array([0.3, -0.2, 0.1])
    sweep64 = step_size_sweep(fn, x)
    sweep32 = step_size_sweep(fn, x.astype(np.float32))
    # float64: the bottom is in the middle; both ends are worse (the V).
    assert 1e-8 <= sweep64.best_step <= 1e-3
    assert sweep64.errors[0] > 100 * sweep64.errors.min()
    assert sweep64.errors[-1] > 100 * sweep64.errors.min()
    # float32 rounds much earlier: its best step is larger, its best error worse.
    assert sweep32.best_step > sweep64.best_step
    assert sweep32.errors.min() > 100 * sweep64.errors.min()


def test_step_sweep_plot_is_written(tmp_path):
    sweep = step_size_sweep(lambda x: x.exp().sum(), np.array([0.5]))
    path = tmp_path / "v.png"
    sweep.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_step_depends_on_dtype_and_refuses_integers():
    assert default_step(np.float64) == 1e-4
    assert 4e-3 < default_step(np.float32) < 6e-3
    with pytest.raises(DTypeError, match="integer arrays round the step away"):
        default_step(np.int64)
    with pytest.raises(DTypeError):
        step_size_sweep(lambda x: x.sum(), np.array([3, 4]))
