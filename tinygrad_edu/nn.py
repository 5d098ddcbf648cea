"""Layers as objects: Module, Parameter, Linear, Sequential and activations.

A ``Module`` owns ``Parameter``s and other modules, found through its
attributes in the order they were assigned, so ``parameters()`` and
``state_dict()`` come out the same on every run. Calling a module runs its
``forward`` inside ``engine.name_scope``, which tags every recorded node with
the module's label (``Linear(784→50)``) so the graph can be drawn layer by layer.

The weight of ``Linear`` has shape (in, out) and the layer computes
``x @ W + b``, as the book writes it (PyTorch stores the transpose).

>>> import numpy as np
>>> from tinygrad_edu import nn
>>> model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1))
>>> model
Sequential(
  (0): Linear(2→3)
  (1): ReLU()
  (2): Linear(3→1)
)
>>> [name for name, _ in model.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> model(np.ones((4, 2))).shape
(4, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tinygrad_edu._random import RNG, generator
from tinygrad_edu.errors import (
    DomainError,
    DTypeError,
    GraphError,
    ShapeError,
    StateDictError,
)
from tinygrad_edu.recording import Scope, name_scope
from tinygrad_edu.tensor import Tensor, as_tensor

__all__ = [
    "IncompatibleKeys",
    "Linear",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ParameterDict",
    "ParameterList",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "clip_grad_norm_",
    "clip_grad_value_",
    "he_",
    "normal_",
    "xavier_",
    "zeros_",
]

#: What an ``rng`` argument may be, here and in ``datasets``: a Generator or
#: legacy RandomState (used as is), an int seed (a fresh
#: ``np.random.default_rng(seed)``), or None (NumPy's global state).


class Parameter(Tensor):
    """A Tensor that a ``Module`` registers as one of its learnable parameters.

    It is an ordinary Tensor with ``requires_grad=True`` by default; the type
    is the signal: assigning a Parameter to a module attribute registers it,
    assigning a plain Tensor does not (it could be a constant such as a mask).

    >>> Parameter([1.0, 2.0])
    Parameter([1., 2.], requires_grad=True)
    """

    __slots__ = ()

    def __init__(
        self,
        data: Any,
        requires_grad: bool = True,
        *,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(data, requires_grad, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__().removeprefix("Tensor")


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclass it, assign parts, write ``forward``.

    >>> class TwoLayers(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = Linear(4, 3, rng=0)
    ...         self.fc2 = Linear(3, 2, rng=0)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).sigmoid())
    >>> [name for name, _ in TwoLayers().named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training: bool

    def __init__(self) -> None:
        # Registries hold names in assignment order; the objects themselves
        # also live in __dict__, so reading ``self.weight`` costs nothing extra.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_label", None)
        object.__setattr__(self, "training", True)

    # -- registration -----------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        parameters = self.__dict__.get("_parameters")
        modules = self.__dict__.get("_modules")
        if parameters is None or modules is None:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(
                    f"{type(self).__name__}: cannot assign {name!r} before "
                    f"Module.__init__() ran; call super().__init__() first in "
                    f"{type(self).__name__}.__init__."
                )
        else:
            self._refuse_silent_traps(name, value)
            parameters.pop(name, None)
            modules.pop(name, None)
            if isinstance(value, Parameter):
                parameters[name] = value
            elif isinstance(value, Module):
                modules[name] = value
        object.__setattr__(self, name, value)

    def _refuse_silent_traps(self, name: str, value: Any) -> None:
        """Refuse the assignments that would fail silently later.

        A plain list, tuple or dict of modules or parameters is not looked
        into, so its parameters would never be saved or trained; and a
        computed tensor in a parameter's place is no parameter at all, and its
        graph is freed by the first ``backward()``.
        """
        owner = type(self).__name__
        items = (
            list(value.values() if isinstance(value, dict) else value)
            if (isinstance(value, (list, tuple, dict)))
            else []
        )
        holds_modules = any(isinstance(v, Module) for v in items)
        if holds_modules or any(isinstance(v, Parameter) for v in items):
            kind = "Module" if holds_modules else "Parameter"
            container = f"nn.{kind}{'Dict' if isinstance(value, dict) else 'List'}"
            raise DTypeError(
                f"{owner}: {name!r} is a plain {type(value).__name__} holding "
                f"{kind}s; a module does not look inside plain containers, so "
                f"they would be missing from parameters() and state_dict() and "
                f"never trained. Use {container}(...) instead."
            )
        if (
            name in self._parameters
            and isinstance(value, Tensor)
            and not isinstance(value, Parameter)
            and value._node is not None
        ):
            raise GraphError(
                f"{owner}: {name!r} is a parameter, and the tensor assigned to it "
                f"was computed by '{value._node.op_name}'. It would not be a "
                f"parameter (not trained, not saved), and its graph is freed by "
                f"the first backward(). To tie weights, share the Parameter "
                f"itself (b.weight = a.weight) and compute the variant in "
                f"forward (x @ self.weight.T)."
            )

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    # -- running ----------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must define forward(self, ...): what the module "
            f"computes from its inputs."
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` with the ops it records labelled by this module."""
        label = self._label
        if label is None:  # computed on the first call: the sizes are set by then
            label = Scope(self._scope_label())  # one scope (cluster) per module
            object.__setattr__(self, "_label", label)
        with name_scope(label):
            return self.forward(*args, **kwargs)

    def _scope_label(self) -> str:
        """Short description used for graph clusters, e.g. ``Linear(784→50)``."""
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra})" if extra else type(self).__name__

    def extra_repr(self) -> str:
        """The sizes/options shown in ``repr`` and the label; override in layers."""
        return ""

    # -- walking the tree -------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their attribute names, in assignment order."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module inside it (each once), with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module._modules.items()
            ]
            stack.extend(reversed(children))  # pre-order, in assignment order

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter once, with dotted names such as ``fc1.weight``.

        A module's own parameters come first, then its children's, each in
        assignment order; a parameter shared by two modules appears once.
        """
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self) -> Iterator[Parameter]:
        """What an optimizer updates: ``optim.SGD(model.parameters(), lr=0.1)``."""
        for _, parameter in self.named_parameters():
            yield parameter

    # -- training helpers -------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget the gradients (``.grad = None``) before the next ``backward()``.

        Gradients accumulate, so without this every step would also apply the
        gradients of all earlier steps.
        """
        for parameter in self.parameters():
            parameter.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and all inside it; returns ``self``."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """``train(False)``: for layers that act differently at test time (dropout)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (``False``) or unfreeze every parameter inside; returns ``self``.

        Optimizers skip frozen parameters, so ``model.body.requires_grad_(False)``
        trains only the rest.
        """
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    # -- saving and loading -----------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters' arrays by dotted name (for ``save``)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays into the parameters, in place, so optimizers keep working.

        Every key must match a parameter and every shape must fit, or nothing
        is changed and ``StateDictError`` lists what is wrong; with
        ``strict=False`` missing and unexpected keys are skipped (and returned)
        but shapes must still fit. Values are cast to each parameter's dtype.
        """
        if not isinstance(state_dict, Mapping):
            raise DTypeError(
                f"{type(self).__name__}.load_state_dict: expects a dict of name → "
                f"array (what state_dict() or load() return), got "
                f"{type(state_dict).__name__}."
            )
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        values, wrong_shapes = {}, []
        for name, parameter in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            try:
                value = value.data if isinstance(value, Tensor) else np.asarray(value)
            except (ValueError, TypeError) as error:  # a ragged nested list
                raise DTypeError(
                    f"{type(self).__name__}.load_state_dict: {name!r} is not an "
                    f"array of one shape ({error}); a state dict holds the number "
                    f"arrays that state_dict() returned."
                ) from None
            if value.dtype.kind not in "biuf":
                raise DTypeError(
                    f"{type(self).__name__}.load_state_dict: {name!r} has dtype "
                    f"{value.dtype}, which is not numeric; a state dict holds the "
                    f"number arrays that state_dict() returned."
                )
            if value.shape != parameter.shape:
                wrong_shapes.append(
                    f"{name!r}: the model has {parameter.shape}, the state dict "
                    f"has {value.shape}"
                )
            values[name] = value
        if wrong_shapes or (strict and (missing or unexpected)):
            raise StateDictError(
                self._state_dict_problem(missing, unexpected, wrong_shapes, strict)
            )
        for name, value in values.items():
            np.copyto(own[name].data, value, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    def _state_dict_problem(
        self,
        missing: list[str],
        unexpected: list[str],
        wrong_shapes: list[str],
        strict: bool,
    ) -> str:
        lines = [f"{type(self).__name__}.load_state_dict: the state dict does not fit."]
        if strict and missing:
            lines.append(f"  missing keys (in the model, not the dict): {missing}")
        if strict and unexpected:
            lines.append(
                f"  unexpected keys (in the dict, not the model): {unexpected}"
            )
        lines.extend(f"  wrong shape: {problem}" for problem in wrong_shapes)
        if wrong_shapes:
            lines.append(
                "Fix: build the model with the layer sizes the state dict was saved "
                "from."
            )
        if strict and (missing or unexpected):
            lines.append(
                "Fix: load a state dict saved from the same architecture (names "
                "come from attribute names), or pass strict=False to load only the "
                "keys both have."
            )
        return "\n".join(lines)

    # -- printing ---------------------------------------------------------------
    def __repr__(self) -> str:
        name = type(self).__name__
        if not self._modules:
            return f"{name}({self.extra_repr()})"
        lines = [f"{name}("]
        if self.extra_repr():
            lines.append(f"  {self.extra_repr()}")
        for child_name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({child_name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)


# --------------------------------------------------------------------- layers


class Linear(Module):
    """Affine layer ``y = x @ W + b`` with W of shape (in_features, out_features).

    ``init`` chooses W's initial values: ``"normal"`` (``std`` times standard
    normal samples, the book's ``weight_init_std``), ``"xavier"`` (std
    1/√in, for sigmoid and tanh), ``"he"`` (std √(2/in), for ReLU), or a
    function that fills the weight in place, e.g. ``lambda w: normal_(w, 0.1)``.
    The bias starts at zero. ``rng``: a ``np.random.Generator``, a seed, or
    None for the global ``np.random`` (so the book's ``np.random.seed`` works).

    >>> layer = Linear(3, 2, init="normal", std=0.01, rng=0)
    >>> layer.weight.shape, layer.bias.shape
    ((3, 2), (2,))
    >>> layer(np.ones((5, 3))).shape
    (5, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        init: str | Callable[[Parameter], Any] = "xavier",
        std: float = 0.01,
        dtype: Any = np.float64,
        rng: RNG = None,
    ) -> None:
        super().__init__()
        for what, size in (
            ("in_features", in_features),
            ("out_features", out_features),
        ):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
                raise DTypeError(
                    f"Linear: {what} must be an int, got {type(size).__name__}."
                )
            if size <= 0:
                raise DomainError(f"Linear: {what} must be positive, got {size}.")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DTypeError(
                f"Linear: dtype must be a floating-point type (float32 or float64), "
                f"got {dtype}; parameters need gradients."
            )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        # Named so that a drawn graph labels them; the module path is the cluster.
        shape = (self.in_features, self.out_features)
        self.weight = Parameter(np.empty(shape, dtype), name="weight")
        self.bias = (
            Parameter(np.zeros(self.out_features, dtype), name="bias") if bias else None
        )
        if callable(init):
            init(self.weight)
        elif init == "normal":
            normal_(self.weight, std=std, rng=rng)
        elif init == "xavier":
            xavier_(self.weight, rng=rng)
        elif init == "he":
            he_(self.weight, rng=rng)
        else:
            raise DomainError(
                f"Linear: init={init!r} is not known; use 'normal' (with std), "
                f"'xavier', 'he', or a function that fills the weight in place."
            )

    def forward(self, x: Any) -> Tensor:
        shape = getattr(x, "shape", None)
        if shape is None:
            x = Tensor(x)
            shape = x.shape
        if not shape or shape[-1] != self.in_features:
            raise ShapeError(
                f"{self._scope_label()}: the input has shape {tuple(shape)}, but its "
                f"last axis must have {self.in_features} features (in_features). Check "
                f"the previous layer's out_features, or flatten images with "
                f"x.reshape(len(x), -1)."
            )
        y = x @ self.weight
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        sizes = f"{self.in_features}→{self.out_features}"
        return sizes if self.bias is not None else f"{sizes}, bias=False"


# ----------------------------------------------------------------- containers
# A module finds its parts through its attributes; these containers give each
# item an attribute of its own (its position, or its key), so the parts of a
# list or dict are registered like any other.


def _item_check(owner: Module, item: Any, kind: type, where: str) -> None:
    if not isinstance(item, kind):
        raise DTypeError(
            f"{type(owner).__name__}: {where} is a {type(item).__name__}, not a "
            f"{kind.__name__}; "
            + (
                "wrap functions in a Module subclass with a forward()."
                if kind is Module
                else "make it with nn.Parameter(array)."
            )
        )


class ModuleList(Module):
    """A list of modules whose parameters the owner sees: ``self.blocks[i]``.

    A plain Python list of modules is refused when assigned to a module (its
    parameters would be invisible to ``parameters()`` and ``state_dict()``).

    >>> blocks = ModuleList([Linear(2, 2, rng=0), Linear(2, 2, rng=1)])
    >>> len(blocks), [name for name, _ in blocks.named_parameters()][:2]
    (2, ['0.weight', '0.bias'])
    """

    _item_kind: type = Module

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__()
        self.extend(items)

    def _items(self) -> dict[str, Any]:
        return self._modules

    def append(self, item: Any) -> ModuleList:
        """Add one item at the end; its name is its position, as a string."""
        _item_check(self, item, self._item_kind, f"item {len(self)}")
        setattr(self, str(len(self)), item)
        return self

    def extend(self, items: Iterable[Any]) -> ModuleList:
        """Add each item at the end, in order."""
        for item in items:
            self.append(item)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._items().values())
        if isinstance(index, slice):
            part = type(self).__new__(type(self))
            Module.__init__(part)
            return part.extend(items[index])
        return items[index]

    def __setitem__(self, index: int, item: Any) -> None:
        _item_check(self, item, self._item_kind, f"item {index}")
        position = range(len(self))[index]  # IndexError as a list raises it
        setattr(self, str(position), item)

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._items().values()))


class ParameterList(ModuleList):
    """A list of parameters, each registered (names ``0``, ``1``, ...).

    >>> scales = ParameterList([Parameter([1.0]), Parameter([2.0])])
    >>> [name for name, _ in scales.named_parameters()]
    ['0', '1']
    """

    _item_kind = Parameter

    def _items(self) -> dict[str, Any]:
        return self._parameters


class ModuleDict(Module):
    """A dict of modules whose parameters the owner sees: ``self.heads["cls"]``.

    Keys are names without dots that do not hide a method or attribute.

    >>> heads = ModuleDict({"a": Linear(2, 1, rng=0)})
    >>> [name for name, _ in heads.named_parameters()]
    ['a.weight', 'a.bias']
    """

    _item_kind: type = Module

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        for key, item in (items or {}).items():
            self[key] = item

    def _items(self) -> dict[str, Any]:
        return self._modules

    def __setitem__(self, key: str, item: Any) -> None:
        owner = type(self).__name__
        if not isinstance(key, str) or not key or "." in key:
            raise DomainError(
                f"{owner}: key {key!r} must be a non-empty string without dots "
                f"(dots separate the parts of a parameter's name)."
            )
        if key not in self._items() and hasattr(self, key):
            raise DomainError(
                f"{owner}: key {key!r} would hide the attribute {owner}.{key}; "
                f"choose another name."
            )
        _item_check(self, item, self._item_kind, f"item {key!r}")
        setattr(self, key, item)

    def __getitem__(self, key: str) -> Any:
        return self._items()[key]

    def __delitem__(self, key: str) -> None:
        self._items()[key]  # KeyError for a missing key, as a dict raises it
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items()))

    def __contains__(self, key: object) -> bool:
        return key in self._items()

    def keys(self) -> list[str]:
        return list(self._items())

    def values(self) -> list[Any]:
        return list(self._items().values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._items().items())


class ParameterDict(ModuleDict):
    """A dict of parameters, each registered under its key.

    >>> gains = ParameterDict({"a": Parameter([1.0])})
    >>> [name for name, _ in gains.named_parameters()]
    ['a']
    """

    _item_kind = Parameter

    def _items(self) -> dict[str, Any]:
        return self._parameters


class Sequential(ModuleList):
    """Modules applied one after another; ``model[0]`` is the first, ``len(model)``.

    >>> model = Sequential(Linear(2, 2, rng=0), Sigmoid())
    >>> model[1], len(model)
    (Sigmoid(), 2)
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).sigmoid()


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).relu()


