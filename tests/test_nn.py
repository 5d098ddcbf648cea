"""nn: registration, gradients of layers, state dicts, module scopes, init."""

from contextlib import contextmanager

import bad_ops
import numpy as np
import pytest

from tinygrad_edu import (
    DomainError,
    DTypeError,
    GradcheckError,
    GraphError,
    ShapeError,
    StateDictError,
    Tensor,
    gradcheck,
    gradgradcheck,
    manual_seed,
    nn,
    optim,
)
from tinygrad_edu import functional as F
from tinygrad_edu.engine import topological_order


@contextmanager
def parameters_replaced(module, tensors):
    """Let ``module`` compute with ``tensors`` (by dotted name) in place of its own.

    gradcheck differentiates with respect to float64 copies of its inputs, so
    the module must use those very Tensors. Attributes are set without going
    through registration and are put back afterwards.
    """
    owners = dict(module.named_modules())
    saved = []
    try:
        for name, tensor in tensors.items():
            owner_name, _, attribute = name.rpartition(".")
            owner = owners[owner_name]
            saved.append((owner, attribute, getattr(owner, attribute)))
            object.__setattr__(owner, attribute, tensor)
        yield
    finally:
        for owner, attribute, original in reversed(saved):
            object.__setattr__(owner, attribute, original)


def check_module_gradients(model, x, loss_of=lambda y: (y * y).sum()):
    """gradcheck the loss of ``model(x)`` with respect to x and every parameter."""
    names = [name for name, _ in model.named_parameters()]
    leaves = [Tensor(x, requires_grad=True)] + [p for _, p in model.named_parameters()]

    def loss(x, *params):
        with parameters_replaced(model, dict(zip(names, params))):
            return loss_of(model(x))

    assert gradcheck(loss, leaves)


class TwoLayers(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, rng=rng)
        self.act = nn.Sigmoid()
        self.fc2 = nn.Linear(4, 2, rng=rng)
        self.scale = nn.Parameter(np.ones(2))

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


# ------------------------------------------------------------------ gradients


def test_linear_gradients_for_weight_bias_and_input():
    rng = np.random.default_rng(0)
    layer = nn.Linear(3, 2, rng=1)
    check_module_gradients(layer, rng.standard_normal((5, 3)))


def test_linear_without_bias_gradients():
    rng = np.random.default_rng(1)
    layer = nn.Linear(4, 3, bias=False, rng=2)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    check_module_gradients(layer, rng.standard_normal((2, 4)))


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Tanh, nn.ReLU])
def test_sequential_mlp_gradients_with_cross_entropy(activation):
    rng = np.random.default_rng(2)
    model = nn.Sequential(
        nn.Linear(3, 5, rng=3),
        activation(),
        nn.Linear(5, 4, rng=4),
        activation(),
        nn.Linear(4, 3, rng=5),
    )
    labels = np.array([0, 2, 1, 2])
    check_module_gradients(
        model,
        rng.standard_normal((4, 3)),
        loss_of=lambda y: y.softmax_cross_entropy(labels),
    )


def test_custom_module_gradients_include_its_own_parameter():
    model = TwoLayers()
    check_module_gradients(model, np.random.default_rng(3).standard_normal((2, 3)))


def test_the_gradient_check_helper_catches_a_wrong_forward():
    """A module whose forward uses a copy of its weight cannot pass the check."""

    class Detached(nn.Linear):
        def forward(self, x):
            return x @ Tensor(self.weight.data) + self.bias  # gradient cut off

    layer = Detached(2, 2, rng=0)
    with pytest.raises(AssertionError):
        check_module_gradients(layer, np.ones((1, 2)))


def test_backward_reaches_the_parameters_themselves():
    model = TwoLayers()
    model(np.ones((2, 3))).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape


# ------------------------------------------------------------- registration


def test_named_parameters_follow_assignment_order_with_dotted_names():
    model = TwoLayers()
    names = [name for name, _ in model.named_parameters()]
    # own parameters first, then each child's, in the order they were assigned
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert list(model.parameters()) == [p for _, p in model.named_parameters()]
    assert [p.shape for p in model.parameters()] == [(2,), (3, 4), (4,), (4, 2), (2,)]


