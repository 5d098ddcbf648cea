"""The backward walk: order, accumulation, freeing, higher order, custom ops."""

import gc
import threading
import time
import weakref

import numpy as np
import pytest
from bad_ops import Cube

from tinygrad_edu import Function, ShapeError, Tensor, grad, numerical_gradient
from tinygrad_edu.broadcasting import sum_to_shape
from tinygrad_edu.engine import topological_order


def test_readme_example_matches_hand_derived_gradients():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    labels = np.array([0, 1, 1])
    loss = (x @ w).sigmoid().softmax_cross_entropy(labels)
    loss.backward()

    z = 1 / (1 + np.exp(-(x.data @ w.data)))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    d_logits = (p - np.eye(2)[labels]) / 3
    d_pre = d_logits * z * (1 - z)
    np.testing.assert_allclose(loss.item(), -np.log(p[[0, 1, 2], labels]).mean())
    np.testing.assert_allclose(x.grad.numpy(), d_pre @ w.data.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), x.data.T @ d_pre, rtol=1e-12)
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype


def test_each_rule_runs_once_per_backward():
    calls = []

    class Counted(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            calls.append(1)
            return grad * 2

    x = Tensor([1.0, 2.0], requires_grad=True)
    h = Counted.apply(x)
    (h * h + h * 3 + h).sum().backward()  # h feeds four ops
    assert len(calls) == 1
    np.testing.assert_allclose(x.grad.numpy(), (2 * 2 * x.data + 4) * 2)


def test_a_tensor_used_twice_accumulates():
    x = Tensor(3.0, requires_grad=True)
    (x * x + x).backward()
    assert x.grad.item() == 7.0


def test_leaf_gradients_accumulate_across_backward_calls_until_cleared():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_intermediate_tensors_keep_no_grad_unless_retained():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    kept = (x * 3).retain_grad()
    (h * kept).sum().backward()
    assert h.grad is None
    np.testing.assert_array_equal(kept.grad.numpy(), h.data)


@pytest.mark.parametrize("shape", [(), (1,), (1, 1), (1, 1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_one_element_tensor_is_seeded_with_one_of_its_shape_and_dtype(shape, dtype):
    x = Tensor(np.full(shape, 2.0, dtype), requires_grad=True)
    (x * 3.0).backward()
    assert x.grad.shape == shape and x.grad.dtype == dtype
    assert x.grad.data.item() == 3.0
    x.grad = None
    x.backward()  # a leaf: the seed itself becomes its .grad
    assert x.grad.shape == shape and x.grad.data.item() == 1.0
    assert x.grad.data.base is None  # its own array, not a view of a temporary


def test_backward_with_an_explicit_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 40.0])


def test_retain_graph_allows_a_second_backward():
    x = Tensor(2.0, requires_grad=True)
    y = x.exp() * 3
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 2 * 3 * np.exp(2.0))


def test_backward_frees_the_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    hidden = x.exp()
    probe = weakref.ref(hidden)
    loss = (hidden * 2).sum()
    del hidden
    assert probe() is not None  # kept alive by the graph
    loss.backward()
    gc.collect()
    assert probe() is None


@pytest.mark.parametrize("retain_graph", [False, True])
def test_each_nodes_arrays_are_freed_as_soon_as_its_rule_has_run(retain_graph):
    """What the later (upstream) rules see still alive of the graph's arrays."""
    alive_when_first_op_ran = []

    class Probe(Function):  # an identity whose rule runs last in the walk
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, grad):
            alive_when_first_op_ran.extend(ref() is not None for ref in refs)
            return grad

    x = Tensor(np.ones(3), requires_grad=True)
    loss = (Probe.apply(x) * 2).sigmoid().sum()
    sigmoid_out = loss._node.inputs[0]
    mul_out = sigmoid_out._node.inputs[0]
    refs = [weakref.ref(sigmoid_out.data), weakref.ref(mul_out.data)]
    del sigmoid_out, mul_out
    loss.backward(retain_graph=retain_graph)
    # Freed: the memory of a deep net's activations is reused layer by layer
    # as backward goes down. Kept, for retain_graph's second backward.
    assert alive_when_first_op_ran == [retain_graph, retain_graph]
    s = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(x.grad.data, np.full(3, 2 * s * (1 - s)))


