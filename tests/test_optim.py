"""optim: each update rule against a hand-written NumPy reference, and its checks."""

import math

import numpy as np
import pytest

from tinygrad_edu import (
    DomainError,
    DTypeError,
    GraphError,
    ShapeError,
    Tensor,
    nn,
    optim,
)

# ------------------------------------------------------------ the references
# Each takes (p, g, state, hyperparameters) and returns the new p, written as
# the formulas read (new arrays, no in-place tricks), independently of optim.py.


def sgd_reference(p, g, s, lr):
    return p - lr * g


def momentum_reference(p, g, s, lr, momentum=0.9):
    s["v"] = momentum * s.get("v", 0.0) - lr * g
    return p + s["v"]


def adagrad_reference(p, g, s, lr, eps=1e-7):
    s["h"] = s.get("h", 0.0) + g**2
    return p - lr * g / (np.sqrt(s["h"]) + eps)


def rmsprop_reference(p, g, s, lr, decay_rate=0.99, eps=1e-7):
    s["h"] = decay_rate * s.get("h", 0.0) + (1 - decay_rate) * g**2
    return p - lr * g / (np.sqrt(s["h"]) + eps)


def adam_reference(p, g, s, lr, betas=(0.9, 0.999), eps=1e-8):
    t = s["t"] = s.get("t", 0) + 1
    s["m"] = betas[0] * s.get("m", 0.0) + (1 - betas[0]) * g
    s["v"] = betas[1] * s.get("v", 0.0) + (1 - betas[1]) * g**2
    m_hat = s["m"] / (1 - betas[0] ** t)
    v_hat = s["v"] / (1 - betas[1] ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


CASES = [
    (optim.SGD, sgd_reference, {"lr": 0.1}),
    (optim.Momentum, momentum_reference, {"lr": 0.05, "momentum": 0.8}),
    (optim.AdaGrad, adagrad_reference, {"lr": 0.3}),
    (optim.RMSprop, rmsprop_reference, {"lr": 0.02, "decay_rate": 0.9}),
    (optim.Adam, adam_reference, {"lr": 0.01, "betas": (0.8, 0.99)}),
]
IDS = [case[0].__name__ for case in CASES]
OPTIMIZERS = [case[0] for case in CASES]


def gradient_sequence(steps=4, shape=(3, 2), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


# ------------------------------------------------------------ the formulas


@pytest.mark.parametrize(("cls", "reference", "hyper"), CASES, ids=IDS)
def test_steps_match_the_reference(cls, reference, hyper):
    start = np.random.default_rng(1).standard_normal((3, 2))
    p = nn.Parameter(start.copy())
    opt = cls([p], **hyper)
    expected, state = start.copy(), {}
    for g in gradient_sequence():
        p.grad = Tensor(g)
        opt.step()
        expected = reference(expected, g, state, **hyper)
        np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("cls", "reference", "hyper"), CASES, ids=IDS)
def test_the_books_update_matches_the_reference(cls, reference, hyper):
    start = np.random.default_rng(2).standard_normal((3, 2))
    params = {"W": start.copy(), "b": np.zeros(2)}
    array = params["W"]
    opt = cls(**hyper)
    expected, state = start.copy(), {}
    for g in gradient_sequence():
        opt.update(params, {"W": g, "b": g[0]})
        expected = reference(expected, g, state, **hyper)
    assert params["W"] is array  # changed in place, as the book's loop expects
    np.testing.assert_allclose(params["W"], expected, rtol=1e-12, atol=1e-15)
    assert set(opt.state) == {"W", "b"}


def test_first_steps_by_hand():
    g = np.array([0.5, -2.0])

    def first_step(opt_class, **hyper):
        p = {"w": np.array([1.0, 1.0])}
        opt_class(**hyper).update(p, {"w": g})
        return p["w"]

    # SGD and the first Momentum step: p - lr·g
    np.testing.assert_allclose(first_step(optim.SGD, lr=0.1), [0.95, 1.2])
    np.testing.assert_allclose(first_step(optim.Momentum, lr=0.1), [0.95, 1.2])
    # AdaGrad and Adam start with steps of lr·sign(g) whatever |g| is (up to eps)
    sign_step = {"desired": [0.9, 1.1], "rtol": 1e-6}
    np.testing.assert_allclose(first_step(optim.AdaGrad, lr=0.1), **sign_step)
    np.testing.assert_allclose(first_step(optim.Adam, lr=0.1), **sign_step)
    # RMSprop: h = 0.01·g², so the first step is lr·sign(g)/√0.01
    np.testing.assert_allclose(first_step(optim.RMSprop, lr=0.01), **sign_step)


def test_momentum_builds_up_speed():
    p = nn.Parameter([0.0])
    opt = optim.Momentum([p], lr=1.0, momentum=0.5)
    positions = []
    for _ in range(3):
        p.grad = Tensor([-1.0])
        opt.step()
        positions.append(p.item())
    assert positions == [1.0, 2.5, 4.25]  # steps 1, 1.5, 1.75


def test_adam_counts_steps_per_parameter():
    """A parameter that gets its first gradient late still gets a first step of lr."""
    early, late = nn.Parameter([0.0]), nn.Parameter([0.0])
    opt = optim.Adam([early, late], lr=0.1)
    for step in range(3):
        early.grad = Tensor([1.0])
        late.grad = Tensor([-3.0]) if step == 2 else None
        opt.step()
    assert opt.state[0]["step"] == 3 and opt.state[1]["step"] == 1
    assert late.item() == pytest.approx(0.1, rel=1e-6)


def test_parameters_without_a_gradient_are_skipped():
    used, unused = nn.Parameter([1.0]), nn.Parameter([1.0])
    opt = optim.Momentum([used, unused], lr=0.1)
    (used * 3).sum().backward()
    opt.step()
    assert used.item() == pytest.approx(0.7)
    assert unused.item() == 1.0 and 1 not in opt.state
    p = {"a": np.ones(1), "b": np.ones(1)}
    optim.SGD(lr=1.0).update(p, {"a": np.ones(1), "b": None})
    assert p["a"][0] == 0.0 and p["b"][0] == 1.0


def test_step_and_update_take_the_same_path():
    for cls, _, hyper in CASES:
        p = nn.Parameter(np.ones(3))
        arrays = {"p": np.ones(3)}
        by_step, by_update = cls([p], **hyper), cls(**hyper)
        for g in gradient_sequence(shape=(3,)):
            p.grad = Tensor(g)
            by_step.step()
            by_update.update(arrays, {"p": g})
        np.testing.assert_array_equal(p.data, arrays["p"], err_msg=cls.__name__)


# ------------------------------------------------------------ convergence

TUNED = {
    optim.SGD: ({"lr": 0.05}, 300),
    optim.Momentum: ({"lr": 0.01}, 300),
    optim.AdaGrad: ({"lr": 0.5}, 300),
    optim.RMSprop: ({"lr": 0.01}, 600),
    optim.Adam: ({"lr": 0.05}, 600),
}


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=IDS)
def test_minimizes_an_ill_conditioned_quadratic(cls):
    """f(w) = ½ Σ a·(w - c)², curvatures 1 and 10, from w = 0: reaches w = c."""
    a, c = np.array([1.0, 10.0]), np.array([2.0, -1.0])
    w = nn.Parameter(np.zeros(2))
    hyper, steps = TUNED[cls]
    opt = cls([w], **hyper)
    initial = 0.5 * np.sum(a * c**2)
    for _ in range(steps):
        opt.zero_grad()
        loss = (0.5 * a * (w - c) ** 2).sum()
        loss.backward()
        opt.step()
    assert loss.item() < initial * 1e-4
    np.testing.assert_allclose(w.data, c, atol=0.02)


