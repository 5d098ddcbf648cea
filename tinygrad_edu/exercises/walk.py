"""The one engine step a learner's backward walk calls: run a node's rule."""

from __future__ import annotations

from tinygrad_edu import engine
from tinygrad_edu.function import freed_graph_error
from tinygrad_edu.recording import no_grad
from tinygrad_edu.tensor import Tensor


def run_rule(tensor: Tensor, grad: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Run the backward rule of the op that computed ``tensor``.

    ``grad`` is the gradient of the final result with respect to ``tensor``.
    Returns (input, its gradient) for each input that needs one, the gradient
    summed back to the input's shape: the engine's own step, so that the walk
    (the order, the accumulation, the freeing) is all that is left to write.
    """
    node = tensor._node
    if node.inputs is None:
        raise freed_graph_error(node)
    with no_grad():  # first order: the rule's own ops are not recorded
        grads = engine._run_rule(node, tensor, grad, anomaly=False)
        return [
            (x, engine.fit_to_input(node, x, g))
            for x, needed, g in zip(node.inputs, node.needs_input_grad, grads)
            if needed and g is not None
        ]
