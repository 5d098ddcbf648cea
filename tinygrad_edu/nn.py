"""Layers as objects: Module, Parameter, Linear, Conv2d, pooling, Dropout,
BatchNorm, Sequential and activations.

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

from tinygrad_edu import functional as F
from tinygrad_edu import ops
from tinygrad_edu._random import RNG, generator
from tinygrad_edu.errors import (
    DomainError,
    DTypeError,
    GraphError,
    ShapeError,
    StateDictError,
)
from tinygrad_edu.function import check_writable
from tinygrad_edu.recording import Scope, name_scope
from tinygrad_edu.tensor import Tensor, as_tensor

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "IncompatibleKeys",
    "Linear",
    "MaxPool2d",
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
    It has memory of its own: made from an array or Tensor, it copies it.

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
        if isinstance(data, (np.ndarray, Tensor)):
            # Its own memory: an optimizer's in-place step must not change the
            # array it was made from, nor another Parameter made from that.
            self.data = self.data.copy()

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__().removeprefix("Tensor")


def _plainly_holds(value: Any, kind: type) -> bool:
    """Whether a plain list, tuple or dict (at any depth) holds a ``kind``."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, (list, tuple)):
        return False
    return any(isinstance(v, kind) or _plainly_holds(v, kind) for v in value)


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
        object.__setattr__(self, "_buffers", [])  # names, in registration order
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
            # A name replaced keeps its place: the new layer of a Sequential runs
            # where the old one ran, and parameters() keeps its order (optimizers'
            # state is by position).
            for registry, kind in ((parameters, Parameter), (modules, Module)):
                if isinstance(value, kind):
                    registry[name] = value
                else:
                    registry.pop(name, None)
        object.__setattr__(self, name, value)

    def _refuse_silent_traps(self, name: str, value: Any) -> None:
        """Refuse the assignments that would fail silently later.

        A plain list, tuple or dict of modules or parameters is not looked
        into, so its parameters would never be saved or trained; and a
        computed tensor in a parameter's place is no parameter at all, and its
        graph is freed by the first ``backward()``.
        """
        owner = type(self).__name__
        holds_modules = _plainly_holds(value, Module)
        if holds_modules or _plainly_holds(value, Parameter):
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
        if name in self._parameters and not isinstance(value, (Parameter, type(None))):
            raise DTypeError(
                f"{owner}: {name!r} is a parameter, and a {type(value).__name__} "
                f"assigned to it would not be one (not trained, not saved). Assign "
                f"nn.Parameter(...) to replace it, change its values in place "
                f"({name}.data[...] = ...), or del the attribute first."
            )
        if name in self._buffers and not isinstance(value, np.ndarray):
            raise DTypeError(
                f"{owner}: {name!r} is a buffer (state saved in state_dict()), so "
                f"it holds an ndarray, not a {type(value).__name__}; change it in "
                f"place ({name}[...] = ...), or del the attribute first."
            )

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if name in self._buffers:
            self._buffers.remove(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """Keep an array that is state but not a parameter (BatchNorm's running
        statistics): saved in ``state_dict()``, never trained. Update it in place."""
        if not isinstance(array, np.ndarray):
            raise DTypeError(
                f"{type(self).__name__}.register_buffer: {name!r} must be an "
                f"ndarray, got {type(array).__name__}."
            )
        if name not in self._buffers:
            self._buffers.append(name)
        setattr(self, name, array)

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

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer (``register_buffer``), with dotted names, in module order."""
        for module_name, module in self.named_modules(prefix):
            for name in module._buffers:
                yield (
                    (f"{module_name}.{name}" if module_name else name),
                    getattr(module, name),
                )

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
        """Copies of the parameters' and buffers' arrays by dotted name (``save``)."""
        return {name: array.copy() for name, array in self._state().items()}

    def _state(self) -> dict[str, np.ndarray]:
        """The arrays a state dict holds: the parameters', then the buffers."""
        own = {name: p.data for name, p in self.named_parameters()}
        return {**own, **dict(self.named_buffers())}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers, in place (optimizers keep
        working).

        Every key must match a parameter or buffer and every shape must fit, or nothing
        is changed and ``StateDictError`` lists what is wrong; with
        ``strict=False`` missing and unexpected keys are skipped (and returned)
        but shapes must still fit. Values are cast to each array's dtype.
        """
        if not isinstance(state_dict, Mapping):
            raise DTypeError(
                f"{type(self).__name__}.load_state_dict: expects a dict of name → "
                f"array (what state_dict() or load() return), got "
                f"{type(state_dict).__name__}."
            )
        own = self._state()
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        values, wrong_shapes = {}, []
        for name, array in own.items():
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
            if value.shape != array.shape:
                wrong_shapes.append(
                    f"{name!r}: the model has {array.shape}, the state dict "
                    f"has {value.shape}"
                )
            values[name] = value
        if wrong_shapes or (strict and (missing or unexpected)):
            raise StateDictError(
                self._state_dict_problem(missing, unexpected, wrong_shapes, strict)
            )
        for name in values:
            check_writable(
                own[name], f"{type(self).__name__}.load_state_dict: {name!r}"
            )
        for name, value in values.items():
            np.copyto(own[name], value, casting="unsafe")
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
        _check_sizes("Linear", in_features=in_features, out_features=out_features)
        dtype = _parameter_dtype("Linear", dtype)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        # Named so that a drawn graph labels them; the module path is the cluster.
        shape = (self.in_features, self.out_features)
        self.weight = Parameter(np.empty(shape, dtype), name="weight")
        self.bias = (
            Parameter(np.zeros(self.out_features, dtype), name="bias") if bias else None
        )
        _initialise("Linear", self.weight, init, std, rng)

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


def _check_sizes(where: str, **sizes: Any) -> None:
    """Each size a positive int, or a clear error naming it."""
    for what, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            kind = type(size).__name__
            raise DTypeError(f"{where}: {what} must be an int, got {kind}.")
        if size <= 0:
            raise DomainError(f"{where}: {what} must be positive, got {size}.")


def _parameter_dtype(where: str, dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise DTypeError(
            f"{where}: dtype must be a floating-point type (float32 or float64), "
            f"got {dtype}; parameters need gradients."
        )
    return dtype


def _initialise(
    where: str, weight: Parameter, init: str | Callable, std: float, rng: RNG
) -> None:
    """Fill a weight by ``init``: "normal" (with std), "xavier", "he" or a function."""
    if callable(init):
        init(weight)
    elif init == "normal":
        normal_(weight, std=std, rng=rng)
    elif init == "xavier":
        xavier_(weight, rng=rng)
    elif init == "he":
        he_(weight, rng=rng)
    else:
        raise DomainError(
            f"{where}: init={init!r} is not known; use 'normal' (with std), "
            f"'xavier', 'he', or a function that fills the weight in place."
        )


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
    and this function, use n_in only.) The weight has shape (n_in, n_out), or
    is conv filters (F, C, KH, KW), whose n_in is C·KH·KW.
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
    """The inputs each output sums over: n_in of a (n_in, n_out) weight, C·KH·KW
    of conv filters (F, C, KH, KW)."""
    shape = np.shape(tensor.data if isinstance(tensor, Tensor) else tensor)
    fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))
    if len(shape) not in (2, 4) or fan_in == 0:
        raise ShapeError(
            f"{where}: needs a weight of shape (n_in, n_out), got {shape}; conv "
            f"filters (F, C, KH, KW) work too, and biases are usually started at "
            f"zero (zeros_)."
        )
    return fan_in


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


# ------------------------------------ convolution and training layers (issue 23)
# Chapters 6 and 7 of the book as layers: each forward is the functional op of
# the same name, so its gradients are the ones the registry's tests check.


class Conv2d(Module):
    """``conv2d`` as a layer: filters (out_channels, in_channels, KH, KW), a bias
    per filter, He initialisation (std √(2 / (C·KH·KW))) by default, as the
    book's SimpleConvNet uses for ReLU networks; ``init`` and ``std`` as in
    ``Linear``. ``padding`` is the book's and ``F.conv2d``'s ``pad``.

    >>> conv = Conv2d(1, 30, 5, rng=0)
    >>> conv.weight.shape, conv.bias.shape
    ((30, 1, 5, 5), (30,))
    >>> conv(np.ones((2, 1, 28, 28))).shape
    (2, 30, 24, 24)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        *,
        init: str | Callable[[Parameter], Any] = "he",
        std: float = 0.01,
        dtype: Any = np.float64,
        rng: RNG = None,
    ) -> None:
        super().__init__()
        _check_sizes("Conv2d", in_channels=in_channels, out_channels=out_channels)
        dtype = _parameter_dtype("Conv2d", dtype)
        kernel = ops.pair("Conv2d", "kernel_size", kernel_size, 1)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = kernel
        self.stride = ops.pair("Conv2d", "stride", stride, 1)
        self.padding = ops.pair("Conv2d", "padding", padding, 0)
        shape = (self.out_channels, self.in_channels, *kernel)
        self.weight = Parameter(np.empty(shape, dtype), name="weight")
        self.bias = (
            Parameter(np.zeros(self.out_channels, dtype), name="bias") if bias else None
        )
        _initialise("Conv2d", self.weight, init, std, rng)

    def forward(self, x: Any) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        (kh, kw), options = self.kernel_size, ""
        if self.stride != (1, 1):
            options += f", stride={_short(self.stride)}"
        if self.padding != (0, 0):
            options += f", padding={_short(self.padding)}"
        if self.bias is None:
            options += ", bias=False"
        return f"{self.in_channels}→{self.out_channels}, {kh}x{kw}{options}"