def test_a_module_learns_with_the_pytorch_loop():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2))
    t = (x[:, 0] * x[:, 1] > 0).astype(int)  # XOR-like quadrants
    model = nn.Sequential(nn.Linear(2, 16, rng=1), nn.Tanh(), nn.Linear(16, 2, rng=2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = model(x).softmax_cross_entropy(t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    assert np.mean(model(x).data.argmax(axis=1) == t) > 0.9


# ------------------------------------------------------------ dtypes, weight decay


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=IDS)
def test_float32_parameters_stay_float32(cls):
    p32 = nn.Parameter(np.ones((2, 2), dtype=np.float32))
    p64 = nn.Parameter(np.ones((2, 2)))
    opt32 = cls([p32], lr=np.float64(0.01), weight_decay=np.float64(0.1))
    opt64 = cls([p64], lr=0.01, weight_decay=0.1)
    assert type(opt32.lr) is float and type(opt32.defaults["weight_decay"]) is float
    for g in gradient_sequence(shape=(2, 2)):
        p32.grad, p64.grad = Tensor(g.astype(np.float32)), Tensor(g)
        opt32.step()
        opt64.step()
    assert p32.dtype == np.float32
    assert all(
        v.dtype == np.float32 for v in opt32.state[0].values() if hasattr(v, "dtype")
    )
    np.testing.assert_allclose(p32.data, p64.data, rtol=1e-5)
    arrays = {"w": np.ones(3, dtype=np.float32)}
    cls(lr=0.01).update(arrays, {"w": np.ones(3)})  # a float64 gradient
    assert arrays["w"].dtype == np.float32


def test_sgd_weight_decay_shrinks_by_one_minus_lr_lambda():
    w = nn.Parameter([2.0, -4.0])
    opt = optim.SGD([w], lr=0.5, weight_decay=0.1)
    (w * 0.0).sum().backward()  # a zero gradient: only the decay acts
    opt.step()
    np.testing.assert_allclose(w.data, [2.0 * 0.95, -4.0 * 0.95])


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=IDS)
def test_weight_decay_is_the_gradient_of_an_l2_penalty(cls):
    """λ adds λ·p to the gradient: the same as adding (λ/2)·‖p‖² to the loss."""
    start, target = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, 0.5])

    def train(weight_decay, penalty):
        p = nn.Parameter(start.copy())
        opt = cls([p], lr=0.01, weight_decay=weight_decay)
        for _ in range(5):
            opt.zero_grad()
            (((p - target) ** 2).sum() + penalty * (p * p).sum()).backward()
            opt.step()
        return p.data

    decayed, penalised, plain = train(0.3, 0.0), train(0.0, 0.15), train(0.0, 0.0)
    np.testing.assert_allclose(decayed, penalised, rtol=1e-12)
    assert np.linalg.norm(decayed) < np.linalg.norm(plain)