def test_nested_sequential_names():
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 1))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert [name for name, _ in model.named_modules()] == ["", "0", "0.0", "0.1", "1"]
    assert len(list(model.modules())) == 5
    assert [type(m).__name__ for m in model.children()] == ["Sequential", "Linear"]


def test_plain_tensors_and_other_values_are_not_registered():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.constant = Tensor([1.0, 2.0], requires_grad=True)
            self.sizes = [1, 2]
            self.p = nn.Parameter([1.0])

    assert [name for name, _ in M().named_parameters()] == ["p"]


def test_reassigning_or_deleting_an_attribute_updates_the_registry():
    layer = nn.Linear(2, 3)
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    layer.bias = nn.Parameter(np.zeros(3))
    del layer.weight
    assert [name for name, _ in layer.named_parameters()] == ["bias"]
    assert not hasattr(layer, "weight")


def test_a_shared_parameter_or_module_is_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_assigning_a_part_before_module_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_a_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        type("Empty", (nn.Module,), {})()(1.0)


def test_parameter_is_a_slotted_tensor_requiring_grad():
    p = nn.Parameter(np.zeros((2, 2)))
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf
    assert not hasattr(p, "__dict__")
    assert repr(nn.Parameter([1.0])) == "Parameter([1.], requires_grad=True)"
    assert not nn.Parameter([1.0], requires_grad=False).requires_grad
    with pytest.raises(DTypeError):
        nn.Parameter([1, 2])  # integers cannot have gradients


# ----------------------------------------------------- training helpers


def test_zero_grad_clears_every_gradient():
    model = TwoLayers()
    model(np.ones((1, 3))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_set_the_flag_everywhere():
    model = TwoLayers()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    assert model.fc1.training


# ---------------------------------------------------------------- linear


def test_linear_computes_x_at_w_plus_b():
    layer = nn.Linear(3, 2, rng=0)
    layer.bias.data[:] = [1.0, -1.0]
    x = np.arange(6.0).reshape(2, 3)
    y = layer(x)
    assert isinstance(y, Tensor)
    np.testing.assert_allclose(y.data, x @ layer.weight.data + [1.0, -1.0])
    np.testing.assert_array_equal(layer(Tensor(x)).data, y.data)
    assert layer(x[0]).shape == (2,)  # a single sample without a batch axis


def test_linear_wrong_feature_count_names_the_layer_and_shapes():
    layer = nn.Linear(784, 50)
    with pytest.raises(ShapeError, match=r"Linear\(784→50\).*\(100, 785\).*784"):
        layer(np.zeros((100, 785)))
    with pytest.raises(ShapeError, match=r"shape \(\)"):
        layer(3.0)


def test_linear_float32_stays_float32():
    layer = nn.Linear(3, 2, dtype=np.float32, rng=0)
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    y = layer(np.ones((4, 3), dtype=np.float32))
    assert y.dtype == np.float32
    y.sum().backward()
    assert layer.weight.grad.dtype == np.float32


def test_linear_init_normal_matches_the_book_under_np_random_seed():
    np.random.seed(0)
    layer = nn.Linear(4, 3, init="normal", std=0.01)
    np.random.seed(0)
    book = 0.01 * np.random.randn(4, 3)
    np.testing.assert_array_equal(layer.weight.data, book)
    np.testing.assert_array_equal(layer.bias.data, np.zeros(3))


def test_linear_rng_seed_or_generator_repeats():
    a = nn.Linear(5, 4, rng=7).weight.data
    b = nn.Linear(5, 4, rng=np.random.default_rng(7)).weight.data
    c = nn.Linear(5, 4, rng=8).weight.data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("init", "expected_std"),
    [("normal", 0.05), ("xavier", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400))],
)
def test_linear_init_spreads(init, expected_std):
    weight = nn.Linear(400, 300, init=init, std=0.05, rng=0).weight.data
    assert abs(weight.mean()) < 0.05 * expected_std
    assert weight.std() == pytest.approx(expected_std, rel=0.02)


def test_linear_init_may_be_a_function():
    layer = nn.Linear(2, 3, init=lambda w: w.data.fill(0.5))
    np.testing.assert_array_equal(layer.weight.data, np.full((2, 3), 0.5))