def _short(pair: tuple[int, int]) -> Any:
    """(2, 2) as 2, (1, 2) as is: how the value was most likely written."""
    return pair[0] if pair[0] == pair[1] else pair


class _Pool2d(Module):
    """What the pooling layers share: the window, stride (the window's size by
    default) and padding, checked when the layer is made."""

    pool: Callable[..., Tensor]

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.kernel_size = ops.pair(where, "kernel_size", kernel_size, 1)
        self.stride = (
            self.kernel_size if stride is None else ops.pair(where, "stride", stride, 1)
        )
        self.padding = ops.pair(where, "padding", padding, 0)

    def forward(self, x: Any) -> Tensor:
        return type(self).pool(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        text = f"{_short(self.kernel_size)}"
        if self.stride != self.kernel_size:
            text += f", stride={_short(self.stride)}"
        if self.padding != (0, 0):
            text += f", padding={_short(self.padding)}"
        return text


class MaxPool2d(_Pool2d):
    """``max_pool2d`` as a layer: the maximum of each window (the book's Pooling).

    >>> MaxPool2d(2)(np.arange(16.0).reshape(1, 1, 4, 4)).numpy()[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    pool = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """``avg_pool2d`` as a layer: the mean of each window, padding counted."""

    pool = staticmethod(F.avg_pool2d)


class Flatten(Module):
    """Each sample as one row, (N, C, H, W) to (N, C·H·W): between conv and Linear."""

    def forward(self, x: Any) -> Tensor:
        return F.flatten(x)


class Dropout(Module):
    """Zero each element with probability ``p`` while training; at test time
    (``eval()``) pass everything on.

    Kept elements are scaled by 1/(1 - p) while training ("inverted" dropout,
    as PyTorch's), so the expected output is the input and ``eval()`` need not
    rescale; the book's ``Dropout`` scales by (1 - p) at test time instead,
    which gives the same network up to that factor. ``rng``: a
    ``np.random.Generator`` or a seed (drawn from for every mask, so a seed
    makes the run reproducible), or None for the global ``np.random``, which
    ``manual_seed`` seeds.

    >>> drop = Dropout(0.5, rng=0)
    >>> drop(np.ones((2, 4))).numpy()
    array([[2., 0., 0., 0.],
           [2., 2., 2., 2.]])
    >>> drop.eval()(np.ones((2, 4))).numpy()
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """

    def __init__(self, p: float = 0.5, *, rng: RNG = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)):
            raise DTypeError(f"Dropout: p must be a number, got {p!r}.")
        if not 0 <= p < 1:
            raise DomainError(
                f"Dropout: p is the probability of dropping an element and must "
                f"be in [0, 1), got {p!r}; p=1 would drop everything."
            )
        self.p = float(p)
        self.rng = generator(rng, "Dropout")  # one stream, not one seed per call

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if not self.training or self.p == 0:
            return x
        if x.dtype.kind != "f":  # 1/(1 - p) would be truncated
            raise DTypeError(
                f"Dropout: the input has dtype {x.dtype}; dropout scales what it "
                f"keeps by 1/(1 - p), so it needs floating-point data: "
                f"x.astype(np.float32)."
            )
        keep = self.rng.random(x.shape) >= self.p
        return x * Tensor((keep / (1 - self.p)).astype(x.dtype))

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ in the input's rank."""

    ndims: tuple[int, ...]

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        *,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        _check_sizes(where, num_features=num_features)
        dtype = _parameter_dtype(where, dtype)
        if momentum is None:
            raise DTypeError(
                f"{where}: momentum=None (PyTorch's cumulative average of every "
                f"batch) is not supported; give a number in [0, 1], e.g. 0.1."
            )
        if not (eps > 0 and 0 <= momentum <= 1):
            raise DomainError(
                f"{where}: needs eps > 0 and momentum in [0, 1], got eps={eps!r}, "
                f"momentum={momentum!r}."
            )
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        n = self.num_features
        self.weight = Parameter(np.ones(n, dtype), name="weight") if affine else None
        self.bias = Parameter(np.zeros(n, dtype), name="bias") if affine else None
        self.register_buffer("running_mean", np.zeros(n, dtype))
        self.register_buffer("running_var", np.ones(n, dtype))

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        self._check_input(x.shape)
        axes = (0, *range(2, x.ndim))  # all but the channels
        channels = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training:
            mean, var = self._batch_statistics(x, axes)
            self._follow(mean.data, var.data, x.size // self.num_features)
        else:
            mean = Tensor(self.running_mean.reshape(channels))
            var = Tensor(self.running_var.reshape(channels))
        out = (x - mean) * (var + self.eps) ** -0.5
        if self.weight is None:
            return out
        return out * self.weight.reshape(channels) + self.bias.reshape(channels)

    @staticmethod
    def _batch_statistics(x: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        """The batch's mean and (biased) variance per channel, in the graph: the
        gradient flows through them, which is what makes Batch Norm train."""
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        return mean, (centred * centred).mean(axis=axes, keepdims=True)

    def _check_input(self, shape: tuple[int, ...]) -> None:
        where = f"{type(self).__name__}({self.num_features})"
        if len(shape) not in self.ndims or shape[1] != self.num_features:
            dims = " or ".join(f"{d}-D" for d in self.ndims)
            raise ShapeError(
                f"{where}: the input has shape {shape}, but it takes {dims} input "
                f"with {self.num_features} channels on axis 1 (num_features); "
                f"check the previous layer's output size."
            )
        if self.training and shape[0] * int(np.prod(shape[2:])) == 1:
            raise ShapeError(
                f"{where}: the input has shape {shape}, one value per channel, "
                f"whose variance is 0; train with a batch of more than one sample, "
                f"or call eval() to use the running statistics."
            )

    def _follow(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        """Move the running statistics towards the batch's, in place."""
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mean.ravel()
        self.running_var *= 1 - m
        self.running_var += m * var.ravel() * count / (count - 1)

    def extra_repr(self) -> str:
        return f"{self.num_features}"


class BatchNorm1d(_BatchNorm):
    """Batch Normalization of features: (N, C) or (N, C, L), per feature C.

    Normalize each channel (axis 1) over the batch and any spatial axes,
    then scale by ``weight`` (γ) and shift by ``bias`` (β).

    While training, the mean and variance are the batch's, and the running
    statistics follow them: running ← (1 - momentum)·running + momentum·batch
    (PyTorch's convention; the book's ``momentum=0.9`` is this with 0.1), with
    the unbiased variance in ``running_var``. In ``eval()`` mode the running
    statistics normalize instead, so one test image gives the same answer
    alone as in a batch. Built from registry ops (mean, sub, mul, pow), so its
    gradients, of every order, are the ones the property tests check.

    >>> bn = BatchNorm1d(2)
    >>> bn(np.array([[1.0, 10.0], [3.0, 30.0]])).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> bn.running_mean
    array([0.2, 2. ])
    """

    ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch Normalization of images (N, C, H, W), per channel C, over the batch
    and the pixels: ``BatchNorm1d``'s rules, running statistics and modes."""

    ndims = (4,)