# ------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("cls", "hyper", "pattern"),
    [
        (optim.SGD, {"lr": -0.1}, "SGD: lr=-0.1 is invalid; it needs lr >= 0"),
        (optim.Adam, {"lr": math.nan}, r"Adam: lr=nan .*lr >= 0"),
        (optim.SGD, {"weight_decay": -1e-4}, r"weight_decay=-0.0001 .*>= 0"),
        (
            optim.Momentum,
            {"momentum": 1.0},
            r"Momentum: momentum=1.0 .*0 <= momentum < 1",
        ),
        (optim.Momentum, {"momentum": -0.5}, r"momentum=-0.5 .*0 <= momentum < 1"),
        (optim.AdaGrad, {"eps": 0.0}, r"AdaGrad: eps=0.0 .*eps > 0"),
        (optim.RMSprop, {"decay_rate": 1.0}, r"RMSprop: decay_rate=1.0 .*< 1"),
        (optim.Adam, {"betas": (1.0, 0.999)}, r"Adam: betas\[0\]=1.0 .*0 <= beta1 < 1"),
        (optim.Adam, {"betas": (0.9, -0.1)}, r"Adam: betas\[1\]=-0.1 .*0 <= beta2 < 1"),
    ],
)
def test_invalid_hyperparameters_name_optimizer_argument_value_and_range(
    cls, hyper, pattern
):
    with pytest.raises(DomainError, match=pattern):
        cls([nn.Parameter([1.0])], **hyper)


def test_hyperparameters_of_the_wrong_type():
    with pytest.raises(DTypeError, match="SGD: lr must be a real number, got str"):
        optim.SGD(lr="0.1")
    with pytest.raises(DTypeError, match="Adam: betas must be a pair"):
        optim.Adam(betas=0.9)
    with pytest.raises(DTypeError, match=r"the first argument is params.*lr=0\.1"):
        optim.SGD(0.1)  # the book's positional learning rate


def test_bad_params_are_named():
    w = nn.Parameter([1.0])
    with pytest.raises(DomainError, match=r"SGD: params is empty.*nn\.Parameter"):
        optim.SGD([], lr=0.1)
    with pytest.raises(
        DTypeError, match=r"Adam: params\[1\] is a ndarray, not a Tensor"
    ):
        optim.Adam([w, np.ones(2)])
    with pytest.raises(DomainError, match=r"params\[1\] was computed by an op"):
        optim.SGD([w, w * 2])
    with pytest.raises(DomainError, match=r"params\[1\] appears twice"):
        optim.SGD([w, w])
    with pytest.raises(DTypeError, match=r"got one Tensor, pass \[tensor\]"):
        optim.SGD(w)
    with pytest.raises(DTypeError, match=r"got a dict.*update\(params, grads\)"):
        optim.SGD({"w": w})


