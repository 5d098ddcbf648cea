"""Meta-tests: the registry is complete, consistent and frozen, so the
property tests that iterate over it cannot silently skip an op."""

import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_edu import Tensor
from tinygrad_edu import functional as F
from tinygrad_edu.domains import Domain, Param, alternatives
from tinygrad_edu.ops import REGISTRY
from tinygrad_edu.testing import call, op_inputs

ALL_OPS = F.ALL_OPS

#: Ops reached through a Python operator or another method name on Tensor.
TENSOR_SPELLING = {
    "add": "__add__",
    "sub": "__sub__",
    "mul": "__mul__",
    "div": "__truediv__",
    "neg": "__neg__",
    "pow": "__pow__",
    "getitem": "__getitem__",
    "cast": "astype",
}
#: Ops that take several tensors or only undo another op: functions, not methods.
FUNCTION_ONLY = {"concatenate", "stack", "scatter_add", "sum_squared_error", "mse"}
FUNCTION_ONLY |= {"cross_entropy_error", "im2col", "col2im"}


def test_the_registry_has_the_ops_the_engine_promises():
    expected = {"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sigmoid"}
    expected |= {"tanh", "relu", "matmul", "sum", "max", "reshape", "transpose"}
    expected |= {"broadcast_to", "sum_to", "getitem", "concatenate", "softmax"}
    expected |= {"log_softmax", "softmax_cross_entropy"}
    assert expected <= set(REGISTRY)
    assert {"mean", "dot", "stack", "mse", "sum_squared_error"} <= set(F.COMPOSITES)


def test_the_registry_is_frozen():
    with pytest.raises(TypeError):
        REGISTRY["fake"] = object  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_each_op_declares_a_docstring_domain_and_signature(name):
    op = ALL_OPS[name]
    assert (op.__doc__ or "").strip(), f"{name} has no docstring"
    arity = op.signature.split("->")[0].count("(")
    for choice in alternatives(op.domain):
        assert len(choice) == arity and all(isinstance(d, Domain) for d in choice)
    assert all(isinstance(p, Param) for p in op.param_domains.values())


def _forward_parameters(op):
    """The parameters of a primitive's forward (after ctx) or a composite."""
    if op.op_name in REGISTRY:
        return list(inspect.signature(op.forward).parameters.values())[1:]
    return list(inspect.signature(op).parameters.values())


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_each_input_has_a_domain_and_each_keyword_a_declared_param(name):
    """The generators draw what is declared: an undeclared keyword would never
    be explored, an undeclared input never drawn."""
    op = ALL_OPS[name]
    parameters = _forward_parameters(op)
    # A declared Param is a keyword even without a default (a pool's size);
    # an input may have one (conv2d's b=None), and is then counted as input.
    keywords = [p.name for p in parameters if p.name in op.param_domains]
    assert sorted(keywords) == sorted(op.param_domains), name
    inputs = [p for p in parameters if p.name not in keywords]
    assert not [p for p in inputs if p.kind is p.KEYWORD_ONLY], name
    if (inputs and inputs[0].kind is inputs[0].VAR_POSITIONAL) or name == "stack":
        return  # concatenate's *xs, stack's list: len(domain) inputs are drawn
    for choice in alternatives(op.domain):
        assert len(inputs) == len(choice), name


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@settings(max_examples=5)
@given(data=st.data())
def test_inputs_can_be_drawn_for_each_op_and_the_op_accepts_them(name, data):
    op = ALL_OPS[name]
    case = data.draw(op_inputs(op))
    assert len(case.inputs) == len(alternatives(op.domain)[0])
    out = call(op, case.inputs, case.params)
    assert isinstance(out, Tensor)
    # Never one of the inputs' arrays itself (astype to the dtype it has would
    # be): a leaf's array must stay the one kept read-only, a .grad its own.
    given = [x.data if isinstance(x, Tensor) else x for x in case.inputs]
    assert not any(out.data is array for array in given), name


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_registry_op_has_a_function_and_a_tensor_spelling(name):
    assert callable(getattr(F, name))
    if name not in FUNCTION_ONLY:
        assert hasattr(Tensor, TENSOR_SPELLING.get(name, name)), name


def test_every_public_function_in_functional_is_an_op_or_a_composite():
    public = {
        n
        for n, f in vars(F).items()
        if inspect.isfunction(f)
        and not n.startswith("_")
        and f.__module__ == F.__name__
    }
    assert public == set(ALL_OPS)


def test_every_public_function_in_functional_has_a_docstring():
    """The API reference is built from them; an empty entry teaches nothing."""
    missing = [
        n
        for n, f in vars(F).items()
        if inspect.isfunction(f)
        and not n.startswith("_")
        and f.__module__ == F.__name__
        and not (f.__doc__ or "").strip()
    ]
    assert not missing, f"functional functions without a docstring: {missing}"