def test_linear_rejects_bad_arguments():
    with pytest.raises(DomainError, match=r"'uniform'.*'xavier'"):
        nn.Linear(2, 2, init="uniform")
    with pytest.raises(DomainError, match="in_features must be positive, got 0"):
        nn.Linear(0, 2)
    with pytest.raises(DTypeError, match="out_features must be an int"):
        nn.Linear(2, 2.5)
    with pytest.raises(DTypeError, match=r"floating-point.*int64"):
        nn.Linear(2, 2, dtype=np.int64)
    with pytest.raises(DTypeError, match="rng must be"):
        nn.Linear(2, 2, rng="seed")


# ---------------------------------------------------------------- init


def test_init_functions_fill_in_place_and_return_their_argument():
    w = nn.Parameter(np.ones((50, 40)))
    array = w.data
    assert nn.normal_(w, std=0.1, rng=0) is w
    assert w.data is array and w.data.std() == pytest.approx(0.1, rel=0.05)
    assert nn.zeros_(w) is w and not w.data.any()
    plain = np.empty((8, 2), dtype=np.float32)
    assert nn.he_(plain, rng=0) is plain and plain.dtype == np.float32


def test_init_functions_refuse_what_they_cannot_fill():
    with pytest.raises(ShapeError, match=r"\(n_in, n_out\), got \(3,\)"):
        nn.xavier_(nn.Parameter(np.zeros(3)))
    with pytest.raises(DTypeError, match="floating-point"):
        nn.he_(Tensor(np.zeros((2, 2), dtype=np.int64)))
    with pytest.raises(DomainError, match="std must be zero or positive"):
        nn.normal_(nn.Parameter(np.zeros((2, 2))), std=-1.0)


# ------------------------------------------------------- sequential and activations


def test_sequential_indexing_length_and_iteration():
    first, second, third = nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)
    model = nn.Sequential(first, second, third)
    assert len(model) == 3
    assert model[0] is first and model[-1] is third
    assert list(model) == [first, second, third]
    tail = model[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [second, third]
    assert model.append(nn.Sigmoid()) is model and len(model) == 4
    with pytest.raises(IndexError):
        model[4]


def test_sequential_refuses_non_modules():
    with pytest.raises(DTypeError, match="item 1 is a function, not a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x.tanh())


def test_activation_modules_compute_their_functions():
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x))
    np.testing.assert_array_equal(nn.ReLU()(Tensor(x)).data, np.maximum(x, 0))


def test_repr_is_nested_like_pytorch():
    assert repr(TwoLayers()) == (
        "TwoLayers(\n  (fc1): Linear(3→4)\n  (act): Sigmoid()\n  (fc2): Linear(4→2)\n)"
    )
    nested = nn.Sequential(nn.Sequential(nn.Linear(1, 2, bias=False)))
    assert repr(nested) == (
        "Sequential(\n  (0): Sequential(\n    (0): Linear(1→2, bias=False)\n  )\n)"
    )


# --------------------------------------------------------------- name scopes


def test_recorded_nodes_carry_the_module_path():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Sigmoid(), nn.Linear(4, 2, rng=0))
    loss = model(np.ones((2, 3))).softmax_cross_entropy(np.array([0, 1]))
    scopes = {(t._node.op_name, t._node.scope) for t in topological_order(loss)}
    assert scopes == {
        ("softmax_cross_entropy", ()),
        ("add", ("Sequential", "Linear(4→2)")),
        ("matmul", ("Sequential", "Linear(4→2)")),
        ("sigmoid", ("Sequential", "Sigmoid")),
        ("add", ("Sequential", "Linear(3→4)")),
        ("matmul", ("Sequential", "Linear(3→4)")),
    }


def test_the_scope_is_closed_after_a_call_even_if_forward_raises():
    layer = nn.Linear(2, 2)
    with pytest.raises(ShapeError):
        layer(np.ones((1, 3)))
    y = Tensor([1.0], requires_grad=True) * 2
    assert y._node.scope == ()


def test_the_label_is_computed_once():
    calls = []

    class Counting(nn.ReLU):
        def extra_repr(self):
            calls.append(1)
            return "counted"

    module = Counting()
    for _ in range(3):
        out = module(Tensor([1.0], requires_grad=True))
    assert len(calls) == 1
    assert out._node.scope == ("Counting(counted)",)