def test_a_generator_of_parameters_is_kept_as_a_list():
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert opt.params == list(model.parameters())
    model(np.ones((1, 2))).sum().backward()
    opt.step()
    opt.step()  # a second pass still finds the parameters
    np.testing.assert_allclose(model.bias.data, [-0.2, -0.2])


def test_step_without_params_points_to_update():
    opt = optim.RMSprop(lr=0.1)
    with pytest.raises(DomainError, match=r"RMSprop.step\(\) needs the parameters"):
        opt.step()
    with pytest.raises(DomainError, match=r"zero_grad\(\).*update\(params, grads\)"):
        opt.zero_grad()


def test_update_checks_its_arguments():
    opt = optim.SGD(lr=0.1)
    with pytest.raises(DomainError, match="grads has no entry 'b'"):
        opt.update({"W": np.ones(2), "b": np.ones(2)}, {"W": np.ones(2)})
    with pytest.raises(ShapeError, match=r"'W' has shape \(1,\), the parameter \(2,\)"):
        opt.update({"W": np.ones(2)}, {"W": np.ones(1)})
    with pytest.raises(DTypeError, match=r"parameter 'n' must be a floating-point"):
        opt.update({"n": np.ones(2, dtype=int)}, {"n": np.ones(2)})
    read_only = np.ones(2)
    read_only.flags.writeable = False
    with pytest.raises(DomainError, match="read-only"):
        opt.update({"r": read_only}, {"r": np.ones(2)})


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Adam"])
def test_a_live_graph_that_reads_a_parameter_stops_the_step_before_any_change(name):
    # A loss kept for logging (not backpropagated, not under no_grad) holds the
    # weights read-only: the step says so and changes no parameter at all.
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    opt = getattr(optim, name)(model.parameters(), lr=0.1)
    x, t = np.ones((4, 3)), np.array([0, 1, 1, 0])
    model(x).softmax_cross_entropy(t).backward()
    logged = model(x).softmax_cross_entropy(t)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(
        GraphError, match=r"step: params\[2\] is read-only.*backward\(\)"
    ):
        opt.step()
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(GraphError, match=r"load_state_dict: '2\.weight'.*no_grad"):
        model.load_state_dict(before)
    params = {"W": model[2].weight.data}
    with pytest.raises(GraphError, match=r"update: parameter 'W' is read-only"):
        optim.SGD(lr=0.1).update(params, {"W": np.ones((4, 2))})
    del logged  # the graph is gone: the step goes through
    opt.step()
    assert not np.array_equal(before["2.weight"], model[2].weight.data)


def test_zero_grad_and_repr():
    w = nn.Parameter([1.0])
    opt = optim.Adam([w], weight_decay=0.01)
    (w * 2).sum().backward()
    opt.zero_grad()
    assert w.grad is None
    assert (
        repr(opt) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)"
    )
    assert repr(optim.Momentum(lr=0.1)) == (
        "Momentum(lr=0.1, momentum=0.9, weight_decay=0.0)"
    )
    groups = [{"params": [w]}, {"params": [nn.Parameter([1.0])], "lr": 0.5}]
    assert repr(optim.SGD(groups, lr=0.1)) == (
        "SGD(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0, groups=2)"
    )


# ------------------------------------------------------------ state dicts


def train_steps(opt, params, grads_seq, style):
    """Apply one gradient per step, the PyTorch way or the book's."""
    for g in grads_seq:
        if style == "step":
            for p, gi in zip(params, g):
                p.grad = Tensor(gi)
            opt.step()
        else:
            opt.update(params, dict(zip(params, g)))


def fresh_params(style, seed=1):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    if style == "step":
        return [Tensor(a, requires_grad=True) for a in arrays]
    return dict(zip(["layers.0.weight", "b"], arrays))


def values(params):
    return (
        [p.data for p in params] if isinstance(params, list) else list(params.values())
    )


def gradients(steps, seed=2):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal((3, 2)), rng.standard_normal(2)] for _ in range(steps)]