def test_a_backward_that_fails_halfway_frees_the_whole_graph_all_the_same():
    class Fails(Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("this rule is broken")

    x = Tensor(np.ones(3), requires_grad=True)
    # Fails runs before exp's rule is reached: exp's node must be freed too.
    loss = (Fails.apply(x.exp()) * 2).sum()
    nodes = [t._node for t in topological_order(loss)]
    with pytest.raises(ValueError, match="broken"):
        loss.backward()
    assert [node.inputs for node in nodes] == [None] * 4


def test_backward_on_a_leaf():
    x = Tensor(5.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_a_million_node_chain_backprops_without_recursion_in_linear_time():
    def chain_time(n):
        x = Tensor(np.ones(1), requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0
        start = time.perf_counter()
        y.sum().backward()
        return x, time.perf_counter() - start

    x, long_time = chain_time(1_000_000)
    assert x.grad.item() == 1.0
    _, short_time = chain_time(100_000)
    # Linear: 10x the nodes costs about 10x (a quadratic walk would cost 100x).
    assert long_time / short_time < 30


def test_backward_leaves_the_garbage_collector_as_it_found_it():
    class Broken(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            raise ZeroDivisionError("a rule that fails")

    x = Tensor([1.0, 2.0], requires_grad=True)
    was_enabled = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            (x * 2).sum().backward()
            assert gc.isenabled() is enabled
            with pytest.raises(ZeroDivisionError):
                Broken.apply(x).sum().backward()
            assert gc.isenabled() is enabled
    finally:
        (gc.enable if was_enabled else gc.disable)()


def test_a_node_keeps_no_reference_to_its_output():
    # A reference cycle would keep each graph alive until the cyclic GC ran.
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    node, probe = y._node, weakref.ref(y)
    del y
    assert probe() is None and node.inputs is not None


def test_gradients_never_alias_each_other_or_the_callers_array():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor([3.0, 4.0], requires_grad=True)
    seed = np.ones(2)
    (x + y).backward(seed)  # add passes the seed through to both inputs
    x.grad.data *= 10
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(seed, [1.0, 1.0])
    x.grad = None
    x.backward(seed)  # a leaf as the root
    assert x.grad.data is not seed
    tensor_seed = Tensor(np.ones(2))
    x.grad = None
    x.reshape(2, 1).reshape(2).backward(tensor_seed)  # reshapes pass views along
    assert not np.shares_memory(x.grad.data, tensor_seed.data)


class DotByShortcut(Function):
    """d(x·w)/dx = w times the upstream 1: returns the inputs themselves."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return np.dot(x, w)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return w, x


def test_a_rule_returning_an_input_as_a_gradient_gives_a_grad_of_its_own():
    # x.grad was w itself: a step on x then moved w too.
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, 4.0], requires_grad=True)
    DotByShortcut.apply(x, w).backward()
    assert x.grad is not w and not np.shares_memory(x.grad.data, w.data)
    assert not x.grad.requires_grad and not np.shares_memory(w.grad.data, x.data)
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


@pytest.mark.parametrize(
    ("shape", "target"),
    [((4, 3), (3,)), ((4, 3), (1, 3)), ((2, 4, 3), (4, 1)), ((4, 3), (4, 3))],
)
def test_sum_to_shape_sums_the_broadcast_axes_into_a_fresh_array(shape, target):
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal(shape), rng.standard_normal(target)
    out = sum_to_shape(x, target)
    assert out.shape == target
    # The adjoint of broadcasting: <sum_to(x), v> = <x, broadcast_to(v)>.
    np.testing.assert_allclose((out * v).sum(), (x * np.broadcast_to(v, shape)).sum())
    if target != shape:  # a bias gradient needs no defensive copy
        assert out.base is None


def test_sum_to_shape_refuses_a_shape_that_does_not_broadcast():
    with pytest.raises(ShapeError, match=r"cannot sum shape \(4, 3\) to \(2,\)"):
        sum_to_shape(np.ones((4, 3)), (2,))
    with pytest.raises(ShapeError, match="does not broadcast"):
        sum_to_shape(np.ones(3), (2, 3))


def test_views_and_shared_objects_become_separate_grads():
    a = Tensor(np.ones((2, 2)), requires_grad=True)
    c = Tensor(np.ones((2, 2)), requires_grad=True)
    y = a.T + c.T  # both gradients are transposed views of one array
    (y * y).sum().backward()
    assert not np.shares_memory(a.grad.data, c.grad.data)

    class TwiceTheSame(Function):
        @staticmethod
        def forward(ctx, x, w):
            return x + w

        @staticmethod
        def backward(ctx, grad):
            shared = grad * 1.0
            return shared, shared  # one object for both inputs

    u = Tensor([1.0], requires_grad=True)
    v = Tensor([2.0], requires_grad=True)
    TwiceTheSame.apply(u, v).sum().backward()
    assert u.grad is not v.grad and not np.shares_memory(u.grad.data, v.grad.data)


def test_topological_order_puts_each_node_after_its_inputs():
    x = Tensor(1.0, requires_grad=True)
    a = x.exp()
    b = a * 2
    c = a + b
    order = topological_order(c)
    assert order[-1] is c and len(order) == 3
    position = {id(t): i for i, t in enumerate(order)}
    assert position[id(a)] < position[id(b)] < position[id(c)]


# -- higher order -----------------------------------------------------------


def test_second_derivative_of_x_cubed_is_6x():
    x = Tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    first = x.grad
    np.testing.assert_allclose(first.numpy(), 3 * x.data**2)
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.data)


def test_hessian_vector_product_of_a_small_net():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    v = rng.standard_normal((3, 2))

    def loss_of(weights):
        return (Tensor(x) @ weights).tanh().sum()

    (g,) = grad(loss_of(w), [w], create_graph=True)
    (hvp,) = grad((g * v).sum(), [w])

    # The central difference of the gradient along v approximates H v.
    eps = 1e-6
    w_plus = Tensor(w.data + eps * v, requires_grad=True)
    w_minus = Tensor(w.data - eps * v, requires_grad=True)
    (g_plus,) = grad(loss_of(w_plus), [w_plus])
    (g_minus,) = grad(loss_of(w_minus), [w_minus])
    expected = (g_plus.data - g_minus.data) / (2 * eps)
    np.testing.assert_allclose(hvp.numpy(), expected, atol=1e-6)


def test_grad_leaves_dot_grad_untouched():
    x = Tensor(2.0, requires_grad=True)
    (dx,) = grad(x * x, [x])
    assert dx.item() == 4.0 and x.grad is None


def test_detach_cuts_the_graph():
    x = Tensor(2.0, requires_grad=True)
    y = (x * x).detach() * x
    y.backward()
    assert x.grad.item() == 4.0  # only the last factor is differentiated


# -- custom ops ----------------------------------------------------------------


def test_custom_function_first_and_second_derivatives():
    x = Tensor([2.0], requires_grad=True)
    y = Cube.apply(x)
    assert y._node.op_name == "cube"
    y.sum().backward(create_graph=True)
    assert x.grad.item() == 12.0
    (second,) = grad(x.grad.sum(), [x])
    assert second.item() == 12.0


def test_custom_ops_are_not_added_to_the_registry():
    from tinygrad_edu.ops import REGISTRY

    assert "cube" not in REGISTRY


def test_a_custom_backward_may_return_ndarrays():
    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad.numpy() * 2

    x = Tensor(np.ones(3), requires_grad=True)
    Double.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_inputs_that_do_not_require_grad_get_no_gradient_work():
    x = Tensor(np.ones((3, 2)))
    w = Tensor(np.ones((2, 4)), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None and w.grad.shape == (2, 4)


# -- what a graph saved cannot change before backward ----------------------------


def test_a_saved_array_is_read_only_until_backward_then_writable_again():
    array = np.array([1.0, 2.0])
    x = Tensor(array, requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 10  # would silently change the gradient backward computes
    with pytest.raises(ValueError, match="read-only"):
        array += 1  # the caller's own array is the same array
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    array += 1  # the graph is gone: the book's in-place update works again
    assert x.data[0] == 2.0


def test_index_arrays_are_kept_read_only_too():
    x = Tensor(np.arange(3.0), requires_grad=True)
    index = np.array([1, 1])
    y = x[index].sum()
    with pytest.raises(ValueError, match="read-only"):
        index[0] = 2
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0, 0.0])
    index[0] = 0  # writable again


@pytest.mark.parametrize(
    "no_op",
    [lambda x: x.astype(np.float64), lambda x: x.sum_to(3)],
    ids=["astype", "sum_to"],
)
def test_an_op_that_changes_nothing_still_protects_the_leaf(no_op):
    # NumPy returns the input itself for these; the output was then the leaf's
    # own array, not kept read-only, and a write before backward silently
    # changed the gradient.
    x = Tensor(np.array([1.0, 2.0, 4.0]), requires_grad=True)
    y = no_op(x)
    assert y.data is not x.data
    loss = y.log().sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[...] = 10.0
    loss.backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 0.5, 0.25])


def test_two_leaves_through_no_op_casts_get_gradients_of_their_own():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    (
        (a.astype(np.float64) + b.astype(np.float64)) * Tensor([0.0, 1.0, 2.0])
    ).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data[...] = 0
    np.testing.assert_array_equal(b.grad.data, [0.0, 1.0, 2.0])


def test_labels_changed_after_the_forward_do_not_change_the_gradient():
    # The loss keeps its one-hot rows, not the caller's labels, which stay
    # writable: the book's loop may reuse one label buffer for every batch.
    logits = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    labels = np.array([0, 2])
    x = Tensor(logits, requires_grad=True)
    loss = x.softmax_cross_entropy(labels)
    labels[:] = [1, 1]
    loss.backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x.grad.data, (p - np.eye(3)[[0, 2]]) / 2)


def test_many_threads_sharing_an_array_leave_it_writable():
    shared = np.linspace(-1.0, 1.0, 50)
    w = Tensor(shared, requires_grad=True)
    errors = []

    def train():
        try:
            for _ in range(300):
                (w * w).sum().backward()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=train) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and shared.flags.writeable
    shared -= 0.1 * w.grad.data  # the book's update works after all of them


def test_a_leaf_that_is_a_view_is_writable_again_with_its_base():
    base = np.arange(6.0)
    x = Tensor(base[1:5], requires_grad=True)
    y = (x * x).sum()
    for view in (base, x.data):
        with pytest.raises(ValueError, match="read-only"):
            view[0] = 9
    y.backward()
    base[0] = 9
    x.data[0] = 9
    assert base[1] == 9


def test_a_graph_dropped_without_backward_releases_its_arrays():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    assert not x.data.flags.writeable
    del y
    assert x.data.flags.writeable


def test_arrays_saved_by_two_live_graphs_stay_read_only_until_both_are_gone():
    x = Tensor(np.ones(3), requires_grad=True)
    first, second = (x * x).sum(), (x * 3.0).sum()
    first.backward()
    assert not x.data.flags.writeable  # the second graph still needs x
    second.backward()
    assert x.data.flags.writeable


def test_a_view_of_a_saved_array_protects_its_base():
    base = np.arange(4.0)
    x = Tensor(base, requires_grad=True)
    y = (x.reshape(2, 2) * x.reshape(2, 2)).sum()  # saves views of base
    with pytest.raises(ValueError, match="read-only"):
        base[0] = 9
    y.backward()
    base[0] = 9


def test_an_array_the_user_made_read_only_stays_read_only():
    array = np.ones(2)
    array.flags.writeable = False
    x = Tensor(array, requires_grad=True)
    (x * x).sum().backward()
    assert not array.flags.writeable


def test_the_books_training_loop_updates_params_in_place_after_gradient():
    from models.two_layer_net import TwoLayerNet

    net = TwoLayerNet(4, 3, 2, rng=np.random.default_rng(0))
    x, t = np.random.default_rng(1).random((5, 4)), np.array([0, 1, 1, 0, 1])
    for _ in range(3):
        grads = net.gradient(x, t)
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= 0.1 * grads[key]


# Losses refuse an empty batch ("Skip empty batches"); what an empty batch may
# still meet is a layer and a reduction. An empty axis of size 0 (no samples,
# or no input features), through every reduction of a (batch, 2) activation.
REDUCTIONS = {
    "sum": lambda h: h.sum(),
    "sum over the batch": lambda h: h.sum(axis=0).sum(),
    "mean over the features": lambda h: h.mean(axis=-1, keepdims=True).sum(),
    "mean over the batch": lambda h: h.mean(axis=0).sum(),  # NaN for no samples
    "softmax": lambda h: (h.softmax(axis=-1) * h).sum(),
    "log_softmax": lambda h: h.log_softmax(axis=-1).sum(),
}


@pytest.mark.parametrize("reduce", REDUCTIONS.values(), ids=REDUCTIONS.keys())
@pytest.mark.parametrize("x_shape", [(0, 3), (4, 0)], ids=["no samples", "no features"])
def test_gradients_of_gradients_through_an_empty_axis_are_finite(x_shape, reduce):
    rng = np.random.default_rng(0)
    x_data = rng.standard_normal(x_shape)
    w_data, b_data = rng.standard_normal((x_shape[1], 2)), rng.standard_normal(2)

    def loss_of(w, b):
        return reduce((Tensor(x_data) @ w + b).tanh())

    w, b = Tensor(w_data.copy(), requires_grad=True), Tensor(b_data.copy(), True)
    gw, gb = grad(loss_of(w, b), [w, b], create_graph=True)
    assert gw.shape == w.shape and gb.shape == b.shape
    assert np.isfinite(gw.data).all() and np.isfinite(gb.data).all()
    # Second order: the Hessian-vector product against central differences of
    # the gradient along v.
    vw, vb = rng.standard_normal(w.shape), rng.standard_normal(b.shape)
    hw, hb = grad((gw * vw).sum() + (gb * vb).sum(), [w, b])
    eps = 1e-6
    plus = [
        Tensor(a + eps * v, requires_grad=True)
        for a, v in zip((w_data, b_data), (vw, vb))
    ]
    minus = [
        Tensor(a - eps * v, requires_grad=True)
        for a, v in zip((w_data, b_data), (vw, vb))
    ]
    g_plus = grad(loss_of(*plus), plus)
    g_minus = grad(loss_of(*minus), minus)
    for h, p, m in zip((hw, hb), g_plus, g_minus):
        assert h.shape == p.shape and np.isfinite(h.data).all()
        np.testing.assert_allclose(h.data, (p.data - m.data) / (2 * eps), atol=1e-6)
    if x_shape[0] == 0:  # no samples: nothing pulls on the weights
        assert not gw.data.any() and not gb.data.any()
    else:  # no features: only the bias moves the loss, against central differences
        expected = numerical_gradient(
            lambda b_: loss_of(w_data, b_).item(), b_data.copy()
        )
        np.testing.assert_allclose(gb.data, expected, atol=1e-8)
