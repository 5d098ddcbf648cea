"""Pictures of the recorded graph: ``to_dot`` builds Graphviz DOT, ``draw`` renders it.

Seeing the graph is half of understanding backprop: which ops ran, on which
tensors, with which shapes, and (after ``backward()``) which gradients arrived.

* ``to_dot(loss)`` returns a ``graphviz.Digraph``. It needs only the
  ``graphviz`` Python package, not the ``dot`` program: ``.source`` is the
  DOT text, and in Jupyter the object displays itself as SVG (without
  ``dot``, as text: how to install Graphviz, then the DOT source).
* ``draw(loss, "graph.svg")`` renders with the ``dot`` program to SVG, PNG
  or PDF (chosen by the extension) and writes the file atomically.
* ``python -m tinygrad_edu.viz MODULE:FUNCTION OUT.svg`` draws the Tensor that
  a function of yours returns (``--help`` lists the views).

Large graphs stay drawable: a tensor used by more than ``MAX_USES`` ops is
drawn beside each of them, a graph of more than ``MAX_NODES`` nodes is drawn
with one node per name scope (or refused, with the options), and ``dot`` runs
with a timeout.

Node names are numbered in a fixed walk order (``t0``, ``t1``, ... for
tensors, ``op0``, ... for ops), never ``id()``, so the same graph always gives
the same DOT text: golden files and diffs work. The graph is walked from the
outputs through ``node.inputs`` in argument order, leaves first.

``graphviz`` is imported inside the functions that need it, so
``import tinygrad_edu`` still needs only NumPy.
"""

from __future__ import annotations

import argparse
import collections
import functools
import html
import importlib
import inspect
import itertools
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_edu import engine
from tinygrad_edu._files import atomic_write, unwritable
from tinygrad_edu.anomaly import non_finite
from tinygrad_edu.diagnostics import statistics
from tinygrad_edu.errors import (
    DomainError,
    DTypeError,
    TinygradEduError,
)
from tinygrad_edu.function import Function, freed_graph_error
from tinygrad_edu.tensor import Tensor

if TYPE_CHECKING:
    import graphviz

__all__ = [
    "FORMATS",
    "MAX_NODES",
    "MAX_USES",
    "TIMEOUT",
    "GraphTooLargeError",
    "GraphvizError",
    "GraphvizNotFoundError",
    "draw",
    "main",
    "to_dot",
]

#: What ``draw`` writes, by file extension. ``dot``/``gv`` write the DOT text
#: itself and are the only ones that work without the ``dot`` program.
FORMATS = ("svg", "png", "pdf", "dot", "gv")
_RENDERED = ("svg", "png", "pdf")

#: Tensors with at most this many elements show their values; larger ones a summary.
SMALL = 12

#: A tensor used by more ops than this is drawn again beside each of them
#: (``to_dot(max_uses=...)``): one node with an edge into every step of a long
#: chain makes the layout of ``dot`` take minutes, where copies take a second.
MAX_USES = 5

#: The node budget (``to_dot(max_nodes=...)``): a graph with more DOT nodes is
#: drawn with one node per name scope, or refused if that is still too many.
#: ``dot`` takes a few seconds for a chain this size and four times as long
#: for one twice the size (docs/performance.md).
MAX_NODES = 5000

#: Seconds ``draw`` lets the ``dot`` program run (``draw(timeout=...)``).
TIMEOUT = 60.0

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
_DOT_TEXT_REMAINS = (
    "The DOT text is still there: to_dot(...).source, or draw(..., 'graph.dot') "
    "writes it."
)


class GraphvizError(TinygradEduError, RuntimeError):
    """The ``dot`` program of Graphviz is missing, ran past its timeout or failed."""


class GraphvizNotFoundError(GraphvizError):
    """The ``dot`` program of Graphviz is not installed (or not on ``PATH``)."""


class GraphTooLargeError(TinygradEduError, ValueError):
    """A graph with more nodes than ``max_nodes``, even collapsed by name scope."""