@pytest.mark.parametrize("style", ["step", "update"])
@pytest.mark.parametrize(("make", "_", "hyper"), CASES, ids=IDS)
def test_a_resumed_optimizer_takes_the_uninterrupted_steps(
    make, _, hyper, style, tmp_path
):
    """Save after 6 of 12 steps, load into a new optimizer: the same bits."""
    grads_seq = gradients(12)
    whole = fresh_params(style)
    opt = make(whole if style == "step" else None, **hyper)
    train_steps(opt, whole, grads_seq, style)

    first = fresh_params(style)
    opt = make(first if style == "step" else None, **hyper)
    train_steps(opt, first, grads_seq[:6], style)
    path = tmp_path / "opt.npz"
    from tinygrad_edu import load, save

    save(opt.state_dict(), path)
    # The parameters come back as arrays and the optimizer is new: a real resume.
    resumed = fresh_params(style)
    for target, source in zip(values(resumed), values(first)):
        target[...] = source
    opt = make(resumed if style == "step" else None, **hyper)
    opt.load_state_dict(load(path))
    train_steps(opt, resumed, grads_seq[6:], style)
    for a, b in zip(values(resumed), values(whole)):
        assert np.array_equal(a, b)
    keys = set(load(path))
    groups = {f"group.0.{name}" for name in opt._fields}
    assert groups <= keys
    if make is optim.SGD:
        assert keys == groups
    else:
        assert all(k.startswith("state.") for k in keys - groups)


def test_dropping_adams_state_is_detectable():
    """The check above can fail: without the state, the steps differ."""
    grads_seq = gradients(12)
    whole, dropped = fresh_params("update"), fresh_params("update")
    train_steps(optim.Adam(lr=0.1), whole, grads_seq, "update")
    train_steps(optim.Adam(lr=0.1), dropped, grads_seq[:6], "update")
    train_steps(optim.Adam(lr=0.1), dropped, grads_seq[6:], "update")  # new state
    moved = max(np.abs(a - b).max() for a, b in zip(values(whole), values(dropped)))
    assert moved > 1e-3


def test_state_dict_keys_and_copies():
    w = Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.grad = Tensor(np.ones(2))
    opt.step()
    state = opt.state_dict()
    assert sorted(state) == [
        "group.0.betas",
        "group.0.eps",
        "group.0.lr",
        "group.0.weight_decay",
        "state.0.m",
        "state.0.step",
        "state.0.v",
    ]
    assert state["state.0.step"] == 1 and state["state.0.step"].dtype.kind == "i"
    state["state.0.m"][...] = 99.0  # a copy: the optimizer is unchanged
    assert opt.state[0]["m"][0] != 99.0


@pytest.mark.parametrize(
    ("state", "error", "fragment"),
    [
        ([1, 2], DTypeError, r"^Adam.load_state_dict: expects a dict.*got list"),
        ({"state.0.q": np.ones(2)}, "StateDictError", r"unexpected key 'state.0.q'"),
        ({"m": np.ones(2)}, "StateDictError", r"'state.<parameter>.<slot>'"),
        ({"state.5.m": np.ones(2)}, "StateDictError", r"params\[0..0\]"),
        ({"state.0.m": np.ones(2)}, "StateDictError", r"slots \['m'\], Adam keeps"),
        (
            {"state.0.m": np.ones(3), "state.0.v": np.ones(3), "state.0.step": 1},
            "StateDictError",
            r"parameter's is \(2,\)",
        ),
        (
            {"state.0.m": [[1.0], [1.0, 2.0]], "state.0.v": 0, "state.0.step": 1},
            DTypeError,
            r"'state.0.m' is list .* not a numeric array",
        ),
        (
            {"state.0.m": np.ones(2), "state.0.v": np.ones(2), "state.0.step": 1.5},
            "StateDictError",
            r"'state.0.step' must be a count",
        ),
    ],
)
def test_load_state_dict_refuses_what_does_not_fit(state, error, fragment):
    from tinygrad_edu import StateDictError

    error = StateDictError if error == "StateDictError" else error
    w = Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    with pytest.raises(error, match=fragment):
        opt.load_state_dict(state)
    assert opt.state == {}  # nothing changed


