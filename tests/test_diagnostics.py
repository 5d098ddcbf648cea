"""Diagnostics: blame names the broken op, explain shows the walk, step sweeps."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bad_ops import (
    IdentityWithASlightlyWrongGradient,
    SquareThatForgetsTheTwo,
    SquareWhoseBackwardUsesData,
)

from tinygrad_edu import Function, GradcheckError, Tensor, gradcheck
from tinygrad_edu.diagnostics import (
    SUSPECT_FROM,
    Explanation,
    blame,
    default_step,
    explain,
    nearest_kink,
    statistics,
    step_size_sweep,
    summarize,
)
from tinygrad_edu.errors import DTypeError, GraphError

ROOT = Path(__file__).resolve().parents[1]


def twenty_ops(x, w):
    """A 20-op graph with the broken op buried in the middle."""
    h = (x @ w).tanh()
    for _ in range(4):
        h = (h * 0.9 + 0.1).sigmoid()
    h = SquareThatForgetsTheTwo.apply(h)  # the culprit (this line is reported)
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
    assert culprit.op_name == "square_that_forgets_the_two"
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
        r"'square_that_forgets_the_two' \(created at .*test_diagnostics",
    ):
        gradcheck(twenty_ops, inputs())


def test_blame_is_none_when_every_rule_is_right():
    def fine(x, w):
        return ((x @ w).sigmoid() * 3.0).sum()

    assert blame(fine, inputs()) is None
    assert blame(fine, inputs(), order=2) is None


def nearly_cancelling(x):
    """The slightly wrong op (1.0009 for 1) passes on its own; subtracting
    0.99·x leaves a derivative of 0.01, and its 9e-4 error is now 9%."""
    return (IdentityWithASlightlyWrongGradient.apply(x) - 0.99 * x).sum()


def test_an_error_too_small_to_fail_alone_is_blamed_where_it_starts():
    x = [Tensor([0.5, -1.0, 2.0], requires_grad=True)]
    assert gradcheck(IdentityWithASlightlyWrongGradient.apply, x)
    culprit = blame(nearly_cancelling, x)
    assert culprit.kind == "amplified"
    assert culprit.op_name == "identity_with_a_slightly_wrong_gradient"
    assert "% of its threshold" in culprit.detail
    with pytest.raises(GradcheckError) as raised:
        gradcheck(nearly_cancelling, x)
    cause = str(raised.value).splitlines()[-1]
    assert cause.startswith(
        "The cause: no single op fails on its own; the error grows downstream of "
        "'identity_with_a_slightly_wrong_gradient' (created at "
    )


def test_right_ops_use_a_tiny_part_of_their_tolerance():
    """What makes an op suspect: far more of its tolerance than a right op uses."""
    from tinygrad_edu.diagnostics import _check_node
    from tinygrad_edu.recording import recording_sites

    with recording_sites():
        out = ((inputs()[0] @ inputs()[1]).tanh() * 0.9 + 0.1).sigmoid().sum()
    from tinygrad_edu.engine import topological_order

    for computed in topological_order(out):
        kind, _, ratio = _check_node(computed._node, 1, {})
        assert kind is None and ratio < SUSPECT_FROM / 1000


def test_blame_of_second_order_names_the_unrecorded_backward():
    def model(x):
        return SquareWhoseBackwardUsesData.apply(x.tanh()).sum()

    culprit = blame(model, [Tensor([0.5, -1.0], requires_grad=True)], order=2)
    assert culprit.kind == "not recorded"
    assert culprit.op_name == "square_whose_backward_uses_data"
    assert "is not recorded" in str(culprit)


def test_a_kink_is_not_blamed_and_nearest_kink_names_the_op():
    x = Tensor(np.array([[0.0, 1.0], [2.0, -1.0]]))

    def model(w):
        return ((x @ w).relu() * 2.0).sum()

    w = [Tensor(np.array([[1.0, 0.0], [0.0, 1.0]]), requires_grad=True)]
    assert blame(model, w) is None  # relu at 0 is skipped, not blamed
    found = nearest_kink(model, w)
    assert found.startswith("'relu' (created at ")
    assert "has input 0 at element (0, 0) equal to 0, 0 from its kink at 0" in found
    smooth = [Tensor(np.array([[1.0, 0.3], [0.5, 1.0]]), requires_grad=True)]
    assert nearest_kink(model, smooth) is None


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
    # the local derivatives as numbers: dz/dx = w, dz/dw = x, dσ/du = σ (1 - σ)
    np.testing.assert_allclose(mul.local_factors[0], w.data)
    np.testing.assert_allclose(mul.local_factors[1], x.data)
    np.testing.assert_allclose(explanation.steps[1].local_factors[0], upstream)
    text = str(explanation)
    assert "step 2: sigmoid" in text and "dy/dx = y (1 - y)" in text
    assert "local factor [ 3., -1.] → gradient" in text
    assert "<table>" in explanation._repr_html_()


def test_the_local_factor_of_x_times_x_at_2_is_2_for_each_input():
    x = Tensor([2.0], requires_grad=True)
    steps = explain((x * x * 3.0).sum()).steps  # 3.0: the upstream is not 1
    square = steps[2]
    assert square.op_name == "mul" and square.elementwise
    assert square.upstream.tolist() == [3.0]
    assert [f.tolist() for f in square.local_factors] == [[2.0], [2.0]]
    assert square.input_lines() == [
        "input 0: local factor [2.] → gradient [6.]",
        "input 1: local factor [2.] → gradient [6.]",
    ]
    assert x.grad.item() == 12.0  # 6 + 6: both inputs are x


def test_the_local_factor_of_the_sigmoid_at_0_is_a_quarter():
    x = Tensor([0.0, 0.0], requires_grad=True)
    explanation = explain((x.sigmoid() * 4.0).sum())
    sigmoid = explanation.steps[2]
    assert sigmoid.op_name == "sigmoid" and sigmoid.upstream.tolist() == [4.0, 4.0]
    assert sigmoid.local_factors[0].tolist() == [0.25, 0.25]
    assert "local factor [0.25, 0.25] → gradient [1., 1.]" in str(explanation)
    html = explanation._repr_html_()
    assert "local factor [0.25, 0.25] → gradient [1., 1.]" in html
    assert "<th>local derivative</th>" in html


@pytest.mark.parametrize(
    ("build", "derivatives"),
    [
        (lambda x, y: x / y, lambda x, y: [1 / y, -x / y**2]),
        (lambda x, y: x - y, lambda x, y: [np.ones_like(x), -np.ones_like(y)]),
        (lambda x, y: x**y, lambda x, y: [y * x ** (y - 1), x**y * np.log(x)]),
        (
            lambda x, y: x.tanh() + y.exp(),
            lambda x, y: [1 - np.tanh(x) ** 2, np.exp(y)],
        ),
        (lambda x, y: x.log() * y.relu(), None),
    ],
    ids=["div", "sub", "pow", "tanh_exp", "log_relu"],
)
def test_local_factors_are_the_derivatives_at_the_inputs(build, derivatives):
    """For every elementwise step, the factor is the op's derivative at its inputs
    (the upstream is random, so a factor that is not grad_in / upstream fails)."""
    rng = np.random.default_rng(1)
    x = Tensor(rng.uniform(0.5, 2.0, 4), requires_grad=True)
    y = Tensor(rng.uniform(-1.0, 1.5, 4), requires_grad=True)
    out = build(x, y)
    seed = rng.uniform(0.5, 2.0, 4)
    explanation = explain(out, gradient=seed)
    first = explanation.steps[0]
    np.testing.assert_allclose(first.upstream, seed)
    if derivatives is not None:
        expected = derivatives(x.data, y.data)
        if len(explanation.steps) == 1:  # one binary op: its two factors
            factors = first.local_factors
        else:  # tanh(x) + exp(y): the add's factors are 1, then each unary op's
            np.testing.assert_allclose(first.local_factors, np.ones((2, 4)))
            by_op = {s.op_name: s.local_factors[0] for s in explanation.steps[1:]}
            factors = [by_op["tanh"], by_op["exp"]]
        for factor, derivative in zip(factors, expected):
            np.testing.assert_allclose(factor, derivative, rtol=1e-12)
    else:
        by_op = {s.op_name: s for s in explanation.steps}
        np.testing.assert_allclose(by_op["mul"].local_factors[0], np.maximum(y.data, 0))
        np.testing.assert_allclose(by_op["mul"].local_factors[1], np.log(x.data))
        relu = by_op["relu"].local_factors[0]
        np.testing.assert_allclose(relu, (y.data > 0).astype(float))
        # log's upstream is seed * relu(y): 0 where y < 0, so no factor there
        log = by_op["log"].local_factors[0]
        cut = y.data <= 0
        assert cut.any() and not cut.all()
        np.testing.assert_array_equal(np.isnan(log), cut)
        np.testing.assert_allclose(log[~cut], 1 / x.data[~cut])


def test_a_wrong_rule_shows_as_a_wrong_local_factor():
    x = Tensor([3.0], requires_grad=True)
    step = explain(SquareThatForgetsTheTwo.apply(x).sum()).steps[1]
    assert step.local_factors[0].tolist() == [3.0]  # what the rule applied: x
    assert step.local_factors[0].tolist() != [2 * 3.0]  # d(x²)/dx = 2x = 6


def test_non_elementwise_steps_are_vector_jacobian_products_without_factors():
    x = Tensor(np.arange(6.0).reshape(2, 3) / 6, requires_grad=True)
    w = Tensor(np.ones((3, 3)), requires_grad=True)
    explanation = explain((x @ w).softmax(axis=1).sum())
    assert [s.op_name for s in explanation.steps] == ["sum", "softmax", "matmul"]
    for step in explanation.steps:
        assert not step.elementwise
        assert step.local_factors == [None] * len(step.input_grads)
    text = str(explanation)
    assert text.count("(a vector-Jacobian product: no per-element factor)") == 4
    assert "local factor" not in text
    assert "Softmax" in explanation.steps[1].rule  # only the formula is shown


def test_an_undefined_factor_is_nan_where_the_gradient_from_above_is_zero():
    x = Tensor([1.0, -1.0, 2.0], requires_grad=True)
    explanation = explain((x * 3.0).relu().sum())
    mul = explanation.steps[-1]
    assert mul.op_name == "mul"
    assert mul.upstream.tolist() == [1.0, 0.0, 1.0]  # relu let nothing through at -3
    factor = mul.local_factors[0]
    assert factor[0] == 3.0 and np.isnan(factor[1]) and factor[2] == 3.0
    assert mul.local_factors[1] is None  # the constant 3.0 needs no gradient
    assert "nan at 1: the gradient from above is 0 there" in str(explanation)


def test_a_broadcast_input_shows_the_sum_back_to_its_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    add = explain((x * b).sum()).steps[1]
    np.testing.assert_allclose(add.local_factors[0], np.broadcast_to(b.data, (2, 3)))
    np.testing.assert_allclose(add.local_factors[1], x.data)
    assert add.input_shapes == [(2, 3), (3,)]
    assert add.input_lines()[1].endswith("summed to shape (3,)")
    np.testing.assert_allclose(b.grad.data, [2.0, 2.0, 2.0])


class MulThatSumsItself(Function):
    """z = x * y, whose rule undoes the broadcast itself (the engine would)."""

    signature = "(),()->()"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return (grad * y).sum_to(x.shape), (grad * x).sum_to(y.shape)


def test_no_factor_is_made_up_when_the_rule_returns_another_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    step = explain(MulThatSumsItself.apply(x, b).sum()).steps[1]
    assert step.elementwise
    np.testing.assert_allclose(step.local_factors[0], np.broadcast_to(b.data, (2, 3)))
    assert step.local_factors[1] is None  # a (3,) gradient for a (2, 3) upstream
    assert "input 1: gradient [2., 2., 2.]  (not the shape of the gradient from" in (
        "\n".join(step.input_lines())
    )
    np.testing.assert_allclose(b.grad.data, [2.0, 2.0, 2.0])


def test_explain_summarizes_large_arrays_and_marks_unneeded_inputs():
    x = Tensor(np.ones((50, 50)), requires_grad=True)
    explanation = explain((x * 2.0).sum())
    text = str(explanation)
    assert "shape (50, 50), norm 100" in text
    assert "local factor 2 everywhere in shape (50, 50)" in text
    assert "not needed" in text  # the constant 2.0 needs no gradient
    assert isinstance(explanation, Explanation)
    y = Tensor(np.linspace(1.0, 2.0, 100), requires_grad=True)
    text = str(explain(y.log().sum()))  # factor 1/y: from 1 down to 0.5
    norm = np.linalg.norm(1 / y.data)
    assert f"local factor shape (100,), norm {norm:.4g}, range [0.5, 1] →" in text
    assert all(len(line) < 200 for line in text.splitlines())


def test_explain_at_a_plain_python_prompt_shows_the_steps():
    """The REPL echoes repr(): it must be the text, not a dataclass's fields."""
    typed = (
        "from tinygrad_edu import Tensor\n"
        "from tinygrad_edu.diagnostics import explain\n"
        "x = Tensor([2.0], requires_grad=True)\n"
        "explain((x * x).sum())\n"
    )
    repl = subprocess.run(
        [sys.executable, "-i", "-q"],
        input=typed,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    x = Tensor([2.0], requires_grad=True)
    assert repl.stdout == str(explain((x * x).sum())) + "\n"
    assert repl.stdout.startswith("step 1: sum")
    assert "Explanation(" not in repl.stdout and "array(" not in repl.stdout


def test_explain_shows_a_composite_as_a_frame_around_its_primitives():
    """.mean() is recorded as sum, then mul by 1/n: explain names it mean."""
    x = Tensor([2.0, 4.0], requires_grad=True)
    explanation = explain((x * x).mean() + x.mean())
    heads = [line for line in str(explanation).splitlines() if "step" in line]
    assert heads == [
        "step 1: add  (Addition: z = x + y; dz/dx = dz/dy = 1.)",
        "    step 2: mul  (Multiplication: z = x * y; dz/dx = y, dz/dy = x.)",
        "    step 3: sum  (Sum over axes: y = Σ x; dy/dx = 1, so the gradient is "
        "broadcast back.)",
        "    step 4: mul  (Multiplication: z = x * y; dz/dx = y, dz/dy = x.)",
        "    step 5: sum  (Sum over axes: y = Σ x; dy/dx = 1, so the gradient is "
        "broadcast back.)",
        "step 6: mul  (Multiplication: z = x * y; dz/dx = y, dz/dy = x.)",
    ]
    frames = [line for line in str(explanation).splitlines() if "in " in line[:4]]
    assert frames == ["in mean:", "in mean:"]  # two calls, two frames
    text = str(explanation)
    assert text.index("in mean:") < text.index("step 2:")  # the frame opens first
    assert text.index("step 3:") < text.rindex("in mean:") < text.index("step 4:")
    assert [s.scope for s in explanation.steps][:3] == [(), ("mean",), ("mean",)]
    assert "<td>mean</td><td><b>mul</b></td>" in explanation._repr_html_()


def test_explain_nests_the_frames_of_modules_and_composites():
    from tinygrad_edu import nn

    model = nn.Sequential(nn.Linear(2, 1))
    explanation = explain(model(Tensor([[1.0, 2.0]])).mean())
    lines = str(explanation).splitlines()
    assert [line for line in lines if line.lstrip().startswith("in ")] == [
        "in mean:",
        "in Sequential:",
        "    in Linear(2→1):",
    ]
    ops = {s.op_name: s.scope for s in explanation.steps}
    assert ops["matmul"] == ("Sequential", "Linear(2→1)") and ops["sum"] == ("mean",)
    assert any(line.startswith("        step 3: add  (") for line in lines)


def test_explain_refuses_a_graph_without_gradients():
    with pytest.raises(GraphError, match="does not require grad"):
        explain(Tensor([1.0]).sum())


def test_summarize_small_and_large():
    assert summarize(np.array([1.0, 2.0])) == "[1., 2.]"
    assert summarize(np.eye(2)) == "[[1., 0.], [0., 1.]]"  # one line
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


def test_step_sweep_plot_draws_h_growing_to_the_right():
    """The convention of the tutorial's error-vs-h plot: one direction in the docs."""
    ax = step_size_sweep(lambda x: x.exp().sum(), np.array([0.5])).plot()
    left, right = ax.get_xlim()
    assert not ax.xaxis_inverted() and left < right


def test_default_step_depends_on_dtype_and_refuses_integers():
    assert default_step(np.float64) == 1e-4
    assert 4e-3 < default_step(np.float32) < 6e-3
    with pytest.raises(DTypeError, match="integer arrays round the step away"):
        default_step(np.int64)
    with pytest.raises(DTypeError):
        step_size_sweep(lambda x: x.sum(), np.array([3, 4]))


def test_one_summary_of_large_arrays_counts_bools_and_reports_nan_quietly():
    assert statistics(np.array([True, False, True, True])) == {
        "mean": 0.75,
        "min": 0.0,
        "max": 1.0,
        "norm": pytest.approx(3**0.5),
    }
    # Warnings are errors in the tests: these would fail if NumPy warned.
    assert all(np.isnan(v) for v in statistics(np.array([1.0, np.nan])).values())
    with_inf = statistics(np.array([1.0, -np.inf]))
    assert with_inf["min"] == -np.inf and with_inf["norm"] == np.inf
    assert summarize(np.arange(12.0)) == "shape (12,), norm 22.49, range [0, 11]"