# ---------------------------------------------------------------- state dicts


def test_state_dict_holds_copies_by_name():
    model = TwoLayers()
    state = model.state_dict()
    assert list(state) == [name for name, _ in model.named_parameters()]
    assert all(type(v) is np.ndarray for v in state.values())
    state["fc1.weight"][:] = 123.0
    assert not (model.fc1.weight.data == 123.0).any()


def test_state_dict_round_trip_predicts_identically():
    x = np.random.default_rng(0).standard_normal((5, 3))
    source, target = TwoLayers(rng=1), TwoLayers(rng=2)
    source.fc2.bias.data[:] = [0.5, -0.5]
    assert not np.allclose(source(x).data, target(x).data)
    arrays = [p.data for p in target.parameters()]
    result = target.load_state_dict(source.state_dict())
    assert result == nn.IncompatibleKeys([], [])
    np.testing.assert_array_equal(target(x).data, source(x).data)
    # copied into the existing arrays: optimizers holding them keep working
    assert all(p.data is a for p, a in zip(target.parameters(), arrays))


def test_load_state_dict_casts_to_the_parameter_dtype():
    layer = nn.Linear(2, 2, dtype=np.float32)
    state = {"weight": np.full((2, 2), 0.1), "bias": Tensor([1.0, 2.0])}
    layer.load_state_dict(state)
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, np.float32(0.1))
    np.testing.assert_array_equal(layer.bias.data, [1.0, 2.0])


def test_load_state_dict_missing_and_unexpected_keys_are_listed():
    model = TwoLayers()
    before = model.state_dict()
    state = model.state_dict()
    del state["fc2.bias"]
    state["fc3.weight"] = np.zeros(2)
    with pytest.raises(StateDictError) as info:
        model.load_state_dict({k: v + 1 for k, v in state.items()})
    message = str(info.value)
    assert "missing keys" in message and "'fc2.bias'" in message
    assert "unexpected keys" in message and "'fc3.weight'" in message
    assert "strict=False" in message
    assert isinstance(info.value, KeyError)
    for name, value in model.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_wrong_shape_is_listed_even_when_not_strict():
    model = TwoLayers()
    state = model.state_dict()
    state["fc1.weight"] = np.zeros((4, 3))
    for strict in (True, False):
        with pytest.raises(StateDictError, match=r"'fc1.weight'.*\(3, 4\).*\(4, 3\)"):
            model.load_state_dict(state, strict=strict)


def test_load_state_dict_not_strict_loads_what_fits():
    model = TwoLayers()
    result = model.load_state_dict(
        {"scale": np.array([2.0, 3.0]), "other": np.zeros(1)}, strict=False
    )
    np.testing.assert_array_equal(model.scale.data, [2.0, 3.0])
    assert result.unexpected_keys == ["other"]
    assert "fc1.weight" in result.missing_keys and "scale" not in result.missing_keys


def test_load_state_dict_refuses_non_numeric_values_and_non_dicts():
    layer = nn.Linear(1, 1)
    with pytest.raises(DTypeError, match="'bias' has dtype <U1"):
        layer.load_state_dict({"weight": np.zeros((1, 1)), "bias": np.array(["a"])})
    with pytest.raises(DTypeError, match="expects a dict"):
        layer.load_state_dict(nn.Linear(1, 1))


def test_name_scope_works_as_a_decorator_too():
    from tinygrad_edu.engine import topological_order
    from tinygrad_edu.recording import name_scope

    @name_scope("block")
    def block(t):
        return (t * 2).sum()

    x = Tensor([1.0, 2.0], requires_grad=True)
    first, second = block(x), block(x)
    scopes = [n._node.scope for n in topological_order(first)]
    assert scopes == [("block",), ("block",)]
    assert first._node.scope[0] is second._node.scope[0]  # one scope, one cluster
    assert (x * 1).sum()._node.scope == ()  # closed afterwards


# -- containers and the silent traps (issue 26) -----------------------------------


class Block(nn.Module):
    def __init__(self, width, seed):
        super().__init__()
        self.fc = nn.Linear(width, width, rng=seed)

    def forward(self, x):
        return self.fc(x).tanh()