def test_loaded_state_for_update_is_checked_against_the_parameter():
    from tinygrad_edu import StateDictError

    opt = optim.Momentum(lr=0.1)
    opt.load_state_dict({"state.W.v": np.ones(3)})
    with pytest.raises(StateDictError, match=r"'state.W.v' has shape \(3,\).*\(2,\)"):
        opt.update({"W": np.ones(2)}, {"W": np.ones(2)})


def test_update_and_step_refuse_what_would_broadcast_or_crash():
    opt = optim.SGD(lr=0.1)
    w = Tensor(np.ones((3, 3)), requires_grad=True)
    for params, grads, fragment in [
        ([np.ones(2)], [np.ones(2)], r"params must be a dict.*got list"),
        ("ab", "cd", r"params must be a dict.*got str 'ab'"),
        ([w], {}, r"got list .*create SGD\(params, lr=...\) and call step\(\)"),
        ({"W": np.ones(2)}, [np.ones(2)], r"grads must be a dict.*got list"),
        ({"W": np.ones(2)}, {"W": "ab"}, r"gradient of 'W' is str 'ab'"),
    ]:
        with pytest.raises(DTypeError, match=fragment):
            opt.update(params, grads)
    stepper = optim.SGD([w], lr=0.1)
    w.grad = Tensor(np.ones(3))  # would broadcast over the rows
    with pytest.raises(ShapeError, match=r"params\[0\].grad has shape \(3,\)"):
        stepper.step()
    assert np.array_equal(w.data, np.ones((3, 3)))


# ------------------------------------------------------------ issue 26: PyTorch's forms
# Reference numbers derived by hand: a constant gradient g = 1 (the loss is p
# itself), so each step's move has a closed form, and lr changes between steps.


def moves(opt, p, rates, g=1.0):
    """How far p moves at each step, with lr set to each of ``rates`` in turn."""
    out = []
    for lr in rates:
        opt.lr = lr
        before = p.data.copy()
        p.grad = Tensor(np.full(p.shape, g))
        opt.step()
        out.append(float((before - p.data)[0]))
    return out


RATES = [0.02, 0.002, 0.002]


def test_sgd_momentum_is_pytorchs_form_lr_outside_the_buffer():
    p = nn.Parameter([0.0])
    # b1 = 1, b2 = 0.9 + 1 = 1.9, b3 = 0.9 * 1.9 + 1 = 2.71; each move is lr * b
    expected = [0.02 * 1, 0.002 * 1.9, 0.002 * 2.71]
    got = moves(optim.SGD([p], lr=0.02, momentum=0.9), p, RATES)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_nesterov_looks_ahead_along_the_buffer():
    p = nn.Parameter([0.0])
    # move = lr * (g + 0.9 b): b1 = 1 -> 1.9; b2 = 1.9 -> 1 + 1.71 = 2.71
    expected = [0.02 * 1.9, 0.002 * 2.71]
    got = moves(optim.SGD([p], lr=0.02, momentum=0.9, nesterov=True), p, RATES[:2])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_the_books_momentum_keeps_the_old_lr_in_its_velocity():
    """The difference docs/nn_optim.md documents: after a cut in lr the book's
    velocity still carries the old lr."""
    p = nn.Parameter([0.0])
    # v1 = -0.02; v2 = 0.9 * -0.02 - 0.002 = -0.020; v3 = 0.9 * -0.020 - 0.002
    expected = [0.02, 0.9 * 0.02 + 0.002, 0.9 * (0.9 * 0.02 + 0.002) + 0.002]
    got = moves(optim.Momentum([p], lr=0.02, momentum=0.9), p, RATES)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[1] / (0.002 * 1.9) > 5  # PyTorch's form moves 0.0038


def test_adam_with_a_changing_lr():
    p = nn.Parameter([0.0])
    # constant g = 2: m̂ = 2 and v̂ = 4 at every step, so each move is
    # lr * 2 / (2 + eps), whatever lr was before
    rates = [0.1, 0.01, 0.05]
    expected = [lr * 2 / (2 + 1e-8) for lr in rates]
    np.testing.assert_allclose(moves(optim.Adam([p]), p, rates, g=2.0), expected)


