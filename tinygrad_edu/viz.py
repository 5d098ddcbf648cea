"""Pictures of the recorded graph: ``to_dot`` builds Graphviz DOT, ``draw`` renders it.

Seeing the graph is half of understanding backprop: which ops ran, on which
tensors, with which shapes, and (after ``backward()``) which gradients arrived.

* ``to_dot(loss)`` returns a ``graphviz.Digraph``. It needs only the
  ``graphviz`` Python package, not the ``dot`` program: ``.source`` is the
  DOT text, and in Jupyter the object displays itself as SVG (without
  ``dot``, as text: how to install Graphviz, then the DOT source).
* ``draw(loss, "graph.svg")`` renders with the ``dot`` program to SVG, PNG
  or PDF (chosen by the extension) and writes the file atomically.
* ``python -m tinygrad_edu.viz OUT.svg`` draws the book's TwoLayerNet loss.

Node names are numbered in a fixed walk order (``t0``, ``t1``, ... for
tensors, ``op0``, ... for ops), never ``id()``, so the same graph always gives
the same DOT text: golden files and diffs work. The graph is walked from the
outputs through ``node.inputs`` in argument order, leaves first.

``graphviz`` is imported inside the functions that need it, so
``import tinygrad_edu`` still needs only NumPy.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_edu import engine
from tinygrad_edu._files import atomic_write
from tinygrad_edu.anomaly import non_finite
from tinygrad_edu.errors import (
    DomainError,
    DTypeError,
    GraphError,
    TinygradEduError,
)
from tinygrad_edu.recording import name_scope
from tinygrad_edu.tensor import Tensor

if TYPE_CHECKING:
    import graphviz

    from tinygrad_edu.function import Function

__all__ = [
    "FORMATS",
    "GraphvizNotFoundError",
    "draw",
    "main",
    "to_dot",
    "two_layer_net_loss",
]

#: What ``draw`` writes, by file extension. ``dot``/``gv`` write the DOT text
#: itself and are the only ones that work without the ``dot`` program.
FORMATS = ("svg", "png", "pdf", "dot", "gv")
_RENDERED = ("svg", "png", "pdf")

#: Tensors with at most this many elements show their values; larger ones a summary.
SMALL = 12

# Fill colours: parameters (leaves that require grad), constants and inputs,
# intermediate results, outputs, ops; red for anything holding NaN or inf.
_PARAMETER = "#cfe2f3"
_CONSTANT = "#eeeeee"
_INTERMEDIATE = "#ffffff"
_OUTPUT = "#d9ead3"
_OP = "#fff2cc"
_BAD_FILL = "#f4cccc"
_BAD_LINE = "red"

_RANKDIRS = ("LR", "RL", "TB", "BT")


_INSTALL_GRAPHVIZ = (
    "Install Graphviz: 'apt install graphviz' (Debian, Ubuntu), 'brew install "
    "graphviz' (macOS) or 'conda install graphviz'."
)


class GraphvizNotFoundError(TinygradEduError, RuntimeError):
    """The ``dot`` program of Graphviz is not installed (or not on ``PATH``)."""


@functools.cache
def _digraph_class() -> type[graphviz.Digraph]:
    """``graphviz.Digraph`` with a notebook display that works without ``dot``.

    Defined on first use, so that importing this module does not import
    graphviz. Jupyter calls ``_repr_mimebundle_`` to show the object; graphviz
    renders with ``dot`` there and raises ``ExecutableNotFound``, which a
    notebook prints as a traceback with no hint. Without ``dot`` the graph
    shows as text instead: how to install Graphviz, then the DOT source, which
    is still the whole graph.
    """
    import graphviz

    class Digraph(graphviz.Digraph):
        __doc__ = graphviz.Digraph.__doc__

        def _repr_mimebundle_(
            self,
            include: Any = None,
            exclude: Any = None,
            **kwargs: Any,
        ) -> dict[str, Any]:
            try:
                return super()._repr_mimebundle_(include, exclude, **kwargs)
            except graphviz.ExecutableNotFound:
                note = (
                    f"(Graphviz's 'dot' program was not found on PATH, so this "
                    f"graph is shown as DOT text, not as a picture. "
                    f"{_INSTALL_GRAPHVIZ})"
                )
                return {"text/plain": f"{note}\n\n{self.source}"}

    Digraph.__module__, Digraph.__qualname__ = __name__, "Digraph"
    return Digraph


# ------------------------------------------------------------------ the walk


class _Graph:
    """The tensors and ops reachable from the outputs, in a deterministic order.

    ``items`` lists, leaves first, each tensor (and before a computed tensor,
    the op that produced it) exactly once: the order of the DOT statements.
    """

    def __init__(self, outputs: Sequence[Tensor]) -> None:
        self.outputs = list(outputs)
        # Keyed by id() (everything stays alive while we draw), so a Tensor
        # __eq__ can never interfere; the DOT names are the walk numbers.
        self.tensor_ids: dict[int, str] = {}
        self.op_ids: dict[int, str] = {}
        self.items: list[tuple[Function | None, Tensor]] = []
        self.consumers: dict[int, list[Function]] = {}
        for output in self.outputs:
            self._visit(output)

    def _visit(self, root: Tensor) -> None:
        # Depth-first post-order with an explicit stack (no recursion limit):
        # a tensor is numbered after everything it was computed from.
        if id(root) in self.tensor_ids:
            return
        stack: list[tuple[Tensor, Any]] = [(root, None)]
        while stack:
            tensor, pending = stack[-1]
            node = tensor._node
            if node is None:
                stack.pop()
                self._add(None, tensor)
                continue
            if pending is None:
                if node.inputs is None:
                    raise _freed_graph_error(node)
                pending = iter(node.inputs)
                stack[-1] = (tensor, pending)
            for x in pending:
                self.consumers.setdefault(id(x), []).append(node)
                if id(x) not in self.tensor_ids:
                    stack.append((x, None))
                    break
            else:
                stack.pop()
                self._add(node, tensor)

    def _add(self, node: Function | None, tensor: Tensor) -> None:
        if node is not None:
            self.op_ids[id(node)] = f"op{len(self.op_ids)}"
        self.tensor_ids[id(tensor)] = f"t{len(self.tensor_ids)}"
        self.items.append((node, tensor))


def _freed_graph_error(node: Function) -> GraphError:
    return GraphError(
        f"to_dot: the graph behind '{node.op_name}' was freed by backward(), so "
        f"there is nothing left to draw. Draw before calling backward(), or call "
        f"backward(retain_graph=True) (create_graph=True keeps it too) - that is "
        f"also how to draw a graph with show_grads=True."
    )


def _as_outputs(output: Tensor | Sequence[Tensor]) -> list[Tensor]:
    outputs = [output] if isinstance(output, Tensor) else output
    if not isinstance(outputs, (list, tuple)) or not all(
        isinstance(t, Tensor) for t in outputs
    ):
        raise DTypeError(
            f"to_dot: takes a Tensor or a list/tuple of Tensors, got "
            f"{type(output).__name__}; e.g. to_dot(loss) or to_dot([y1, y2])."
        )
    if not outputs:
        raise DomainError("to_dot: got an empty list; pass at least one Tensor.")
    return list(outputs)


# --------------------------------------------------------------- the labels


def _escape(text: str) -> str:
    # The graphviz package quotes '"' but leaves backslashes alone (so that
    # \n and \l work); escape the user's own backslashes.
    return text.replace("\\", "\\\\")


def _label(lines: list[str]) -> Any:
    import graphviz

    # nohtml: a name such as "<x>" must not be read as an HTML-like label.
    return graphviz.nohtml("\\n".join(_escape(line) for line in lines))


def _array_lines(array: np.ndarray) -> list[str]:
    # Fixed print options: the user's np.set_printoptions must not change the DOT.
    with np.printoptions(
        precision=4,
        threshold=1000,
        edgeitems=3,
        linewidth=60,
        suppress=False,
        floatmode="maxprec",
        sign="-",
        legacy=False,
    ):
        return np.array2string(array, separator=", ").splitlines()


def _summary(array: np.ndarray) -> dict[str, float]:
    values = array.astype(np.float64) if array.dtype.kind == "b" else array
    with np.errstate(all="ignore"):  # NaN/inf are reported, not warned about
        return {
            "mean": float(np.mean(values)),
            "min": float(np.min(values)),
            "max": float(np.max(values)),
            "norm": float(np.linalg.norm(values.ravel().astype(np.float64))),
        }


def _values_lines(array: np.ndarray) -> list[str]:
    if array.size <= SMALL:
        return _array_lines(array)
    s = _summary(array)
    return [f"mean {s['mean']:.4g}, min {s['min']:.4g}, max {s['max']:.4g}"]


def _grad_lines(tensor: Tensor) -> list[str]:
    grad = tensor.grad
    if grad is None:
        return ["grad: none yet (call backward())"]
    if grad.data.size <= SMALL:
        lines = _array_lines(grad.data)
        return [f"grad: {lines[0]}", *lines[1:]]
    s = _summary(grad.data)
    return [f"grad: norm {s['norm']:.4g}, range [{s['min']:.4g}, {s['max']:.4g}]"]


def _non_finite(array: np.ndarray) -> str | None:
    """'NaN' or 'inf' if a float array holds one, as the labels spell it."""
    bad = non_finite(array)
    return "NaN" if bad == "nan" else bad


def _shape_text(tensor: Tensor) -> str:
    shape = tensor.shape
    text = f"({shape[0]},)" if len(shape) == 1 else str(tuple(shape))
    return f"{text} {tensor.dtype}"


@functools.cache
def _param_defaults(op: type) -> dict[str, Any]:
    """The keyword parameters of an op's forward that have defaults."""
    try:
        parameters = inspect.signature(op.forward).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters if p.default is not p.empty}


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    plain = (bool, int, float, str, tuple)
    return type(value) is type(default) and type(value) in plain and value == default