class Tower(nn.Module):
    """Nested submodules in a list and a dict, and loose parameters in both."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(3, 1), Block(3, 2)])
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 1, rng=3)})
        self.gains = nn.ParameterList([nn.Parameter(np.ones(3))])
        self.offsets = nn.ParameterDict({"out": nn.Parameter(np.zeros(1))})

    def forward(self, x):
        for block in self.blocks:
            x = block(x) * self.gains[0]
        return self.heads["a"](x) + self.offsets["out"]


def test_containers_register_and_train_everything_inside():
    model = Tower()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "blocks.0.fc.weight",
        "blocks.0.fc.bias",
        "blocks.1.fc.weight",
        "blocks.1.fc.bias",
        "heads.a.weight",
        "heads.a.bias",
        "gains.0",
        "offsets.out",
    ]
    assert list(model.state_dict()) == names
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    opt = optim.Adam(model.parameters(), lr=0.1)
    x, t = np.random.default_rng(0).standard_normal((8, 3)), np.ones((8, 1))
    for _ in range(5):
        opt.zero_grad()
        F.mse(model(x), t).backward()
        opt.step()
    for name, p in model.named_parameters():
        assert not np.array_equal(p.data, before[name]), name


def test_container_protocols():
    blocks = nn.ModuleList([Block(2, 0)])
    blocks.append(Block(2, 1)).extend([Block(2, 2)])
    assert len(blocks) == 3 and isinstance(blocks[1:], nn.ModuleList)
    assert next(name for name, _ in blocks[1:].named_parameters()) == "0.fc.weight"
    blocks[0] = Block(2, 5)
    assert blocks[0].fc.weight is next(iter(blocks)).fc.weight
    heads = nn.ModuleDict()
    heads["x"] = nn.Linear(2, 2)
    assert "x" in heads and heads.keys() == ["x"] and len(heads) == 1
    del heads["x"]
    assert len(heads) == 0 and not list(heads.parameters())
    with pytest.raises(DTypeError, match=r"ModuleList: item 3 is a ufunc"):
        blocks.append(np.tanh)
    with pytest.raises(DTypeError, match=r"ParameterList: item 0 is a ndarray"):
        nn.ParameterList([np.ones(2)])
    with pytest.raises(DomainError, match=r"ModuleDict: key 'a.b' must be"):
        nn.ModuleDict({"a.b": nn.Linear(2, 2)})
    with pytest.raises(DomainError, match=r"would hide the attribute.*forward"):
        nn.ModuleDict({"forward": nn.Linear(2, 2)})
    assert isinstance(nn.Sequential(nn.Tanh(), nn.ReLU())[:1], nn.Sequential)


def test_a_replaced_layer_keeps_its_place():
    # Re-registering moved the name to the end: seq[1] = Tanh() then ran last,
    # and parameters() changed order under an optimizer's state by position.
    seq = nn.Sequential(nn.Linear(2, 4, rng=0), nn.ReLU(), nn.Linear(4, 1, rng=1))
    x = np.array([[0.5, -1.0]])
    seq[1] = nn.Tanh()
    expected = np.tanh(x @ seq[0].weight.data + seq[0].bias.data)
    expected = expected @ seq[2].weight.data + seq[2].bias.data
    np.testing.assert_allclose(seq(x).data, expected)
    assert isinstance(seq[1], nn.Tanh) and list(seq._modules) == ["0", "1", "2"]
    names = [name for name, _ in seq.named_parameters()]
    seq[0] = nn.Linear(2, 4, rng=2)
    assert [name for name, _ in seq.named_parameters()] == names
    params = nn.ParameterList([nn.Parameter([1.0]), nn.Parameter([2.0])])
    params[0] = nn.Parameter([10.0])
    assert [p.item() for p in params] == [10.0, 2.0]


def test_a_parameter_or_buffer_slot_takes_only_its_kind():
    layer, norm = nn.Linear(2, 2, rng=0), nn.BatchNorm1d(2)
    for value in (Tensor(np.ones((2, 2)), requires_grad=True), np.ones((2, 2))):
        with pytest.raises(DTypeError, match=r"'weight' is a parameter.*nn\.Parameter"):
            layer.weight = value
    assert isinstance(layer.weight, nn.Parameter)  # nothing changed
    with pytest.raises(DTypeError, match=r"'running_mean' is a buffer.*in place"):
        norm.running_mean = nn.Parameter(np.zeros(2))
    assert set(norm.state_dict()) >= {"running_mean", "running_var"}


def test_a_parameter_has_memory_of_its_own():
    init = np.ones(2)
    a, b = nn.Parameter(init), nn.Parameter(init)
    a.grad = Tensor(np.ones(2))
    optim.SGD([a, b], lr=0.1).step()
    assert init.tolist() == [1.0, 1.0] and b.data.tolist() == [1.0, 1.0]
    assert a.data.tolist() == [0.9, 0.9]


@pytest.mark.parametrize(
    ("value", "container"),
    [
        (lambda: [[Block(2, 0), Block(2, 1)]], r"nn\.ModuleList"),
        (lambda: {"a": (Block(2, 0),)}, r"nn\.ModuleDict"),
        (lambda: [Block(2, 0), Block(2, 1)], r"nn\.ModuleList"),
        (lambda: (Block(2, 0),), r"nn\.ModuleList"),
        (lambda: {"a": Block(2, 0)}, r"nn\.ModuleDict"),
        (lambda: [nn.Parameter([1.0])], r"nn\.ParameterList"),
        (lambda: {"g": nn.Parameter([1.0])}, r"nn\.ParameterDict"),
    ],
    ids=[
        "nested list",
        "dict of tuples",
        "list",
        "tuple",
        "dict",
        "parameter list",
        "parameter dict",
    ],
)
def test_a_plain_container_of_modules_or_parameters_is_refused(value, container):
    model = nn.Module()
    with pytest.raises(DTypeError, match=rf"Module: 'blocks' is a plain .*{container}"):
        model.blocks = value()
    model.sizes = [1, 2]  # plain data in a list is still fine
    model.masks = [Tensor([1.0])]


def test_a_computed_tensor_in_a_parameter_slot_is_refused_with_how_to_tie():
    embed, head = nn.Linear(4, 3, rng=0), nn.Linear(3, 4, rng=1)
    with pytest.raises(GraphError, match=r"Linear: 'weight' is a parameter.*'transp"):
        head.weight = embed.weight.T
    assert isinstance(head.weight, nn.Parameter)  # nothing changed
    head.weight = embed.weight  # sharing the Parameter itself is how to tie
    assert len(list(nn.Sequential(embed, head).parameters())) == 3


def test_requires_grad_freezes_and_the_optimizer_skips_frozen_parameters():
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Linear(2, 1, rng=1))
    assert model[0].requires_grad_(False) is model[0]
    frozen = model[0].weight.data.copy()
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(np.ones((3, 2))).sum().backward()
    opt.step()
    assert model[0].weight.grad is None and np.array_equal(model[0].weight.data, frozen)
    assert model[1].bias.data[0] == pytest.approx(-0.3)
    assert Tensor([1.0]).requires_grad_().requires_grad


# ------------------------------------ convolution and training layers (issue 23)


def check_module_second_derivatives(model, x, loss_of):
    """gradgradcheck the loss of ``model(x)`` in x and every parameter."""
    names = [name for name, _ in model.named_parameters()]
    leaves = [Tensor(x, requires_grad=True)] + [p for _, p in model.named_parameters()]

    def loss(x, *params):
        with parameters_replaced(model, dict(zip(names, params))):
            return loss_of(model(x))

    assert gradgradcheck(loss, leaves)


def weighted_sum(seed, shape):
    """A loss Σ r·y with fixed random r: sum(y) or sum(y²) is flat for Batch Norm."""
    r = np.random.default_rng(seed).standard_normal(shape)
    return lambda y: (y * r).sum()


def test_conv2d_layer_is_the_functional_op_with_he_filters():
    conv = nn.Conv2d(3, 40, (3, 5), stride=(1, 2), padding=1, rng=0)
    assert conv.weight.shape == (40, 3, 3, 5) and not conv.bias.data.any()
    std = conv.weight.data.std()
    assert std == pytest.approx(np.sqrt(2 / (3 * 3 * 5)), rel=0.05)
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 7))
    expected = F.conv2d(x, conv.weight.data, conv.bias.data, (1, 2), 1).numpy()
    np.testing.assert_array_equal(conv(x).numpy(), expected)
    assert repr(conv) == "Conv2d(3→40, 3x5, stride=(1, 2), padding=1)"
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]


def test_conv2d_layer_gradients():
    conv = nn.Conv2d(2, 3, (2, 3), stride=(1, 2), padding=1, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 5))
    check_module_gradients(conv, x)
    check_module_second_derivatives(conv, x, weighted_sum(2, (2, 3, 5, 3)))


def test_conv2d_layer_init_and_errors():
    xavier = nn.Conv2d(4, 2, 3, bias=False, init="xavier", rng=0).weight.data
    assert xavier.std() == pytest.approx(1 / 6, rel=0.2)  # 1/√(4·3·3)
    assert nn.Conv2d(1, 2, 3, init="normal", std=0.5, rng=0).weight.data.std() < 1
    with pytest.raises(DomainError, match="Conv2d: out_channels must be positive"):
        nn.Conv2d(1, 0, 3)
    with pytest.raises(DomainError, match="Conv2d: stride 0 is too small"):
        nn.Conv2d(1, 2, 3, stride=0)
    with pytest.raises(ShapeError, match=r"conv2d: x \(1, 2, 5, 5\) has 2 channels"):
        nn.Conv2d(1, 2, 3)(np.ones((1, 2, 5, 5)))


@pytest.mark.parametrize(
    ("layer", "pool"),
    [(nn.MaxPool2d, F.max_pool2d), (nn.AvgPool2d, F.avg_pool2d)],
    ids=["max", "avg"],
)
def test_pooling_layers_are_the_functional_ops(layer, pool):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    assert repr(layer(2)) == f"{layer.__name__}(2)"
    np.testing.assert_array_equal(layer(2)(x).numpy(), pool(x, 2).numpy())
    pooled = layer(3, stride=(2, 1), padding=1)
    assert repr(pooled) == f"{layer.__name__}(3, stride=(2, 1), padding=1)"
    np.testing.assert_array_equal(pooled(x).numpy(), pool(x, 3, (2, 1), 1).numpy())


def test_flatten_layer_between_conv_and_linear():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()
    )
    model.append(nn.Linear(4 * 3 * 3, 2, rng=0))
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8))
    assert model(x).shape == (5, 2)
    check_module_gradients(model, x)


def test_dropout_drops_about_p_and_scales_the_rest_while_training():
    drop = nn.Dropout(0.3, rng=0)
    x = Tensor(np.ones((200, 100)), requires_grad=True)
    y = drop(x)
    kept = y.numpy() != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7)
    y.sum().backward()  # the gradient is the mask: dropped elements get none
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    assert drop(x).numpy().tolist() != y.numpy().tolist()  # a new mask per call


def test_dropout_passes_everything_in_eval_mode_and_with_p_0():
    model = nn.Sequential(nn.Linear(3, 3, rng=0), nn.Dropout(0.5, rng=0))
    x = np.ones((4, 3))
    assert model.eval() is model and not model[1].training
    np.testing.assert_array_equal(model(x).numpy(), model[0](x).numpy())
    model.train()
    assert model[1].training and (model(x).numpy() == 0).any()
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x)


def test_dropout_is_reproducible_from_a_seed_a_generator_or_manual_seed():
    x = np.ones((3, 50))

    def masks(drop):
        return [drop(x).numpy() for _ in range(2)]

    np.testing.assert_array_equal(masks(nn.Dropout(rng=7)), masks(nn.Dropout(rng=7)))
    by_generator = masks(nn.Dropout(rng=np.random.default_rng(7)))
    np.testing.assert_array_equal(by_generator, masks(nn.Dropout(rng=7)))
    manual_seed(3)
    first = masks(nn.Dropout())
    manual_seed(3)
    np.testing.assert_array_equal(first, masks(nn.Dropout()))


def test_dropout_refuses_a_bad_probability_and_integer_data():
    with pytest.raises(DomainError, match=r"p=1 would drop everything"):
        nn.Dropout(1.0)
    with pytest.raises(DTypeError, match="Dropout: p must be a number"):
        nn.Dropout("0.5")
    with pytest.raises(DTypeError, match=r"dtype int64.*floating-point"):
        nn.Dropout(0.3)(np.ones((2, 2), dtype=np.int64))


def batch_norm_by_hand(x, gamma, beta, mean, var, eps=1e-5):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


@pytest.mark.parametrize(
    ("layer", "shape", "axes"),
    [
        (nn.BatchNorm1d, (6, 3), (0,)),
        (nn.BatchNorm1d, (4, 3, 5), (0, 2)),
        (nn.BatchNorm2d, (4, 3, 2, 5), (0, 2, 3)),
    ],
    ids=["1d", "1d-length", "2d"],
)
def test_batch_norm_normalizes_by_batch_then_by_running_statistics(layer, shape, axes):
    rng = np.random.default_rng(0)
    bn = layer(3, momentum=0.25)
    bn.weight.data[:] = [1.0, 2.0, 0.5]
    bn.bias.data[:] = [0.0, -1.0, 3.0]
    x = 2 + 3 * rng.standard_normal(shape)
    channels = (1, 3) + (1,) * (len(shape) - 2)
    gamma, beta = bn.weight.data.reshape(channels), bn.bias.data.reshape(channels)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    expected = batch_norm_by_hand(x, gamma, beta, mean, var)
    np.testing.assert_allclose(bn(x).numpy(), expected, atol=1e-12)
    count = x.size // 3
    np.testing.assert_allclose(bn.running_mean, 0.25 * mean.ravel())
    unbiased = var.ravel() * count / (count - 1)
    np.testing.assert_allclose(bn.running_var, 0.75 + 0.25 * unbiased)
    before = bn.running_mean.copy()
    bn.eval()
    one = x[:1]  # one sample alone gives what it gives in the batch
    running = bn.running_mean.reshape(channels), bn.running_var.reshape(channels)
    expected_one = batch_norm_by_hand(one, gamma, beta, *running)
    np.testing.assert_allclose(bn(one).numpy(), expected_one, atol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, before)  # eval does not follow


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    ("layer", "shape"),
    [(nn.BatchNorm1d, (5, 3)), (nn.BatchNorm2d, (3, 3, 2, 3))],
    ids=["1d", "2d"],
)
def test_batch_norm_gradients_first_and_second_order(layer, shape, training):
    rng = np.random.default_rng(0)
    bn = layer(3).train(training)
    bn.running_mean[:], bn.running_var[:] = [0.5, -1, 2], [2.0, 0.5, 1.5]
    bn.weight.data[:] = [1.5, -0.5, 2.0]
    bn.bias.data[:] = [0.1, 0.2, 0.3]
    x = rng.standard_normal(shape)
    loss = weighted_sum(1, shape)
    check_module_gradients(bn, x, loss)
    check_module_second_derivatives(bn, x, loss)


def test_the_gradient_check_catches_batch_norm_with_detached_statistics():
    bn = bad_ops.BatchNorm1dWithDetachedStatistics(3)
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(bn(x).numpy(), nn.BatchNorm1d(3)(x).numpy())
    with pytest.raises(GradcheckError):
        check_module_gradients(bn, x, weighted_sum(1, (5, 3)))


def test_batch_norm_statistics_are_saved_and_loaded_with_the_parameters():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.BatchNorm1d(3))
    model(np.random.default_rng(0).standard_normal((8, 2)))
    state = model.state_dict()
    assert list(state) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
    ]
    fresh = nn.Sequential(nn.Linear(2, 3, rng=1), nn.BatchNorm1d(3))
    running_var = fresh[1].running_var
    fresh.load_state_dict(state)
    assert fresh[1].running_var is running_var  # loaded in place
    np.testing.assert_array_equal(running_var, state["1.running_var"])
    assert not [p for p in fresh.parameters() if p.data is running_var]  # not trained


def test_batch_norm_refuses_inputs_it_cannot_normalize():
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(3\): the input has shape"):
        nn.BatchNorm2d(3)(np.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"with 4 channels on axis 1"):
        nn.BatchNorm1d(4)(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"batch of more than one sample, or call"):
        nn.BatchNorm1d(3)(np.ones((1, 3)))
    nn.BatchNorm1d(3).eval()(np.ones((1, 3)))  # fine with the running statistics
