"""Random computation graphs: shared sub-expressions, broadcasting, a scalar loss.

Hypothesis draws DAGs several ops deep whose nodes are reused (so gradients
accumulate along several paths) and checks every leaf's gradient.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Tensor, grad, gradcheck
from tinygrad_edu.testing import arrays, broadcastable_shapes

# Smooth, well-conditioned on any real input, so central differences are exact
# to ~1e-8 and every failure is a real gradient bug.
UNARY = {
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "softplus_like": lambda a: (1 + a * a).log(),
    "exp_of_tanh": lambda a: a.tanh().exp(),
    "softmax": lambda a: a.softmax(axis=-1) if a.ndim else a.sigmoid(),
    "mean_keepdims": lambda a: a.mean(axis=-1, keepdims=True) if a.ndim else a,
    "sqrt_like": lambda a: (a * a + 1) ** 0.5,
    "neg": lambda a: -a,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "safe_div": lambda a, b: a / (1 + b * b),
}


@st.composite
def graphs(draw):
    """(leaves, build) where build(*leaves) recomputes the drawn DAG's loss."""
    leaf_shapes = draw(broadcastable_shapes("(),(),()->()", loop_dims=2))
    leaves = [
        Tensor(draw(arrays(s)), requires_grad=True, name=f"leaf{i}")
        for i, s in enumerate(leaf_shapes)
    ]
    steps = []
    for _ in range(draw(st.integers(3, 10))):
        available = len(leaves) + len(steps)
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(UNARY)))
            steps.append((name, (draw(st.integers(0, available - 1)),)))
        else:
            name = draw(st.sampled_from(sorted(BINARY)))
            operands = st.integers(0, available - 1)
            steps.append((name, (draw(operands), draw(operands))))
    outputs = draw(
        st.lists(st.integers(0, len(leaves) + len(steps) - 1), min_size=1, max_size=3)
    )

    def build(*inputs):
        values = list(inputs)
        for name, operands in steps:
            rule = UNARY.get(name) or BINARY[name]
            values.append(rule(*(values[i] for i in operands)))
        loss = values[outputs[0]].sum()
        for i in outputs[1:]:
            loss = loss + values[i].sum()
        return loss

    return leaves, build


@given(graphs())
def test_every_leaf_gradient_of_a_random_graph_matches_central_differences(graph):
    leaves, build = graph
    assert gradcheck(build, leaves)


@given(graphs())
def test_backward_accumulates_exactly_what_grad_returns(graph):
    leaves, build = graph
    expected = grad(build(*leaves), leaves)
    build(*leaves).backward()
    for leaf, g in zip(leaves, expected, strict=True):
        if g is None:
            assert leaf.grad is None  # the loss does not depend on this leaf
        else:
            assert leaf.grad.shape == leaf.shape
            np.testing.assert_allclose(leaf.grad.numpy(), g.numpy(), rtol=1e-12)