def _format_param(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return repr(value.tolist())
        return f"<{value.dtype} array {value.shape}>"
    if isinstance(value, slice):
        parts = [value.start, value.stop] + ([value.step] if value.step else [])
        return ":".join("" if p is None else str(p) for p in parts)
    if isinstance(value, tuple):
        inner = ", ".join(_format_param(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if value is Ellipsis:
        return "..."
    if isinstance(value, np.generic):
        value = value.item()  # 3, not np.int64(3)
    elif isinstance(value, (type, np.dtype)):
        try:
            return np.dtype(value).name
        except TypeError:
            return value.__name__
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _op_lines(node: Function) -> list[str]:
    defaults = _param_defaults(type(node))
    lines = [node.op_name]
    for key, value in node.kwargs.items():
        if key in defaults and _is_default(value, defaults[key]):
            continue  # sum(axis=None, keepdims=False) reads better as "sum"
        lines.append(f"{key}={_format_param(value)}")
    return lines


# ------------------------------------------------------------------ to_dot


def to_dot(
    output: Tensor | Sequence[Tensor],
    *,
    show_values: bool = False,
    show_grads: bool = False,
    show_order: bool = False,
    color_by_grad: bool = False,
    rankdir: str = "LR",
    cluster_modules: bool = True,
    title: str | None = None,
) -> graphviz.Digraph:
    r"""The graph that computed ``output`` (a Tensor or several) as a Graphviz Digraph.

    One box per op (its name and non-default arguments such as ``axis=1``),
    one ellipse per tensor (its ``name``, shape and dtype). Parameters (leaves
    that require grad) are blue, constants and inputs grey, outputs green; a
    tensor holding NaN or inf is red. ``show_values`` adds values (a
    mean/min/max summary above 12 elements), ``show_grads`` the ``.grad`` of
    each leaf and of each tensor that called ``retain_grad()`` (norm and range
    when large), ``show_order`` the step at which ``backward()`` runs each
    op. ``color_by_grad`` fills every tensor that requires grad by the size
    of d(output)/d(tensor) per element (its RMS, on a log scale from blue,
    vanishing, through green to orange, exploding) and prints that size; it
    computes the gradients itself (``engine.grad``), so it needs a scalar
    output whose graph is not freed and leaves every ``.grad`` alone.
    Ops recorded inside ``name_scope`` blocks (every ``nn.Module``
    call) are grouped into nested clusters unless ``cluster_modules=False``;
    a parameter sits in the cluster of its users.

    ``backward()`` frees the graph, so drawing afterwards (e.g. with
    ``show_grads``) needs ``backward(retain_graph=True)``; otherwise this
    raises ``GraphError``. After ``backward(create_graph=True)``,
    ``to_dot(x.grad)`` shows the graph that computed the gradient.

    The result's ``.source`` is the DOT text (no ``dot`` program needed);
    Jupyter displays the object itself as SVG, or, when ``dot`` is not
    installed, as text that says how to install it followed by the DOT source.

    >>> from tinygrad_edu import Tensor
    >>> a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    >>> b = Tensor([3.0, 4.0], name="b")
    >>> for line in to_dot(a * b).source.splitlines()[4:-1]:  # nodes, edges
    ...     print(line.strip())
    t0 [label="a\n(2,) float64" fillcolor="#cfe2f3" shape=ellipse style=filled]
    t1 [label="b\n(2,) float64" fillcolor="#eeeeee" shape=ellipse style=filled]
    op0 [label=mul fillcolor="#fff2cc" shape=box style="filled,rounded"]
    t2 [label="(2,) float64" fillcolor="#d9ead3" shape=ellipse style=filled]
    t0 -> op0
    t1 -> op0
    op0 -> t2
    """

    outputs = _as_outputs(output)
    if rankdir not in _RANKDIRS:
        raise DomainError(
            f"to_dot: rankdir={rankdir!r}; use one of {', '.join(_RANKDIRS)} "
            f"(LR: left to right)."
        )
    walk = _Graph(outputs)
    output_ids = {id(t) for t in outputs}
    order: dict[int, int] = {}
    if show_order:
        order = {
            id(computed._node): step
            for step, computed in enumerate(_backward_order(outputs, "show_order"), 1)
        }
    magnitudes = _gradient_sizes(outputs, walk) if color_by_grad else None

    graph = _digraph_class()(
        name="computation_graph",
        graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11"},
        node_attr={"fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"arrowsize": "0.7"},
    )
    heading = [] if title is None else [title]
    if color_by_grad:
        heading.append(_GRAD_LEGEND)
    if heading:
        graph.attr(label=_label(heading), labelloc="t", fontsize="14")

    root = _Cluster("")
    for node, tensor in walk.items:
        if node is not None:
            lines = _op_lines(node)
            if id(node) in order:
                lines.append(f"backward step {order[id(node)]}")
            scope = node.scope if cluster_modules else ()
            root.at(scope).nodes.append(
                (
                    walk.op_ids[id(node)],
                    {
                        "label": _label(lines),
                        "shape": "box",
                        "style": "filled,rounded",
                        "fillcolor": _OP,
                    },
                )
            )
        attrs = _tensor_attrs(
            tensor,
            id(tensor) in output_ids,
            show_values,
            show_grads,
            None if magnitudes is None else magnitudes.get(id(tensor)),
        )
        scope = _tensor_scope(tensor, walk) if cluster_modules else ()
        root.at(scope).nodes.append((walk.tensor_ids[id(tensor)], attrs))

    root.emit(graph)
    for node, tensor in walk.items:
        if node is None:
            continue
        op_id = walk.op_ids[id(node)]
        for x in node.inputs:
            graph.edge(walk.tensor_ids[id(x)], op_id)
        graph.edge(op_id, walk.tensor_ids[id(tensor)])
    return graph


def _one_computed_output(outputs: list[Tensor], option: str) -> list[Tensor]:
    """``outputs`` if it is one computed tensor, the one backward() would start at."""
    if len(outputs) != 1 or outputs[0]._node is None:
        raise DomainError(
            f"to_dot: {option}=True needs one computed output, the tensor you call "
            f"backward() on; got {len(outputs)} output(s)"
            f"{'' if len(outputs) != 1 else ' that is a leaf'}."
        )
    return outputs


def _backward_order(outputs: list[Tensor], option: str) -> list[Tensor]:
    """The computed tensors in the order backward() runs their ops (the engine's)."""
    root = _one_computed_output(outputs, option)[0]
    return engine.topological_order(root)[::-1]


def _gradient_sizes(outputs: list[Tensor], walk: _Graph) -> dict[int, float]:
    """RMS of d(output)/d(tensor) for every tensor of the graph that requires grad."""
    (output,) = _one_computed_output(outputs, "color_by_grad")
    if output.size != 1:
        raise DomainError(
            f"to_dot: color_by_grad=True needs a scalar output such as a loss; this "
            f"one has shape {output.shape}. Draw loss = output.sum() (or your loss)."
        )
    tensors = [tensor for _, tensor in walk.items if tensor.requires_grad]
    grads = engine.grad(output, tensors, retain_graph=True)
    with np.errstate(all="ignore"):  # NaN/inf gradients are drawn, not warned about
        return {
            id(tensor): float(np.sqrt(np.mean(np.square(g.data, dtype=np.float64))))
            for tensor, g in zip(tensors, grads)
            if g is not None
        }


#: (log10 of the gradient's RMS, fill colour): vanishing is blue, healthy green,
#: exploding orange. Between anchors the colour is interpolated.
_GRAD_SCALE = (
    (-8.0, (0x3C, 0x78, 0xD8)),
    (-6.0, (0x6F, 0xA8, 0xDC)),
    (-4.0, (0xC9, 0xDA, 0xF8)),
    (-2.0, (0xB6, 0xD7, 0xA8)),
    (0.0, (0xFF, 0xE5, 0x99)),
    (2.0, (0xE6, 0x91, 0x38)),
)
_GRAD_LEGEND = (
    "fill: size of the gradient per element (RMS); blue ≤ 1e-8 vanishing, "
    "green ~1e-2, orange ≥ 1e2 exploding"
)


def _size_color(rms: float) -> str:
    level = np.log10(rms) if rms > 0 else _GRAD_SCALE[0][0]
    level = min(max(level, _GRAD_SCALE[0][0]), _GRAD_SCALE[-1][0])
    for (lo, low_rgb), (hi, high_rgb) in itertools.pairwise(_GRAD_SCALE):
        if level <= hi:
            w = (level - lo) / (hi - lo)
            rgb = (round(a + w * (b - a)) for a, b in zip(low_rgb, high_rgb))
            return "#" + "".join(f"{c:02x}" for c in rgb)
    raise AssertionError("unreachable: level is clipped to the scale")


def _tensor_attrs(
    tensor: Tensor,
    is_output: bool,
    show_values: bool,
    show_grads: bool,
    grad_size: float | None = None,
) -> dict[str, Any]:
    """Label and colours of a tensor; ``grad_size`` (color_by_grad) sets the fill."""
    lines = [tensor.name] if tensor.name else []
    lines.append(_shape_text(tensor))
    is_constant = tensor._node is None and not tensor.requires_grad
    if show_values or (is_constant and not tensor.name and tensor.size == 1):
        lines += _values_lines(tensor.data)  # a bare constant shows its value
    bad = _non_finite(tensor.data)
    if bad:
        lines.append(f"holds {bad}")
    # backward() keeps the gradients of leaves and of tensors that asked for
    # it with retain_grad(); the others have none to show, ever.
    keeps_grad = tensor._node is None or tensor._retains_grad
    if show_grads and tensor.requires_grad and keeps_grad:
        lines += _grad_lines(tensor)
        if not bad and tensor.grad is not None:
            bad = _non_finite(tensor.grad.data)
            if bad:
                lines.append(f"grad holds {bad}")
    if grad_size is not None:
        lines.append(f"grad rms {grad_size:.2g}")
        if not np.isfinite(grad_size):
            bad = bad or ("NaN" if np.isnan(grad_size) else "inf")
            grad_size = None

    if grad_size is not None:
        fill = _size_color(grad_size)
    elif is_output:
        fill = _OUTPUT
    elif tensor._node is not None:
        fill = _INTERMEDIATE
    elif tensor.requires_grad:
        fill = _PARAMETER
    else:
        fill = _CONSTANT
    attrs = {"label": _label(lines), "shape": "ellipse", "style": "filled"}
    if bad:
        attrs.update(fillcolor=_BAD_FILL, color=_BAD_LINE, penwidth="2")
    else:
        attrs["fillcolor"] = fill
        if grad_size is not None and grad_size < 1e-6:
            attrs["fontcolor"] = "white"  # readable on the dark blues
    return attrs


def _tensor_scope(tensor: Tensor, walk: _Graph) -> tuple[str, ...]:
    """A computed tensor sits with its op; a parameter with all of its users."""
    if tensor._node is not None:
        return tensor._node.scope
    if not tensor.requires_grad:
        return ()  # inputs and constants stay outside the modules
    scopes = [node.scope for node in walk.consumers.get(id(tensor), [])]
    if not scopes:
        return ()
    common = scopes[0]
    for scope in scopes[1:]:
        n = 0
        while n < min(len(common), len(scope)) and common[n] is scope[n]:
            n += 1
        common = common[:n]
    return common


class _Cluster:
    """One name_scope level: its own nodes and its nested scopes, in walk order."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.nodes: list[tuple[str, dict[str, Any]]] = []
        # Keyed by the Scope object, not its text: two modules with the same
        # label are two clusters (everything stays alive while we draw).
        self.children: dict[int, _Cluster] = {}

    def at(self, scope: tuple[str, ...]) -> _Cluster:
        cluster = self
        for label in scope:
            if id(label) not in cluster.children:
                cluster.children[id(label)] = _Cluster(label)
            cluster = cluster.children[id(label)]
        return cluster

    def emit(self, graph: Any, counter: list[int] | None = None) -> None:
        counter = [0] if counter is None else counter
        for name, attrs in self.nodes:
            graph.node(name, **attrs)
        for child in self.children.values():
            # Graphviz draws a box around a subgraph only if its name starts
            # with "cluster"; numbered in walk order, like the nodes.
            name = f"cluster_{counter[0]}"
            counter[0] += 1
            with graph.subgraph(name=name) as sub:
                sub.attr(
                    label=_label([child.label]),
                    style="rounded,dashed",
                    color="#888888",
                    fontsize="10",
                    labeljust="l",
                )
                child.emit(sub, counter)


# -------------------------------------------------------------------- draw


def draw(
    output: Tensor | Sequence[Tensor],
    path: str | os.PathLike[str],
    format: str | None = None,
    **to_dot_kwargs: Any,
) -> Path:
    """Render the graph of ``output`` to ``path`` and return the path.

    The format comes from the extension (``.svg``, ``.png``, ``.pdf``; or
    ``.dot``/``.gv`` for the DOT text) unless ``format`` is given; keyword
    arguments go to ``to_dot``. Rendering runs the ``dot`` program through
    a pipe and the file is replaced atomically, so a failure never leaves a
    half-written picture or a stray ``.gv`` file behind.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        given = f"format={format!r}" if format else f"the extension of {str(path)!r}"
        raise DomainError(
            f"draw: cannot tell what to write from {given}; supported formats: "
            f"{', '.join(FORMATS)} (e.g. draw(loss, 'graph.svg'))."
        )
    graph = to_dot(output, **to_dot_kwargs)
    if fmt in _RENDERED:
        data = _render(graph, fmt)
    else:
        data = graph.source.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as file:
        file.write(data)
    return path


def _render(graph: graphviz.Digraph, fmt: str) -> bytes:
    import graphviz

    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(
            f"draw: the Graphviz program 'dot' was not found on PATH, so the graph "
            f"cannot be rendered. {_INSTALL_GRAPHVIZ} Without it, "
            f"to_dot(...).source still gives the DOT text, and "
            f"draw(..., 'graph.dot') writes it."
        ) from None


# ------------------------------------------------- the book's TwoLayerNet


def two_layer_net_loss(
    batch_size: int = 100,
    hidden_size: int = 50,
    *,
    input_size: int = 784,
    output_size: int = 10,
    seed: int = 0,
) -> Tensor:
    """The loss of the book's TwoLayerNet on a seeded random batch, recorded.

    ``x @ W1 + b1 → sigmoid → @ W2 + b2 → softmax_cross_entropy(t)`` with
    named tensors (x, t, W1, b1, W2, b2, loss) and name scopes for the two
    affine layers, so a drawing reads like the book's figure. The data is
    random (MNIST-shaped), because a picture of the graph needs only shapes.

    This is the graph of ``models.TwoLayerNet.loss_graph``, which the training
    command draws; it is recorded here because ``models/`` is not installed
    with the package (and the library never imports it). tests/test_viz.py
    checks that the two give the same DOT text.
    """
    rng = np.random.default_rng(seed)
    x = Tensor(rng.random((batch_size, input_size)), name="x")
    t = Tensor(rng.integers(0, output_size, batch_size), name="t")
    w1, w2 = (  # the book's weight_init_std = 0.01; biases start at zero
        Tensor(0.01 * rng.standard_normal(shape), requires_grad=True, name=name)
        for name, shape in (
            ("W1", (input_size, hidden_size)),
            ("W2", (hidden_size, output_size)),
        )
    )
    b1 = Tensor(np.zeros(hidden_size), requires_grad=True, name="b1")
    b2 = Tensor(np.zeros(output_size), requires_grad=True, name="b2")
    with name_scope("TwoLayerNet"):
        with name_scope(f"Affine({input_size}→{hidden_size})"):
            a1 = x @ w1 + b1
        z1 = a1.sigmoid()
        with name_scope(f"Affine({hidden_size}→{output_size})"):
            scores = z1 @ w2 + b2
    loss = scores.softmax_cross_entropy(t)
    loss.name = "loss"
    return loss


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tinygrad_edu.viz OUT`` draws the TwoLayerNet loss graph.

    The same picture as ``docs/img/two_layer_net_loss.svg`` (drawn from
    ``models.TwoLayerNet`` by ``python docs/make_figures.py graphs.md``), for
    users who have the package but not the repository's ``models/``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_edu.viz",
        description="Draw the computation graph of the book's TwoLayerNet loss.",
    )
    parser.add_argument("out", type=Path, help="output file: .svg, .png, .pdf or .dot")
    parser.add_argument("--batch", type=int, default=100, help="batch size (100)")
    parser.add_argument("--hidden", type=int, default=50, help="hidden units (50)")
    parser.add_argument(
        "--show-values", action="store_true", help="print values or summaries"
    )
    parser.add_argument(
        "--show-grads",
        action="store_true",
        help="run backward() first and print each gradient's norm and range",
    )
    parser.add_argument("--format", choices=FORMATS, help="override the extension")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.hidden < 1:
        parser.error("--batch and --hidden must be positive")

    loss = two_layer_net_loss(args.batch, args.hidden)
    if args.show_grads:
        loss.backward(retain_graph=True)  # keep the graph to draw it
    title = f"TwoLayerNet loss (batch {args.batch}, hidden {args.hidden})"
    try:
        written = draw(
            loss,
            args.out,
            format=args.format,
            show_values=args.show_values,
            show_grads=args.show_grads,
            title=title,
        )
    except (GraphvizNotFoundError, DomainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