#: What a notebook may ask a graph for, and the ``dot`` format that makes it.
_MIME_FORMATS = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpeg"}


@functools.cache
def _digraph_class() -> type[graphviz.Digraph]:
    """``graphviz.Digraph`` whose notebook display has a timeout and needs no ``dot``.

    Defined on first use, so that importing this module does not import
    graphviz. Jupyter calls ``_repr_mimebundle_`` to show the object;
    graphviz's own runs ``dot`` without a timeout (a large graph hangs the
    notebook) and raises ``ExecutableNotFound`` without ``dot`` (a traceback
    with no hint). This one renders as ``draw`` does, and when ``dot`` is
    missing or fails the graph shows as text instead: what happened, then the
    DOT source, which is still the whole graph.
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
            wanted = set(include) if include is not None else {self._jupyter_mimetype}
            wanted -= set(exclude or ())
            try:
                bundle = {}
                for mimetype, fmt in _MIME_FORMATS.items():
                    if mimetype in wanted:
                        data = _render(self, fmt, TIMEOUT)
                        svg = fmt == "svg"  # text, as graphviz gives it
                        bundle[mimetype] = data.decode("utf-8") if svg else data
                return bundle
            except GraphvizNotFoundError:
                note = (
                    f"(Graphviz's 'dot' program was not found on PATH, so this "
                    f"graph is shown as DOT text, not as a picture. "
                    f"{_INSTALL_GRAPHVIZ})"
                )
            except GraphvizError as error:
                note = f"({error} Here it is as DOT text.)"
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
                    raise freed_graph_error(node)
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


def _check_count(name: str, value: Any, least: int, none_means: str) -> None:
    if value is None:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        kind = type(value).__name__
    elif value < least:
        kind = "too small"
    else:
        return
    raise DomainError(
        f"to_dot: {name}={value!r} ({kind}); use an integer ≥ {least}, or None "
        f"for {none_means}."
    )


#: A DOT node to draw: its name, the name scope it sits in, and what it shows.
_Node = tuple[str, tuple[str, ...], "Function | Tensor | _Box"]


class _Layout:
    """The DOT nodes and edges that draw a walk.

    With a ``depth``, every name scope nested that deep (0: the outermost) is
    one box holding its ops and the tensors made or kept inside it, except
    the outputs, which are always drawn. A tensor
    drawn outside the boxes and used by more than ``max_uses`` ops or boxes is
    drawn once per user, beside it (a leaf only there; a computed tensor also
    where it was made): one node with an edge into every step of a long chain
    stretches across the whole layout, and ``dot`` then takes minutes.
    """

    def __init__(self, walk: _Graph, max_uses: int | None, depth: int | None) -> None:
        self.depth = depth
        self.nodes: list[_Node] = []
        self.edges: list[tuple[str, str]] = []
        #: How many ops use each tensor drawn once per user (dashed), by id().
        self.uses: dict[int, int] = {}
        self._boxes: dict[tuple[int, ...], _Box] = {}
        self._box_names: set[str] = set()
        self._box_edges: set[tuple[str, str]] = set()
        homes = {id(t): _tensor_scope(t, walk) for _, t in walk.items}
        # A number is a value, not a thing: the engine shares one constant per
        # number (the 0.5 of every y * 0.5), drawn plainly beside each user.
        numbers = {
            id(t)
            for node, t in walk.items
            if node is None
            and _is_number(t)
            and len(set(map(self._user, walk.consumers.get(id(t), ())))) > 1
        }
        if max_uses is not None:
            for key, users in walk.consumers.items():
                if len(users) > max_uses and not self._boxed(homes[key]):
                    if key in numbers:
                        continue
                    if len({self._user(node) for node in users}) > max_uses:
                        self.uses[key] = len({id(node) for node in users})
        per_user = numbers | set(self.uses)
        outputs = {id(t) for t in walk.outputs}
        drawn: dict[int, str] = {}  # id(tensor) -> the node that draws it
        copies: dict[tuple[int, Any], str] = {}
        made: collections.Counter[int] = collections.Counter()
        for node, tensor in walk.items:
            sources = []
            if node is not None:
                user = self._user(node)
                for x in node.inputs:
                    if id(x) not in per_user:
                        sources.append(drawn[id(x)])
                        continue
                    if (id(x), user) not in copies:
                        made[id(x)] += 1
                        copy = f"{walk.tensor_ids[id(x)]}_{made[id(x)]}"
                        self.nodes.append((copy, self._outside(node.scope), x))
                        copies[id(x), user] = copy
                    sources.append(copies[id(x), user])
                op = self._place(walk.op_ids[id(node)], node.scope, node)
            home = homes[id(tensor)]
            if id(tensor) in outputs:
                home = self._outside(home)  # what was asked for is always drawn
            elif node is None and id(tensor) in per_user:
                continue  # a leaf drawn only beside its users
            drawn[id(tensor)] = self._place(walk.tensor_ids[id(tensor)], home, tensor)
            if node is not None:
                for source in sources:
                    self._connect(source, op)
                self._connect(op, drawn[id(tensor)])

    def _boxed(self, scope: tuple[str, ...]) -> bool:
        return self.depth is not None and len(scope) > self.depth

    def _user(self, node: Function) -> Any:
        """What draws an op: the op itself, or the box of its scope."""
        if self._boxed(node.scope):
            return _scope_key(node.scope, self.depth)
        return id(node)

    def _outside(self, scope: tuple[str, ...]) -> tuple[str, ...]:
        """Where a node beside an op of this scope sits: outside its box, if any."""
        return scope[: self.depth] if self._boxed(scope) else scope

    def _place(self, name: str, scope: tuple[str, ...], item: Function | Tensor) -> str:
        """Draw a node, or fold it into the box of its scope; the name drawn."""
        if not self._boxed(scope):
            self.nodes.append((name, scope, item))
            return name
        key = _scope_key(scope, self.depth)
        if key not in self._boxes:
            box = _Box(f"s{len(self._boxes)}", scope[self.depth])
            self._boxes[key] = box
            self._box_names.add(box.name)
            self.nodes.append((box.name, scope[: self.depth], box))
        self._boxes[key].add(item)
        return self._boxes[key].name

    def _connect(self, tail: str, head: str) -> None:
        # An edge inside a box is not drawn, and a box's edges to one node are
        # drawn once; between ops and tensors, each use is an edge of its own.
        if tail == head:
            return
        if tail in self._box_names or head in self._box_names:
            if (tail, head) in self._box_edges:
                return
            self._box_edges.add((tail, head))
        self.edges.append((tail, head))


def _scope_key(scope: tuple[str, ...], depth: int) -> tuple[int, ...]:
    # By identity: two modules with the same label are two scopes.
    return tuple(map(id, scope[: depth + 1]))


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


class _Box:
    """The ops and tensors of one name scope, drawn as one node (collapsed)."""

    def __init__(self, name: str, label: str) -> None:
        self.name = name
        self.label = label
        self.ops: collections.Counter[str] = collections.Counter()
        self.tensors: list[Tensor] = []

    def add(self, item: Function | Tensor) -> None:
        if isinstance(item, Tensor):
            self.tensors.append(item)
        else:
            self.ops[item.op_name] += 1

    def attrs(self) -> dict[str, Any]:
        n = sum(self.ops.values())
        kinds = [f"{op} ×{k}" if k > 1 else op for op, k in self.ops.most_common(3)]
        if len(self.ops) > 3:
            kinds.append("...")
        lines = [self.label, f"{n} op{'s' if n > 1 else ''}: {', '.join(kinds)}"]
        attrs = {"shape": "box3d", "style": "filled", "fillcolor": _OP}
        bad = next(filter(None, (_non_finite(t.data) for t in self.tensors)), None)
        if bad:
            lines.append(f"holds {bad}")
            attrs.update(fillcolor=_BAD_FILL, color=_BAD_LINE, penwidth="2")
        return {"label": _label(lines), **attrs}


def _fitting_layout(
    walk: _Graph, max_uses: int | None, collapse: int | None, max_nodes: int | None
) -> _Layout:
    """The layout at the ``collapse`` depth, or, without one, as deep as fits.

    A graph over the budget is collapsed as little as fits; if even one node
    per outermost name scope is too many, it is refused.
    """
    deepest = max((len(node.scope) for node, _ in walk.items if node), default=0)
    if collapse is not None and collapse >= deepest:
        collapse = None  # nothing nests that deep: nothing to collapse
    layout = _Layout(walk, max_uses, collapse)
    if max_nodes is None or len(layout.nodes) <= max_nodes:
        return layout
    if collapse is not None:
        raise _too_large(walk, _Layout(walk, max_uses, None), layout, max_nodes)
    smallest = layout
    for depth in reversed(range(deepest)):
        smallest = _Layout(walk, max_uses, depth)
        if len(smallest.nodes) <= max_nodes:
            return smallest
    raise _too_large(walk, layout, smallest, max_nodes)


def _too_large(
    walk: _Graph, whole: _Layout, smallest: _Layout, max_nodes: int
) -> GraphTooLargeError:
    size = (
        f"{len(whole.nodes):,} nodes to draw ({len(walk.op_ids):,} ops, "
        f"{len(walk.tensor_ids):,} tensors)"
    )
    if smallest.depth is None:
        tried = "It records no name scopes, so it cannot be collapsed."
    else:
        tried = (
            f"Collapsed with collapse={smallest.depth} (one node per name scope "
            f"{smallest.depth} levels deep) it still has {len(smallest.nodes):,}."
        )
    return GraphTooLargeError(
        f"to_dot: the graph has {size}, more than the budget max_nodes={max_nodes:,}: "
        f"Graphviz's layout takes about four times as long for twice the nodes, "
        f"so it could run for minutes. {tried} "
        f"Options: record the repeated part inside name_scope blocks (every "
        f"nn.Module call opens one), which collapse to one node each; draw a part "
        f"of the graph (to_dot of an intermediate tensor); or raise the budget, "
        f"e.g. max_nodes={len(whole.nodes)} (draw(..., timeout=...) waits longer "
        f"for dot)."
    )


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


def _values_lines(array: np.ndarray) -> list[str]:
    if array.size <= SMALL:
        return _array_lines(array)
    s = statistics(array)
    return [f"mean {s['mean']:.4g}, min {s['min']:.4g}, max {s['max']:.4g}"]


def _grad_lines(tensor: Tensor) -> list[str]:
    grad = tensor.grad
    if grad is None:
        return ["grad: none yet (call backward())"]
    if grad.data.size <= SMALL:
        lines = _array_lines(grad.data)
        return [f"grad: {lines[0]}", *lines[1:]]
    s = statistics(grad.data)
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
    max_uses: int | None = MAX_USES,
    max_nodes: int | None = MAX_NODES,
    collapse: int | None = None,
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
    vanishing, through green to orange, exploding), prints that size, and
    draws a legend of the colours; the output itself, where backward starts
    with gradient 1, is white with a double outline. It computes the
    gradients itself (``engine.grad``), so it needs a scalar output whose
    graph is not freed and leaves every ``.grad`` alone.
    Ops recorded inside ``name_scope`` blocks (every ``nn.Module``
    call) are grouped into nested clusters unless ``cluster_modules=False``;
    a parameter sits in the cluster of its users.

    Large graphs: a tensor used by more than ``max_uses`` ops (a weight
    shared by every step of a loop, or a Python number such as the 0.5 in
    ``y * 0.5``, which is one shared constant) is drawn again beside each op
    that uses it, with a dashed outline and "used by N ops" on every copy;
    ``max_uses=None`` draws each tensor once, which ``dot`` can take minutes to
    lay out. A graph of more than ``max_nodes`` nodes is drawn with name
    scopes collapsed into one node each, as few as needed to fit (the title
    says so), and raises ``GraphTooLargeError``, naming its size and the
    options, if even that is too many; ``collapse=d`` collapses every scope
    nested ``d`` levels deep (0: the outermost), ``max_nodes=None`` draws all.

    ``backward()`` frees the graph, so drawing afterwards (e.g. with
    ``show_grads``) needs ``backward(retain_graph=True)``; otherwise this
    raises ``GraphError``. After ``backward(create_graph=True)``,
    ``to_dot(x.grad)`` shows the graph that computed the gradient.

    The result's ``.source`` is the DOT text (no ``dot`` program needed);
    Jupyter displays the object itself as SVG, or, when ``dot`` is not
    installed or fails, as text that says why followed by the DOT source.

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
    _check_count("max_uses", max_uses, 1, "each tensor drawn once")
    _check_count("max_nodes", max_nodes, 1, "no budget")
    _check_count("collapse", collapse, 0, "as much as the budget needs")
    walk = _Graph(outputs)
    layout = _fitting_layout(walk, max_uses, collapse, max_nodes)
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
    if layout.uses:
        heading.append(
            f"dashed outline: a tensor used by more than {max_uses} ops, drawn "
            f"beside each of them"
        )
    if layout.depth is not None:
        heading.append(_collapsed_note(walk, layout.depth, collapse, max_nodes))
    if heading or color_by_grad:
        label = _grad_legend(heading) if color_by_grad else _label(heading)
        graph.attr(label=label, labelloc="t", fontsize="14")

    root = _Cluster("")
    looks: dict[int, dict[str, Any]] = {}  # a tensor looks the same on every copy
    for name, scope, item in layout.nodes:
        if isinstance(item, Tensor):
            if id(item) not in looks:
                looks[id(item)] = _tensor_attrs(
                    item,
                    id(item) in output_ids,
                    show_values,
                    show_grads,
                    None if magnitudes is None else magnitudes.get(id(item)),
                    layout.uses.get(id(item)),
                )
            attrs = looks[id(item)]
        elif isinstance(item, _Box):
            attrs = item.attrs()
        else:
            attrs = _op_attrs(item, order.get(id(item)))
        root.at(scope if cluster_modules else ()).nodes.append((name, attrs))
    root.emit(graph)
    for tail, head in layout.edges:
        graph.edge(tail, head)
    return graph


def _collapsed_note(
    walk: _Graph, depth: int, collapse: int | None, max_nodes: int | None
) -> str:
    size = f"{len(walk.op_ids):,} ops"
    why = (
        f"(collapse={depth}; the whole graph has {size})"
        if collapse is not None
        else f"because the whole graph ({size}) has more than max_nodes={max_nodes:,} "
        f"nodes; collapse={depth + 1} or a larger max_nodes draws more"
    )
    return f"3-D box: the ops of a name scope, collapsed into one node {why}"


def _op_attrs(node: Function, step: int | None) -> dict[str, Any]:
    lines = _op_lines(node)
    if step is not None:
        lines.append(f"backward step {step}")
    return {
        "label": _label(lines),
        "shape": "box",
        "style": "filled,rounded",
        "fillcolor": _OP,
    }


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
    with np.errstate(all="ignore"):  # NaN/inf gradients are drawn, not warned about
        grads = engine.grad(output, tensors, retain_graph=True)
        return {  # (an empty tensor has no gradient size: it keeps its colour)
            id(tensor): float(np.sqrt(np.mean(np.square(g.data, dtype=np.float64))))
            for tensor, g in zip(tensors, grads)
            if g is not None and g.size
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
#: Below this RMS the fill is dark enough to need white text.
_DARK = 1e-6
#: What backward starts from, d(output)/d(output) = 1: not a sign of anything.
_SEED_FILL = "#ffffff"


def _size_color(rms: float) -> str:
    level = np.log10(rms) if rms > 0 else _GRAD_SCALE[0][0]
    level = min(max(level, _GRAD_SCALE[0][0]), _GRAD_SCALE[-1][0])
    for (lo, low_rgb), (hi, high_rgb) in itertools.pairwise(_GRAD_SCALE):
        if level <= hi:
            w = (level - lo) / (hi - lo)
            rgb = (round(a + w * (b - a)) for a, b in zip(low_rgb, high_rgb))
            return "#" + "".join(f"{c:02x}" for c in rgb)
    raise AssertionError("unreachable: level is clipped to the scale")


def _grad_legend(heading: list[str]) -> str:
    """The heading over a row of swatches that says what each fill colour means.

    The text is wrapped to about the swatches' width: Graphviz gives a table's
    spare width to its first column, and a wider line would stretch one swatch.
    """
    swatches = []
    for level, _ in _GRAD_SCALE:
        text = "1" if level == 0 else f"1e{level:+.0f}".replace("+", "")
        if level == _GRAD_SCALE[0][0]:
            text = f"≤ {text}<BR/>vanishing"
        elif level == _GRAD_SCALE[-1][0]:
            text = f"≥ {text}<BR/>exploding"
        if 10**level < _DARK:
            text = f'<FONT COLOR="white">{text}</FONT>'
        swatches.append((_size_color(10**level), text))
    swatches += [
        (_SEED_FILL, "the output:<BR/>seed, grad 1"),
        (_CONSTANT, "no gradient<BR/>(inputs)"),
        (_BAD_FILL, "NaN or inf"),
    ]
    lines = [
        *heading,
        "fill: the size of d(output)/d(tensor) per element (its RMS, log scale)",
    ]
    text = "<BR/>".join(
        html.escape(part) for line in lines for part in textwrap.wrap(line, 70)
    )
    cells = "".join(f'<TD BGCOLOR="{fill}">{text}</TD>' for fill, text in swatches)
    return (
        f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="4">'
        f'<TR><TD COLSPAN="{len(swatches)}" BORDER="0">{text}</TD></TR>'
        f"<TR>{cells}</TR></TABLE>>"
    )


def _is_number(tensor: Tensor) -> bool:
    """A bare one-element constant (a Python number in ``y * 0.5``): drawn
    with its value, beside each op that uses it."""
    return (
        tensor._node is None
        and not tensor.requires_grad
        and not tensor.name
        and tensor.size == 1
    )


def _tensor_attrs(
    tensor: Tensor,
    is_output: bool,
    show_values: bool,
    show_grads: bool,
    grad_size: float | None = None,
    uses: int | None = None,
) -> dict[str, Any]:
    """Label and colours of a tensor.

    ``grad_size`` (color_by_grad) sets the fill; ``uses`` marks a tensor that
    is drawn once per op that uses it.
    """
    lines = [tensor.name] if tensor.name else []
    lines.append(_shape_text(tensor))
    if uses is not None:
        lines.append(f"used by {uses} ops")
    if show_values or _is_number(tensor):
        lines += _values_lines(tensor.data)
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
    is_seed = is_output and grad_size is not None
    if is_seed:
        lines.append("seed, grad 1")
    elif grad_size is not None:
        lines.append(f"grad rms {grad_size:.2g}")
        if not np.isfinite(grad_size):
            bad = bad or ("NaN" if np.isnan(grad_size) else "inf")
            grad_size = None

    if is_seed:
        fill = _SEED_FILL
    elif grad_size is not None:
        fill = _size_color(grad_size)
    elif is_output:
        fill = _OUTPUT
    elif tensor._node is not None:
        fill = _INTERMEDIATE
    elif tensor.requires_grad:
        fill = _PARAMETER
    else:
        fill = _CONSTANT
    style = "filled" if uses is None else "filled,dashed"
    attrs = {"label": _label(lines), "shape": "ellipse", "style": style}
    if bad:
        attrs.update(fillcolor=_BAD_FILL, color=_BAD_LINE, penwidth="2")
    else:
        attrs["fillcolor"] = fill
        if is_seed:
            attrs["peripheries"] = "2"
        elif grad_size is not None and grad_size < _DARK:
            attrs["fontcolor"] = "white"  # readable on the dark blues
    return attrs


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
    *,
    timeout: float | None = TIMEOUT,
    **to_dot_kwargs: Any,
) -> Path:
    """Render the graph of ``output`` to ``path`` and return the path.

    The format comes from the extension (``.svg``, ``.png``, ``.pdf``; or
    ``.dot``/``.gv`` for the DOT text) unless ``format`` is given; keyword
    arguments go to ``to_dot``. Rendering runs the ``dot`` program through
    a pipe and the file is replaced atomically, so a failure never leaves a
    half-written picture or a stray ``.gv`` file behind. ``dot`` is stopped
    after ``timeout`` seconds (None: no limit) with a ``GraphvizError`` that
    says what to try; so is a crash of ``dot``. A path that cannot be written
    (a folder, read-only, under a file) raises ``FileError`` naming it.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        given = f"format={format!r}" if format else f"the extension of {str(path)!r}"
        raise DomainError(
            f"draw: cannot tell what to write from {given}; supported formats: "
            f"{', '.join(FORMATS)} (e.g. draw(loss, 'graph.svg'))."
        )
    if timeout is not None and not (
        isinstance(timeout, (int, float))
        and not isinstance(timeout, bool)
        and timeout > 0
    ):
        raise DomainError(
            f"draw: timeout={timeout!r}; give the seconds dot may run as a positive "
            f"number (default {TIMEOUT:g}), or None for no limit."
        )
    graph = to_dot(output, **to_dot_kwargs)
    if fmt in _RENDERED:
        data = _render(graph, fmt, timeout)
    else:
        data = graph.source.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as file:
            file.write(data)
    except OSError as error:
        raise unwritable("draw", path, error) from error
    return path