class Tanh(Module):
    """tanh x, elementwise."""

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).tanh()


# ------------------------------------------------------------ initialisation
# Each fills an array in place and returns what it was given. Samples are drawn
# in float64 and then stored in the array's dtype, so a seed gives the same
# values (up to rounding) in float32 and float64, and the same as the book's
# ``weight_init_std * np.random.randn(n_in, n_out)``.


def normal_(tensor: Tensor, std: float = 0.01, rng: RNG = None) -> Tensor:
    """Fill with normal samples of mean 0 and standard deviation ``std``.

    >>> w = normal_(Parameter(np.empty((100, 100))), std=0.01, rng=0)
    >>> round(float(w.data.std()), 3)
    0.01
    """
    if not (std >= 0 and np.isfinite(std)):
        raise DomainError(f"normal_: std must be zero or positive, got {std}.")
    array = _writable_float(tensor, "normal_")
    array[...] = std * generator(rng, "normal_").standard_normal(array.shape)
    return tensor


def xavier_(tensor: Tensor, rng: RNG = None) -> Tensor:
    """Xavier (Glorot) init as the book uses it: std = 1/√n_in.

    Keeps the spread of the activations about the same from layer to layer
    for sigmoid and tanh. (Glorot's paper averages n_in and n_out; the book,
    and this function, use n_in only.) The weight has shape (n_in, n_out).
    """
    fan_in = _fan_in(tensor, "xavier_")
    return normal_(tensor, std=1.0 / np.sqrt(fan_in), rng=rng)