def test_adamw_decays_the_weights_apart_from_the_gradient():
    p = nn.Parameter([1.0])
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    moves(opt, p, [0.1, 0.01])
    # p1 = 1 (1 - 0.1 * 0.5) - 0.1 / (1 + eps); p2 = p1 (1 - 0.01 * 0.5) - 0.01 / ...
    p1 = 1 * (1 - 0.05) - 0.1 / (1 + 1e-8)
    np.testing.assert_allclose(p.data, [p1 * (1 - 0.005) - 0.01 / (1 + 1e-8)])
    coupled = nn.Parameter([1.0])  # Adam's L2 decay goes through the scaling
    moves(optim.Adam([coupled], weight_decay=0.5), coupled, [0.1, 0.01])
    assert abs(coupled.data[0] - p.data[0]) > 1e-3


def test_parameter_groups_have_their_own_hyperparameters():
    w, b = nn.Parameter([2.0]), nn.Parameter([2.0])
    groups = [{"params": [w]}, {"params": [b], "weight_decay": 0.0, "lr": 0.5}]
    opt = optim.SGD(groups, lr=0.1, weight_decay=0.1)
    assert opt.params == [w, b]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    w.grad, b.grad = Tensor([1.0]), Tensor([1.0])
    opt.step()
    np.testing.assert_allclose(w.data, [2.0 - 0.1 * (1.0 + 0.1 * 2.0)])
    np.testing.assert_allclose(b.data, [2.0 - 0.5 * 1.0])
    with pytest.raises(DomainError, match=r"groups have different learning rates"):
        print(opt.lr)
    opt.lr = 0.2
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2]


def test_parameter_groups_are_checked():
    w = nn.Parameter([1.0])
    with pytest.raises(
        DomainError,
        match=r"SGD: param group 0 has the keys \['lr'\]; a group is a dict with",
    ):
        optim.SGD([{"lr": 0.1}])
    with pytest.raises(DomainError, match=r"group 1 has the keys.*'momentum'"):
        optim.Adam([{"params": [w]}, {"params": [], "momentum": 0.9}])
    with pytest.raises(DomainError, match=r"params\[1\] appears twice"):
        optim.SGD([{"params": [w]}, {"params": [w]}])
    with pytest.raises(DomainError, match=r"SGD: lr=-1.0 is invalid"):
        optim.SGD([{"params": [w], "lr": -1.0}])
    with pytest.raises(DomainError, match=r"nesterov=True needs momentum > 0"):
        optim.SGD([w], nesterov=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda groups: optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True),
        lambda groups: optim.AdamW(groups, lr=0.05),
        lambda groups: optim.Adam(groups, lr=0.05),
    ],
    ids=["SGD-nesterov", "AdamW", "Adam"],
)
def test_groups_and_new_optimizers_round_trip_through_save_and_load(make, tmp_path):
    from tinygrad_edu import load, save

    def setup(params):
        opt = make([{"params": params[:1]}, {"params": params[1:], "lr": 0.01}])
        return opt

    grads_seq = gradients(8)
    whole = fresh_params("step")
    opt = setup(whole)
    train_steps(opt, whole, grads_seq[:4], "step")
    opt.param_groups[1]["lr"] = 0.003  # as a schedule would
    train_steps(opt, whole, grads_seq[4:], "step")

    first = fresh_params("step")
    opt = setup(first)
    train_steps(opt, first, grads_seq[:4], "step")
    opt.param_groups[1]["lr"] = 0.003
    save(opt.state_dict(), tmp_path / "opt.npz")
    resumed = setup(first)  # the constructor's lr 0.01 for group 1
    resumed.load_state_dict(load(tmp_path / "opt.npz"))
    assert resumed.param_groups[1]["lr"] == 0.003
    train_steps(resumed, first, grads_seq[4:], "step")
    for a, b in zip(values(first), values(whole)):
        assert np.array_equal(a, b)


def test_group_entries_of_a_state_dict_are_checked():
    from tinygrad_edu import StateDictError

    w = nn.Parameter([1.0])
    state = optim.SGD([w], lr=0.1).state_dict()
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(StateDictError, match=r"unexpected key 'group.1.lr'; this SGD"):
        opt.load_state_dict({**state, "group.1.lr": 0.1})
    with pytest.raises(StateDictError, match=r"group 0 lacks \['momentum'\]"):
        opt.load_state_dict({k: v for k, v in state.items() if "momentum" not in k})
    with pytest.raises(DomainError, match=r"SGD: lr=-2.0 is invalid"):
        opt.load_state_dict({**state, "group.0.lr": np.array(-2.0)})
    opt.load_state_dict({})  # an old state dict without groups keeps the values
    assert opt.lr == 0.1