def _render(graph: graphviz.Digraph, fmt: str, timeout: float | None) -> bytes:
    """The picture ``dot`` makes of the graph, or a GraphvizError saying why not."""
    try:
        done = subprocess.run(
            ["dot", f"-T{fmt}"],
            input=graph.source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise GraphvizNotFoundError(
            f"draw: the Graphviz program 'dot' was not found on PATH, so the graph "
            f"cannot be rendered. {_INSTALL_GRAPHVIZ} Without it, "
            f"to_dot(...).source still gives the DOT text, and "
            f"draw(..., 'graph.dot') writes it."
        ) from None
    except subprocess.TimeoutExpired:  # run() has killed dot and waited for it
        raise GraphvizError(
            f"Graphviz's 'dot' program was still laying out the graph after "
            f"{timeout:g} s and was stopped. Draw fewer nodes (collapse=0 draws one "
            f"node per outermost name scope; to_dot of an intermediate tensor "
            f"draws a part), or wait longer: draw(..., timeout=600). "
            f"{_DOT_TEXT_REMAINS}"
        ) from None
    if done.returncode == 0:
        return done.stdout
    said = done.stderr.decode("utf-8", "replace").strip()
    said = f" It said: {said}" if said else ""
    if done.returncode < 0:
        try:
            cause = signal.Signals(-done.returncode).name
        except ValueError:
            cause = f"signal {-done.returncode}"
        raise GraphvizError(
            f"Graphviz's 'dot' program crashed ({cause}) while laying out the "
            f"graph.{said} Some versions of Graphviz crash on large graphs: draw "
            f"fewer nodes (collapse=0; to_dot of an intermediate tensor), or try "
            f"another Graphviz. {_DOT_TEXT_REMAINS}"
        )
    raise GraphvizError(
        f"Graphviz's 'dot' program failed (exit code {done.returncode}) to render "
        f"format {fmt!r}.{said} {_DOT_TEXT_REMAINS}"
    )


# ------------------------------------------------------------ command line


def _load_function(spec: str) -> Callable[[], Any]:
    """The function that ``module:function`` names, imported."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise DomainError(
            f"viz: {spec!r} does not name a function; write MODULE:FUNCTION, e.g. "
            f"mynet:loss for the function loss in mynet.py."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not f"{module_name}.".startswith(f"{error.name}."):
            raise  # the module was found, and an import inside it failed
        raise DomainError(
            f"viz: cannot import {module_name!r} ({error}). Run the command from "
            f"the folder that holds it (python -m puts the current folder on the "
            f"path), or install it."
        ) from None
    function = getattr(module, name, None)
    if function is None:
        raise DomainError(f"viz: the module {module_name!r} has no function {name!r}.")
    if not callable(function):
        raise DomainError(
            f"viz: {module_name}.{name} is not a function but a "
            f"{type(function).__name__}; name a function that returns the Tensor."
        )
    return function


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tinygrad_edu.viz MODULE:FUNCTION OUT``: draw what it returns.

    The function takes no arguments and returns the Tensor to draw (or a list
    of them), e.g. a model's loss on a batch. From the repository root,
    ``models.two_layer_net:example_loss`` draws the book's TwoLayerNet loss.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_edu.viz",
        description=(
            "Draw the computation graph of the Tensor that a function returns. "
            "The function takes no arguments; return the loss without calling "
            "backward() on it."
        ),
        epilog=(
            "example, from the repository root: python -m tinygrad_edu.viz "
            "models.two_layer_net:example_loss graph.svg --rankdir TB"
        ),
    )
    parser.add_argument(
        "function",
        metavar="MODULE:FUNCTION",
        help="e.g. mynet:loss for the function loss() in mynet.py in this folder",
    )
    parser.add_argument(
        "out", type=Path, help="output file: .svg, .png, .pdf, or .dot for DOT text"
    )
    parser.add_argument("--format", choices=FORMATS, help="override the extension")
    parser.add_argument("--title", help="a heading for the picture")
    parser.add_argument(
        "--rankdir", choices=_RANKDIRS, default="LR", help="LR (default) or TB, ..."
    )
    views = parser.add_argument_group("views")
    views.add_argument(
        "--show-values", action="store_true", help="print values or summaries"
    )
    views.add_argument(
        "--show-grads",
        action="store_true",
        help="run backward() first and print each gradient (norm and range if large)",
    )
    views.add_argument(
        "--show-order",
        action="store_true",
        help="number the ops in the order backward() runs them",
    )
    views.add_argument(
        "--color-by-grad",
        action="store_true",
        help="fill each tensor by the size of its gradient: vanishing or exploding",
    )
    views.add_argument(
        "--no-clusters",
        action="store_true",
        help="no frames for modules and name scopes",
    )
    large = parser.add_argument_group("large graphs")
    large.add_argument(
        "--collapse",
        type=int,
        metavar="DEPTH",
        help="draw each name scope DEPTH levels deep as one node (0: outermost)",
    )
    large.add_argument(
        "--max-nodes",
        type=int,
        default=MAX_NODES,
        metavar="N",
        help=f"node budget; larger graphs are collapsed (default {MAX_NODES})",
    )
    large.add_argument(
        "--max-uses",
        type=int,
        default=MAX_USES,
        metavar="N",
        help=f"draw a tensor used by more ops beside each (default {MAX_USES})",
    )
    large.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        metavar="SECONDS",
        help=f"stop dot after this long (default {TIMEOUT:g})",
    )
    args = parser.parse_args(argv)

    try:
        output = _load_function(args.function)()
        if args.show_grads:
            if not isinstance(output, Tensor) or output.size != 1:
                raise DomainError(
                    f"viz: --show-grads runs backward() on what {args.function} "
                    f"returns, so it must return one scalar Tensor such as a loss."
                )
            output.backward(retain_graph=True)  # keep the graph to draw it
        written = draw(
            output,
            args.out,
            format=args.format,
            timeout=args.timeout,
            title=args.title,
            rankdir=args.rankdir,
            show_values=args.show_values,
            show_grads=args.show_grads,
            show_order=args.show_order,
            color_by_grad=args.color_by_grad,
            cluster_modules=not args.no_clusters,
            collapse=args.collapse,
            max_nodes=args.max_nodes,
            max_uses=args.max_uses,
        )
    except TinygradEduError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