def he_(tensor: Tensor, rng: RNG = None) -> Tensor:
    """He (Kaiming) init: std = √(2/n_in), twice Xavier's variance.

    ReLU zeroes half its inputs, halving the variance; the 2 makes up for it.
    """
    fan_in = _fan_in(tensor, "he_")
    return normal_(tensor, std=np.sqrt(2.0 / fan_in), rng=rng)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros (biases start there)."""
    _writable_float(tensor, "zeros_")[...] = 0
    return tensor


def _writable_float(tensor: Any, where: str) -> np.ndarray:
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        what = getattr(array, "dtype", type(array).__name__)
        raise DTypeError(
            f"{where}: needs a floating-point Tensor or ndarray to fill, got {what}."
        )
    return array


def _fan_in(tensor: Any, where: str) -> int:
    shape = np.shape(tensor.data if isinstance(tensor, Tensor) else tensor)
    if len(shape) != 2 or shape[0] == 0:
        raise ShapeError(
            f"{where}: needs a weight of shape (n_in, n_out), got {shape}; biases "
            f"are usually started at zero (zeros_)."
        )
    return shape[0]


# ------------------------------------------------------------ gradient clipping
# PyTorch keeps these in torch.nn.utils; here they are nn.clip_grad_norm_ and
# nn.clip_grad_value_. Call them between backward() and step().


def _grads(parameters: Iterable[Tensor] | Tensor, where: str) -> list[Tensor]:
    """The parameters that have a gradient (a single Tensor is one parameter)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise DTypeError(
                f"{where}: parameters[{i}] is a {type(p).__name__}, not a Tensor; "
                f"pass model.parameters()."
            )
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(
    parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0
) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over every gradient as one vector (``norm_type`` 2 by
    default, or ``float("inf")`` for the largest element); if it exceeds
    ``max_norm`` each gradient is multiplied by max_norm / (norm + 1e-6), as
    PyTorch does, so the direction of the step is kept. Returns the norm
    before clipping, a useful thing to log.

    >>> w = Parameter([3.0, 4.0])
    >>> w.grad = Tensor([3.0, 4.0])
    >>> clip_grad_norm_([w], max_norm=1.0)
    5.0
    >>> bool(np.allclose(w.grad.numpy(), [0.6, 0.8]))
    True
    """
    where = "clip_grad_norm_"
    for name, value in (("max_norm", max_norm), ("norm_type", norm_type)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise DTypeError(f"{where}: {name} must be a number, got {value!r}.")
    if not max_norm >= 0 or not norm_type > 0:
        raise DomainError(
            f"{where}: needs max_norm >= 0 and norm_type > 0, got max_norm="
            f"{max_norm!r}, norm_type={norm_type!r}."
        )
    params = _grads(parameters, where)
    if not params:
        return 0.0
    norms = [np.linalg.norm(p.grad.data.ravel(), norm_type) for p in params]
    total = float(np.linalg.norm(norms, norm_type))
    if not np.isfinite(total):
        raise DomainError(
            f"{where}: the gradients' norm is {total}; a NaN or inf gradient "
            f"cannot be clipped into shape. Find the op that made it with "
            f"tinygrad_edu.detect_anomaly()."
        )
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for p in params:
            p.grad = Tensor(p.grad.data * scale)
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clip every gradient element into [-clip_value, clip_value].

    >>> w = Parameter([1.0, 1.0])
    >>> w.grad = Tensor([-5.0, 0.5])
    >>> clip_grad_value_([w], 1.0)
    >>> w.grad
    Tensor([-1. ,  0.5])
    """
    where = "clip_grad_value_"
    if isinstance(clip_value, bool) or not isinstance(
        clip_value, (int, float, np.number)
    ):
        raise DTypeError(f"{where}: clip_value must be a number, got {clip_value!r}.")
    if not clip_value >= 0:
        raise DomainError(f"{where}: clip_value must be >= 0, got {clip_value!r}.")
    for p in _grads(parameters, where):
        p.grad = Tensor(np.clip(p.grad.data, -clip_value, clip_value))
