"""Graph drawing: the DOT text mirrors the recorded graph; rendering uses the real dot.

The DOT text is parsed back (node statements, edges, cluster nesting) and
compared with what was recorded. Rendering runs the real ``dot`` program; a
missing one is produced for real by emptying ``PATH``.
"""

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from models.mlp import MLP
from models.two_layer_net import example_loss
from tinygrad_edu import (
    DomainError,
    DTypeError,
    GraphError,
    Tensor,
    TinygradEduError,
    viz,
)
from tinygrad_edu import grad as autograd
from tinygrad_edu.engine import topological_order
from tinygrad_edu.recording import name_scope
from tinygrad_edu.viz import (
    MAX_USES,
    GraphTooLargeError,
    GraphvizError,
    GraphvizNotFoundError,
    draw,
    main,
    to_dot,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "two_layer_net_loss.dot"
DOCS_SVG = ROOT / "docs" / "img" / "two_layer_net_loss.svg"
SVG_NS = "{http://www.w3.org/2000/svg}"

# Rendering tests skip without dot, or fail where it is required (conftest.py).
needs_dot = pytest.mark.usefixtures("dot")

NODE = re.compile(r"^\s*((?:t|op)\d+) \[(.*)\]$", re.MULTILINE)
# Also a tensor's copies beside its uses (t1_2) and collapsed name scopes (s0).
ANY_NODE = re.compile(r"^\s*((?:t|op|s)\d+(?:_\d+)?) \[(.*)\]$", re.MULTILINE)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)$", re.MULTILINE)
LABEL = re.compile(r'label=("(?:[^"\\]|\\.)*"|\S+)')


# ------------------------------------------------------------- DOT parsing
def nodes(source: str) -> dict[str, str]:
    """Node id -> its attribute text, tensors then ops, in walk-number order."""
    found = NODE.findall(source)  # clusters group statements out of walk order
    return dict(sorted(found, key=lambda item: (item[0][0], int(item[0].strip("top")))))


def edges(source: str) -> list[tuple[str, str]]:
    return EDGE.findall(source)


def label(attrs: str) -> list[str]:
    """The label's lines, unescaped."""
    text = LABEL.search(attrs).group(1)
    if text.startswith('"'):
        text = text[1:-1]
    return [
        line.replace('\\"', '"').replace("\\\\", "\\") for line in text.split("\\n")
    ]


def ops(source: str) -> dict[str, list[str]]:
    return {k: label(v) for k, v in nodes(source).items() if k.startswith("op")}


def tensors(source: str) -> dict[str, list[str]]:
    return {k: label(v) for k, v in nodes(source).items() if k.startswith("t")}


def scopes(source: str) -> dict[str, tuple[str, ...]]:
    """Node id -> the labels of the clusters it is declared in, outermost first."""
    path: list[str] = []
    result = {}
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("subgraph cluster_"):
            path.append("?")
        elif stripped == "}" and path:
            path.pop()
        elif path and path[-1] == "?" and "label=" in stripped:
            path[-1] = label(stripped)[0]
        elif match := ANY_NODE.match(line):
            result[match.group(1)] = tuple(path)
    return result


def op_names(source: str) -> list[str]:
    return [lines[0] for lines in ops(source).values()]


def nodes_all(source: str) -> list[tuple[str, str]]:
    """Every node statement: tensors, their copies, ops and collapsed boxes."""
    return ANY_NODE.findall(source)


def copies_of(source: str, name: str) -> dict[str, list[str]]:
    """The nodes drawing the tensor called ``name``, by DOT node name."""
    found = {k: label(v) for k, v in nodes_all(source) if k.startswith("t")}
    return {k: lines for k, lines in found.items() if lines[0] == name}


def boxes(source: str) -> dict[str, list[str]]:
    """Collapsed name scopes: box name -> its label's lines."""
    return {k: label(v) for k, v in nodes_all(source) if k.startswith("s")}


# --------------------------------------------------------- structure of DOT
def test_a_plus_b_has_one_op_three_tensors_three_edges():
    a = Tensor(np.ones((2, 3)), requires_grad=True, name="a")
    b = Tensor(np.ones((2, 3)), name="b")
    source = to_dot(a + b).source
    assert op_names(source) == ["add"]
    assert tensors(source) == {
        "t0": ["a", "(2, 3) float64"],
        "t1": ["b", "(2, 3) float64"],
        "t2": ["(2, 3) float64"],
    }
    assert edges(source) == [("t0", "op0"), ("t1", "op0"), ("op0", "t2")]


def test_two_layer_net_loss_graph_matches_what_was_recorded():
    loss = example_loss(8, 5)
    source = to_dot(loss).source
    assert op_names(source) == [
        "matmul",
        "add",
        "sigmoid",
        "matmul",
        "add",
        "softmax_cross_entropy",
    ]
    assert len(tensors(source)) == 12  # x t W1 b1 W2 b2 + 5 results + loss
    assert len(edges(source)) == 17  # each op: its inputs + its output
    names = {
        lines[0]: lines[1] for lines in tensors(source).values() if len(lines) == 2
    }
    assert names["x"] == "(8, 784) float64"
    assert names["W1"] == "(784, 5) float64"
    assert names["b2"] == "(10,) float64"
    assert names["t"] == "(8,) int64"
    assert names["loss"] == "() float64"
    # The drawing agrees with the engine's own walk.
    assert len(ops(source)) == len(topological_order(loss))


@pytest.mark.parametrize("batch_size, hidden_size", [(100, 50), (3, 4)])
def test_the_two_layer_net_is_drawn_in_the_frames_of_its_layers(
    batch_size, hidden_size
):
    source = to_dot(example_loss(batch_size, hidden_size)).source
    where = scopes(source)
    by_name = {lines[0]: k for k, lines in {**ops(source), **tensors(source)}.items()}
    affine = f"Affine(784→{hidden_size})"
    assert where[by_name["W1"]] == ("TwoLayerNet", affine)
    assert where[by_name["sigmoid"]] == ("TwoLayerNet",)
    assert where[by_name["W2"]] == ("TwoLayerNet", f"Affine({hidden_size}→10)")
    assert where[by_name["softmax_cross_entropy"]] == ()


def test_a_modules_graph_is_drawn_in_module_clusters():
    """A real nn.Module: models.MLP's Linear layers and activations become frames."""
    model = MLP(784, [50], 10, rng=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).random((5, 784)), name="x")
    loss = model(x).softmax_cross_entropy(np.arange(5))
    source = to_dot(loss).source
    where = scopes(source)
    labels = {**ops(source), **tensors(source)}
    placed = [(lines[0], where[k]) for k, lines in labels.items()]
    first = ("MLP", "Sequential", "Linear(784→50)")
    second = ("MLP", "Sequential", "Linear(50→10)")
    assert ("matmul", first) in placed and ("matmul", second) in placed
    assert [scope for name, scope in placed if name == "weight"] == [first, second]
    assert [scope for name, scope in placed if name == "bias"] == [first, second]
    assert ("sigmoid", ("MLP", "Sequential", "Sigmoid")) in placed
    assert where[next(k for k, v in labels.items() if v[0] == "x")] == ()
    assert ("softmax_cross_entropy", ()) in placed
    assert source.count("subgraph cluster_") == 5  # MLP, Sequential, 2 Linear, Sigmoid


def test_modules_with_the_same_label_are_separate_clusters():
    model = MLP(4, [3, 3, 3], 2, rng=np.random.default_rng(0))
    source = to_dot(model(np.ones((2, 4))).sum()).source
    frames = re.findall(r'label="?([^"\n]+)"? labeljust', source)
    assert frames.count("Linear(3→3)") == 2 and frames.count("Sigmoid") == 3
    matmul_scopes = [
        scopes(source)[k] for k, v in ops(source).items() if v[0] == "matmul"
    ]
    assert len(set(matmul_scopes)) == 3  # ... but the frames' paths read alike
    assert len({id(n.scope[-1]) for n in _nodes_of(model, "matmul")}) == 4


def _nodes_of(model, op_name):
    out = model(np.ones((2, 4))).sum()
    return [t._node for t in topological_order(out) if t._node.op_name == op_name]


def test_a_reused_tensor_is_one_node_with_one_edge_per_use():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    source = to_dot(x * x).source
    assert len(tensors(source)) == 2
    assert edges(source) == [("t0", "op0"), ("t0", "op0"), ("op0", "t1")]

    h = x.sigmoid()
    y = h * h + h  # h feeds two ops, three times
    source = to_dot(y).source
    assert op_names(source) == ["sigmoid", "mul", "add"]
    assert len(tensors(source)) == 4
    assert ("op0", "t1") in edges(source)  # t1 is h
    assert [e for e in edges(source) if e[0] == "t1"] == [
        ("t1", "op1"),
        ("t1", "op1"),
        ("t1", "op2"),
    ]


def test_broadcasting_keeps_each_shape_and_dtype():
    a = Tensor(np.ones((4, 3), dtype=np.float32), requires_grad=True, name="a")
    b = Tensor(np.ones(3, dtype=np.float32), requires_grad=True, name="b")
    source = to_dot(a * b - 1.0).source
    assert op_names(source) == ["mul", "sub"]
    labels = tensors(source)
    assert labels["t0"] == ["a", "(4, 3) float32"]
    assert labels["t1"] == ["b", "(3,) float32"]
    assert labels["t2"] == ["(4, 3) float32"]
    assert labels["t3"] == ["() float32", "1."]  # a bare constant shows its value
    assert len(edges(source)) == 6


def test_op_labels_show_arguments_but_not_defaults():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    source = to_dot(
        [x.softmax(axis=0), x.sum(axis=1, keepdims=True), x.sum(), x.astype(np.float32)]
    ).source
    assert list(ops(source).values()) == [
        ["softmax", "axis=0"],
        ["sum", "axis=1", "keepdims=True"],
        ["sum"],
        ["cast", "dtype=float32"],
    ]
    mask = np.array([[True, False, True], [False, True, False]])
    picked = [x[:, 1], x[0, ...], x[np.int64(1)], x[mask], x[np.zeros((4, 2), int)]]
    assert [lines[1:] for lines in ops(to_dot(picked).source).values()] == [
        ["index=(:, 1)"],
        ["index=(0, ...)"],
        ["index=1"],
        ["index=[[True, False, True], [False, True, False]]"],
        ["index=<int64 array (4, 2)>"],
    ]


def test_several_outputs_share_their_common_part():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    h = x.tanh()
    y1, y2 = h * 2.0, h.exp()
    source = to_dot([y1, y2]).source
    assert op_names(source) == ["tanh", "mul", "exp"]
    green = [k for k, v in nodes(source).items() if "#d9ead3" in v]
    assert len(green) == 2  # both outputs are drawn as outputs


def test_parameters_constants_and_outputs_look_different():
    w = Tensor([1.0], requires_grad=True, name="w")
    c = Tensor([2.0], name="c")
    source = to_dot((w * c).exp()).source
    fill = {
        k: re.search(r'fillcolor="([^"]+)"', attrs).group(1)
        for k, attrs in nodes(source).items()
    }
    assert tensors(source)["t0"][0] == "w" and tensors(source)["t1"][0] == "c"
    # parameter, constant, intermediate result, output: four looks
    assert len({fill["t0"], fill["t1"], fill["t2"], fill["t3"]}) == 4
    assert fill["op0"] == fill["op1"] not in {fill[f"t{i}"] for i in range(4)}


def test_same_graph_gives_the_same_text_and_ids_are_walk_numbers():
    first = to_dot(example_loss(4, 3)).source
    second = to_dot(example_loss(4, 3)).source
    assert first == second
    ids = list(nodes(first))
    assert all(re.fullmatch(r"(t|op)\d+", i) for i in ids)
    assert sorted(int(i[1:]) for i in ids if i[0] == "t") == list(range(12))
    assert sorted(int(i[2:]) for i in ids if i[0] == "o") == list(range(6))


def test_the_users_print_options_do_not_change_the_text():
    x = Tensor([1 / 3, 2 / 3], requires_grad=True)
    plain = to_dot(x * 3.0, show_values=True).source
    with np.printoptions(precision=1, sign="+"):
        assert to_dot(x * 3.0, show_values=True).source == plain
    assert "[0.3333, 0.6667]" in plain


# ------------------------------------------------------------------ clusters
def test_name_scopes_become_nested_clusters():
    x = Tensor(np.ones((2, 784)), name="x")
    w = Tensor(np.ones((784, 50)), requires_grad=True, name="W")
    with name_scope("Sequential"):
        with name_scope("Linear(784→50)"):
            h = x @ w
        y = h.relu()
    loss = y.sum()
    source = to_dot(loss).source
    where = scopes(source)
    by_name = {lines[0]: k for k, lines in {**ops(source), **tensors(source)}.items()}
    assert where[by_name["matmul"]] == ("Sequential", "Linear(784→50)")
    assert where[by_name["W"]] == ("Sequential", "Linear(784→50)")  # with its user
    assert where[by_name["relu"]] == ("Sequential",)
    assert where[by_name["x"]] == ()  # inputs stay outside the modules
    assert where[by_name["sum"]] == ()
    assert source.count("subgraph cluster_") == 2

    flat = to_dot(loss, cluster_modules=False).source
    assert "subgraph" not in flat
    assert set(nodes(flat)) == set(nodes(source))


def test_each_call_of_a_composite_is_a_cluster_named_after_it():
    """.mean() records sum and mul: the drawing shows them inside a mean box."""
    x = Tensor([2.0, 4.0], requires_grad=True, name="x")
    source = to_dot((x * x).mean() + x.mean()).source
    where = scopes(source)
    placed = sorted((lines[0], where[k]) for k, lines in ops(source).items())
    assert placed == [
        ("add", ()),
        ("mul", ()),  # x * x
        ("mul", ("mean",)),  # · 1/n, once per mean
        ("mul", ("mean",)),
        ("sum", ("mean",)),
        ("sum", ("mean",)),
    ]
    assert source.count("label=mean") == 2  # two calls, two clusters


def test_a_parameter_used_by_two_modules_sits_in_their_common_scope():
    w = Tensor([1.0], requires_grad=True, name="w")
    with name_scope("Net"):
        with name_scope("A"):
            a = w * 2.0
        with name_scope("B"):
            b = w * 3.0
    source = to_dot(a + b).source
    where = scopes(source)
    w_id = next(k for k, v in tensors(source).items() if v[0] == "w")
    assert where[w_id] == ("Net",)


# ----------------------------------------------------- values, grads, NaN
def test_nan_and_inf_are_drawn_red():
    bad = Tensor([np.nan, 1.0], requires_grad=True, name="bad")
    big = Tensor([np.inf, 1.0], requires_grad=True, name="big")
    good = Tensor([1.0, 2.0], requires_grad=True, name="good")
    source = to_dot([bad * good, big + good]).source
    by_name = {lines[0]: k for k, lines in tensors(source).items()}
    assert "color=red" in nodes(source)[by_name["bad"]]
    assert "holds NaN" in tensors(source)[by_name["bad"]]
    assert "color=red" in nodes(source)[by_name["big"]]
    assert "holds inf" in tensors(source)[by_name["big"]]
    assert "red" not in nodes(source)[by_name["good"]]
    red = [k for k, v in nodes(source).items() if "color=red" in v]
    assert len(red) == 4  # the two bad leaves and the two results


def test_show_grads_before_backward_says_so():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    y = (x * x).sum()
    source = to_dot(y, show_grads=True).source
    assert tensors(source)["t0"] == [
        "x",
        "(3,) float64",
        "grad: none yet (call backward())",
    ]


def test_show_grads_after_backward_shows_them():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert tensors(to_dot(y, show_grads=True).source)["t0"] == [
        "x",
        "(3,) float64",
        "grad: [2., 4., 6.]",
    ]
    big = Tensor(np.full(100, 2.0), requires_grad=True, name="big")
    z = (big * big).sum()
    z.backward(retain_graph=True)
    lines = tensors(to_dot(z, show_grads=True).source)["t0"]
    assert lines[-1] == "grad: norm 40, range [4, 4]"


def test_show_grads_on_an_intermediate_that_retains_it():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3.0).retain_grad()
    y = (h * h).sum()
    source = to_dot(y, show_grads=True).source
    assert "grad: none yet (call backward())" in tensors(source)["t2"]
    y.backward(retain_graph=True)
    assert "grad: [ 6., 12.]" in tensors(to_dot(y, show_grads=True).source)["t2"]


def test_drawing_a_freed_graph_says_to_retain_it():
    x = Tensor([1.0], requires_grad=True)
    y = (x * 2.0).sum()
    y.backward()
    with pytest.raises(GraphError, match="retain_graph=True"):
        to_dot(y)


def test_show_values_small_and_large():
    small = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="small")
    large = Tensor(np.arange(100.0), requires_grad=True, name="large")
    source = to_dot([small.exp(), large.exp()], show_values=True).source
    by_name = {lines[0]: lines for lines in tensors(source).values()}
    assert by_name["small"][2:] == ["[[1., 2.],", " [3., 4.]]"]
    assert by_name["large"][2] == "mean 49.5, min 0, max 99"
    hidden = to_dot(small.exp()).source
    assert "[1., 2.]" not in hidden


def test_show_order_numbers_ops_as_backward_runs_them():
    loss = example_loss(4, 3)
    source = to_dot(loss, show_order=True).source
    drawn = sorted(ops(source).values(), key=lambda lines: int(lines[-1].split()[-1]))
    assert [lines[0] for lines in drawn] == [
        t._node.op_name for t in reversed(topological_order(loss))
    ]
    assert ops(source)["op5"] == ["softmax_cross_entropy", "backward step 1"]
    assert ops(source)["op0"] == ["matmul", "backward step 6"]
    assert "backward step" not in to_dot(loss).source


# ------------------------------------------------------- gradient flow
FILL = re.compile(r'fillcolor="(#[0-9a-f]{6})"')


def fill(attrs: str) -> str:
    return FILL.search(attrs).group(1)


def grad_rms(lines: list[str]) -> float:
    (line,) = [line for line in lines if line.startswith("grad rms ")]
    return float(line.removeprefix("grad rms "))


def test_color_by_grad_shows_gradients_vanishing_through_sigmoids():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 8)), name="x")
    weights = [
        Tensor(rng.standard_normal((8, 8)), requires_grad=True, name=f"W{i}")
        for i in range(8)
    ]
    h = x
    for w in weights:
        h = (h @ w).sigmoid()
    loss = h.sum()
    source = to_dot(loss, color_by_grad=True).source
    by_name = {
        lines[0]: (lines, attrs)
        for lines, attrs in ((label(a), a) for a in nodes(source).values())
    }
    sizes = [grad_rms(by_name[f"W{i}"][0]) for i in range(8)]
    expected = [
        np.sqrt(np.mean(g.data**2)) for g in autograd(loss, weights, retain_graph=True)
    ]
    np.testing.assert_allclose(sizes, expected, rtol=0.05)  # printed with 2 digits
    assert sizes[0] < 1e-3 * sizes[-1]  # each sigmoid scales it by at most 1/4
    assert fill(by_name["W0"][1]) != fill(by_name["W7"][1])
    assert all(w.grad is None for w in weights)  # drawing leaves .grad alone
    assert "vanishing" in source and "exploding" in source  # the legend


def test_color_by_grad_scale_runs_blue_to_orange_and_marks_bad_gradients():
    x = Tensor([0.5, 1.0], requires_grad=True, name="x")
    y = x
    for _ in range(3):
        y = y * 100.0
    source = to_dot(y.sum(), color_by_grad=True).source
    x_attrs = next(a for a in nodes(source).values() if label(a)[0] == "x")
    assert grad_rms(label(x_attrs)) == 1e6 and fill(x_attrs) == "#e69138"  # ≥ 1e2
    tiny = Tensor([1.0], requires_grad=True, name="tiny")
    source = to_dot((tiny * 1e-9).sum(), color_by_grad=True).source
    tiny_attrs = next(a for a in nodes(source).values() if label(a)[0] == "tiny")
    assert fill(tiny_attrs) == "#3c78d8" and "fontcolor=white" in tiny_attrs
    z = Tensor([0.0, 1.0], requires_grad=True, name="z")
    with np.errstate(all="ignore"):
        source = to_dot((z.log() * 0.0).sum(), color_by_grad=True).source
    z_attrs = next(a for a in nodes(source).values() if label(a)[0] == "z")
    assert "color=red" in z_attrs and "grad rms nan" in label(z_attrs)


def test_color_by_grad_draws_the_seed_neutral_and_a_legend_of_every_colour():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    loss = (w * w).sum()
    loss.name = "loss"
    source = to_dot(loss, color_by_grad=True, title="a <title> & more").source
    seed = next(attrs for k, attrs in nodes_all(source) if label(attrs)[0] == "loss")
    # d loss / d loss = 1 is where backward starts, not a gradient that explodes.
    assert label(seed) == ["loss", "() float64", "seed, grad 1"]
    assert fill(seed) == "#ffffff" and "peripheries=2" in seed
    assert "#ffe599" not in seed  # the colour of an RMS of 1 elsewhere
    legend = re.search(r"label=<(<TABLE.*</TABLE>)>", source).group(1)
    swatches = re.findall(r'<TD BGCOLOR="(#[0-9a-f]{6})">(.*?)</TD>', legend)
    assert [colour for colour, _ in swatches] == [
        "#3c78d8",  # the anchors of the scale, vanishing to exploding
        "#6fa8dc",
        "#c9daf8",
        "#b6d7a8",
        "#ffe599",
        "#e69138",
        "#ffffff",  # the seed
        "#eeeeee",  # no gradient
        "#f4cccc",  # NaN or inf
    ]
    texts = [re.sub(r"<[^>]+>", " ", text).split() for _, text in swatches]
    assert texts[0] == ["≤", "1e-8", "vanishing"] and texts[3] == ["1e-2"]
    assert texts[5] == ["≥", "1e2", "exploding"]
    assert texts[6] == ["the", "output:", "seed,", "grad", "1"]
    assert texts[8] == ["NaN", "or", "inf"]
    assert "a &lt;title&gt; &amp; more" in legend  # the title, as text
    assert "RMS, log scale" in legend


def test_color_by_grad_leaves_an_empty_tensor_uncoloured_and_warns_of_nothing():
    # The RMS of no elements was NaN: drawn in the NaN style, with a warning.
    empty = Tensor(np.zeros((4, 0)), requires_grad=True, name="e")
    source = to_dot((empty * 2.0).sum(), color_by_grad=True).source
    assert "nan" not in source and "grad rms" not in dict(nodes_all(source))["t0"]


def test_color_by_grad_needs_one_scalar_output_and_a_live_graph():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(DomainError, match=r"color_by_grad.*scalar.*\(2,\)"):
        to_dot(w * 2, color_by_grad=True)
    with pytest.raises(DomainError, match="one computed output"):
        to_dot([w.sum(), (w * 3).sum()], color_by_grad=True)
    with pytest.raises(DomainError, match=r"show_order.*leaf"):
        to_dot(w, show_order=True)
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(GraphError, match="retain_graph=True"):
        to_dot(loss, color_by_grad=True)


def test_backward_graph_after_create_graph():
    loss = example_loss(4, 3)
    params = {}
    for node in (t._node for t in topological_order(loss)):
        for t in node.inputs:
            if t.name:
                params[t.name] = t
    forward_ops = len(ops(to_dot(loss).source))
    loss.backward(create_graph=True)
    source = to_dot(params["W1"].grad).source
    names = op_names(source)
    assert len(names) > forward_ops
    assert "transpose" in names  # x.T @ g and g @ W2.T
    assert "softmax" in names  # d loss / d scores = (softmax - onehot) / N
    assert names[-1] == "matmul"  # the last step: xᵀ @ (delta of layer 1)


# --------------------------------------------------------------- large graphs
def chain(n: int, by: Tensor | float) -> Tensor:
    """y = tanh(y * by), n times: the unrolled loop of the issue, 2n ops."""
    y = Tensor(np.array([0.5]), requires_grad=True, name="x")
    for _ in range(n):
        y = (y * by).tanh()
    return y


def test_a_tensor_used_by_many_ops_is_drawn_beside_each_of_them():
    w = Tensor(np.array([0.9]), requires_grad=True, name="w")
    source = to_dot(chain(MAX_USES + 1, w)).source
    drawn = copies_of(source, "w")
    assert list(drawn) == [f"t1_{i}" for i in range(1, MAX_USES + 2)]  # no t1 itself
    assert all(
        lines == ["w", "(1,) float64", "used by 6 ops"] for lines in drawn.values()
    )
    assert all(
        'style="filled,dashed"' in attrs for k, attrs in nodes_all(source) if k in drawn
    )
    # Each copy has exactly one edge, into its own mul, and each mul gets one copy.
    into = [head for tail, head in edges(source) if tail in drawn]
    assert len(into) == len(set(into)) == MAX_USES + 1
    assert {ops(source)[op][0] for op in into} == {"mul"}
    assert "drawn beside each of them" in source  # the note says what dashes mean
    # Once more than max_uses ops, not before: the book's graphs look as they did.
    few = to_dot(chain(MAX_USES, w)).source
    assert list(copies_of(few, "w")) == ["t1"] and "dashed" not in few
    hub = to_dot(chain(MAX_USES + 1, w), max_uses=None).source
    assert [t for t, _ in edges(hub)].count("t1") == MAX_USES + 1


def test_a_python_number_is_drawn_beside_each_op_that_uses_it():
    """The engine shares one constant per number; the drawing gives each use
    its own copy, plainly: a number is a value, not a tensor used by N ops."""
    y = chain(10, 1.0001)
    muls = [t._node for t in topological_order(y) if t._node.op_name == "mul"]
    assert len({id(node.inputs[1]) for node in muls}) == 1  # one shared Tensor
    source = to_dot(y).source
    constants = copies_of(source, "() float64")  # unnamed: its shape comes first
    assert len(constants) == 10
    assert all(lines == ["() float64", "1.0001"] for lines in constants.values())
    into = [head for tail, head in edges(source) if tail in constants]
    assert len(into) == len(set(into)) == 10  # one copy per mul
    assert "dashed" not in source and "used by" not in source
    # A named one-element tensor is a thing of its own: drawn once while few
    # ops use it, as any tensor is.
    few = to_dot(chain(MAX_USES, Tensor(np.array(1.0001), name="c"))).source
    assert list(copies_of(few, "c")) == ["t1"]


def test_every_copy_shows_the_same_values_gradient_and_colour():
    w = Tensor(np.array([0.9]), requires_grad=True, name="w")
    loss = chain(8, w).sum()
    loss.backward(retain_graph=True)
    shown = to_dot(loss, show_values=True, show_grads=True).source
    labels = list(copies_of(shown, "w").values())
    assert len(labels) == 8 and all(lines == labels[0] for lines in labels)
    assert labels[0][3:] == ["[0.9]", f"grad: [{w.grad.data[0]:.4f}]"]
    colored = to_dot(loss, color_by_grad=True).source
    looks = {attrs for k, attrs in nodes_all(colored) if k.startswith("t1_")}
    assert len(looks) == 1 and f"grad rms {abs(w.grad.data[0]):.2g}" in looks.pop()


def test_a_computed_tensor_used_by_many_ops_stays_by_its_op_too():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    h = x.tanh()
    h.name = "h"
    y = h * 1.0 + h * 2.0 + h * 3.0 + h * 4.0 + h * 5.0 + h * 6.0
    source = to_dot(y).source
    drawn = copies_of(source, "h")
    assert len(drawn) == 7 and "t1" in drawn  # where it is made, and at 6 uses
    assert ("op0", "t1") in edges(source)  # tanh -> h
    assert not [head for tail, head in edges(source) if tail == "t1"]


def test_a_parameter_shared_by_modules_is_drawn_per_module_when_collapsed():
    w = Tensor(np.array([0.9]), requires_grad=True, name="w")
    h = Tensor(np.array([0.5]), name="h0")
    for step in range(MAX_USES + 1):
        with name_scope(f"step {step}"):
            for _ in range(3):
                h = (h * w).tanh()
    source = to_dot(h.sum(), collapse=0).source
    steps = boxes(source)
    assert len(steps) == MAX_USES + 1
    assert steps["s0"] == ["step 0", "6 ops: mul ×3, tanh ×3"]
    drawn = copies_of(source, "w")
    assert len(drawn) == MAX_USES + 1  # one beside each box, not one per mul
    assert all(lines[-1] == "used by 18 ops" for lines in drawn.values())
    arrows = edges(source)
    assert sorted(head for tail, head in arrows if tail in drawn) == sorted(steps)
    assert len(arrows) == len(set(arrows))  # a box's edges are drawn once
    assert ("t0", "s0") in arrows and ("s0", "s1") in arrows  # h0 -> step 0 -> 1


def test_collapse_draws_one_node_per_module_at_the_depth_asked():
    model = MLP(4, [3, 3], 2, rng=np.random.default_rng(0))
    x = Tensor(np.ones((2, 4)), name="x")
    loss = model(x).softmax_cross_entropy(np.arange(2))
    shallow = to_dot(loss, collapse=0).source
    assert boxes(shallow) == {"s0": ["MLP", "8 ops: matmul ×3, add ×3, sigmoid ×2"]}
    assert op_names(shallow) == ["softmax_cross_entropy"]
    assert edges(shallow) == [
        ("t0", "s0"),  # x -> the whole network
        ("s0", "op8"),
        ("t15", "op8"),  # the labels
        ("op8", "t16"),
    ]
    assert "collapse=0; the whole graph has 9 ops" in shallow
    scores = to_dot(model(x), collapse=0).source  # the output is never folded in
    assert boxes(scores) == {"s0": ["MLP", "8 ops: matmul ×3, add ×3, sigmoid ×2"]}
    assert edges(scores) == [("t0", "s0"), ("s0", "t14")]
    assert "#d9ead3" in dict(nodes_all(scores))["t14"]
    deeper = to_dot(loss, collapse=2).source
    assert [lines[0] for lines in boxes(deeper).values()] == [
        "Linear(4→3)",
        "Sigmoid",
        "Linear(3→3)",
        "Sigmoid",
        "Linear(3→2)",
    ]
    assert boxes(deeper)["s1"] == ["Sigmoid", "1 op: sigmoid"]
    assert scopes(deeper)["op8"] == ()
    assert deeper.count("subgraph cluster_") == 2  # MLP and Sequential, around them
    assert [e for e in edges(deeper) if e[0][0] == "s"] == [
        ("s0", "s1"),
        ("s1", "s2"),
        ("s2", "s3"),
        ("s3", "s4"),
        ("s4", "op8"),
    ]
    assert to_dot(loss, collapse=3).source == to_dot(loss).source  # nothing that deep


def test_a_box_holding_nan_is_red():
    w = Tensor([np.nan], requires_grad=True, name="w")
    with name_scope("block"):
        y = (w * 2.0).sum()
    source = to_dot(y.exp(), collapse=0).source
    assert boxes(source)["s0"] == ["block", "2 ops: mul, sum", "holds NaN"]
    assert "color=red" in dict(nodes_all(source))["s0"]


def test_a_graph_over_the_budget_is_collapsed_as_little_as_fits():
    model = MLP(4, [3] * 20, 2, rng=np.random.default_rng(0))
    loss = model(np.ones((2, 4))).softmax_cross_entropy(np.arange(2))
    full = to_dot(loss, max_nodes=None).source
    n_full = len(nodes_all(full))
    # 21 layers of matmul and add, 20 sigmoids and the loss; x, t, 42 parameters
    # and the 63 results.
    assert n_full == 63 + 107 and "box3d" not in full
    assert to_dot(loss, max_nodes=n_full).source == full
    # One node per layer (x, t, the loss and its op besides) fits in 45; the
    # whole network in one node in 5.
    fitted = to_dot(loss, max_nodes=45).source
    assert len(nodes_all(fitted)) == 45 and len(boxes(fitted)) == 41
    assert (
        "because the whole graph (63 ops) has more than max_nodes=45 nodes; "
        "collapse=3 or a larger max_nodes draws more"
    ) in fitted
    smaller = to_dot(loss, max_nodes=44).source  # Sequential, in the MLP frame
    assert boxes(smaller) == {
        "s0": ["Sequential", "62 ops: matmul ×21, add ×21, sigmoid ×20"]
    }
    assert scopes(smaller)["s0"] == ("MLP",)
    with pytest.raises(GraphTooLargeError) as caught:
        to_dot(loss, max_nodes=4)
    message = str(caught.value)
    for part in (
        "170 nodes to draw (63 ops, 107 tensors)",
        "max_nodes=4",
        "collapse=0 (one node per name scope 0 levels deep) it still has 5",
        "name_scope",
        "an intermediate tensor",
        "max_nodes=170",
    ):
        assert part in message
    with pytest.raises(GraphTooLargeError, match=r"collapse=2 .* still has 45\."):
        to_dot(loss, max_nodes=44, collapse=2)


def test_a_20000_op_graph_is_refused_or_collapsed_at_once(tmp_path):
    """The issue's sizes: never handed to dot whole."""
    y = chain(10_000, 1.0001)
    with pytest.raises(GraphTooLargeError) as caught:
        draw(y, tmp_path / "chain.svg")
    assert "50,001 nodes to draw (20,000 ops" in str(caught.value)
    assert "records no name scopes" in str(caught.value)
    assert not list(tmp_path.iterdir())

    w = Tensor(np.array([0.9]), requires_grad=True, name="w")
    h = Tensor(np.array([0.5]), name="h0")
    for step in range(100):
        with name_scope(f"step {step}"):
            for _ in range(100):
                h = (h * w).tanh()
    source = to_dot(h).source
    assert len(boxes(source)) == 100 and len(copies_of(source, "w")) == 100
    if shutil.which("dot"):
        svg = draw(h, tmp_path / "steps.svg", timeout=120).read_bytes()
        assert len(svg_nodes(svg)) == len(nodes_all(source))


@needs_dot
@pytest.mark.parametrize("by", ["weight", "constant"])
def test_a_1000_op_chain_with_a_shared_tensor_renders(tmp_path, by):
    """Drawn once, the shared tensor made dot run for minutes (a hub of 500 edges);
    timeout=120 turns a hang into a failure instead of a stuck suite."""
    w = Tensor(np.array([0.9]), requires_grad=True, name="w")
    y = chain(500, w if by == "weight" else 1.0001)
    path = draw(y, tmp_path / "chain.svg", timeout=120)
    source = to_dot(y).source
    # 1,000 ops, their results and x; the shared tensor beside each of 500 muls
    assert len(svg_nodes(path.read_bytes())) == len(nodes_all(source)) == 2001 + 500


# ------------------------------------------------------- the dot program
def hub(n: int = 100) -> Tensor:
    """A chain whose shared constant is drawn once: dot runs for minutes on it."""
    return chain(n, Tensor(np.array([1.0001]), name="c"))


def dot_children() -> list[int]:
    """Process ids of this process's children that run dot (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()  # "pid (command) state ppid ..."
        except OSError:
            continue  # the process ended meanwhile
        command, rest = text.split("(", 1)[1].rsplit(")", 1)
        if command == "dot" and int(rest.split()[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


@needs_dot
def test_dot_past_its_timeout_is_stopped_with_a_clear_error(tmp_path):
    with pytest.raises(GraphvizError) as caught:
        draw(hub(), tmp_path / "hub.svg", max_uses=None, timeout=1)
    message = str(caught.value)
    assert "still laying out the graph after 1 s and was stopped" in message
    for hint in ("collapse=0", "timeout=600", "to_dot(...).source", "'graph.dot'"):
        assert hint in message
    assert isinstance(caught.value, RuntimeError)
    assert dot_children() == []  # killed and reaped, not left running
    assert not list(tmp_path.iterdir())  # no picture, no temporary file
    assert draw(hub(), tmp_path / "hub.dot", max_uses=None).exists()  # DOT text still


@needs_dot
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_crash_of_dot_is_a_clear_error(tmp_path):
    """A real dot, laying out the hub graph, killed by a real SIGSEGV."""
    caught: list[BaseException] = []

    def render() -> None:
        try:
            draw(hub(), tmp_path / "hub.svg", max_uses=None, timeout=120)
        except BaseException as error:  # handed to the test's thread
            caught.append(error)

    thread = threading.Thread(target=render)
    thread.start()
    for _ in range(600):  # until dot runs: the walk and the DOT text come first
        if pids := dot_children():
            break
        time.sleep(0.05)
    else:
        pytest.fail("dot did not start")
    os.kill(pids[0], signal.SIGSEGV)
    thread.join(timeout=120)
    (error,) = caught
    assert isinstance(error, GraphvizError)
    assert "crashed (SIGSEGV) while laying out the graph" in str(error)
    assert "collapse=0" in str(error) and "to_dot(...).source" in str(error)
    assert not list(tmp_path.iterdir())


@needs_dot
def test_a_notebook_shows_why_dot_failed_and_the_dot_text(monkeypatch):
    graph = to_dot(Tensor([1.0], requires_grad=True) * 2.0)
    graph.body.append("this is not DOT {")  # dot refuses it: exit code 1
    bundle = graph._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    assert "'dot' program failed (exit code 1)" in bundle["text/plain"]
    assert "syntax error" in bundle["text/plain"]  # dot's own message
    assert bundle["text/plain"].endswith(graph.source)
    monkeypatch.setattr(viz, "TIMEOUT", 1)  # the notebook's limit, shortened
    slow = to_dot(hub(), max_uses=None)._repr_mimebundle_()
    assert "was stopped" in slow["text/plain"]


def test_bad_limits_are_clear_errors(tmp_path):
    y = Tensor([1.0], requires_grad=True) * 2.0
    for kwargs, says in [
        ({"max_uses": 0}, "max_uses=0 (too small); use an integer ≥ 1"),
        ({"max_nodes": 2.5}, "max_nodes=2.5 (float)"),
        ({"collapse": -1}, "collapse=-1 (too small); use an integer ≥ 0"),
        ({"collapse": True}, "collapse=True (bool)"),
    ]:
        with pytest.raises(DomainError, match=re.escape(says)):
            to_dot(y, **kwargs)
    for timeout in (0, -1, "5", True):
        with pytest.raises(DomainError, match="timeout="):
            draw(y, tmp_path / "g.svg", timeout=timeout)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------- arguments
def test_bad_arguments_are_clear_errors():
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(DTypeError, match="Tensor or a list"):
        to_dot(np.ones(2))
    with pytest.raises(DomainError, match="at least one"):
        to_dot([])
    with pytest.raises(DomainError, match="LR"):
        to_dot(x * 2.0, rankdir="up")


def test_names_with_special_characters_stay_text():
    x = Tensor([1.0], requires_grad=True, name='<b>a\\b "q"</b>')
    source = to_dot(x * 2.0).source
    assert tensors(source)["t0"][0] == '<b>a\\b "q"</b>'


@needs_dot
def test_names_with_special_characters_are_escaped_in_svg(tmp_path):
    x = Tensor([1.0], requires_grad=True, name='<b>a\\b "q"</b>')
    svg = draw(x * 2.0, tmp_path / "g.svg").read_text(encoding="utf-8")
    assert "&lt;b&gt;a\\b &quot;q&quot;&lt;/b&gt;" in svg


def test_importing_the_package_does_not_import_graphviz():
    code = (
        "import sys, tinygrad_edu, tinygrad_edu.viz; "
        "assert 'graphviz' not in sys.modules, 'graphviz imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------- rendering
def svg_nodes(svg: bytes) -> list[str]:
    tree = ET.fromstring(svg)
    return [
        g.find(f"{SVG_NS}title").text
        for g in tree.iter(f"{SVG_NS}g")
        if g.get("class") == "node"
    ]


@needs_dot
def test_svg_has_one_node_group_per_dot_node(tmp_path):
    loss = example_loss(4, 3)
    path = draw(loss, tmp_path / "loss.svg", show_values=True)
    assert path == tmp_path / "loss.svg"
    assert sorted(svg_nodes(path.read_bytes())) == sorted(nodes(to_dot(loss).source))
    assert len(svg_nodes(path.read_bytes())) == 18
    assert os.listdir(tmp_path) == ["loss.svg"]  # no .gv, no temporary file


@needs_dot
def test_png_has_the_signature_and_a_plausible_size(tmp_path):
    path = draw(example_loss(4, 3), tmp_path / "loss.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 500 < width < 10000 and 100 < height < 5000
    assert width > height  # rankdir=LR: a wide picture


@needs_dot
def test_pdf_and_explicit_format(tmp_path):
    path = draw(example_loss(4, 3), tmp_path / "loss.pdf")
    assert path.read_bytes()[:5] == b"%PDF-"
    other = draw(example_loss(4, 3), tmp_path / "picture", format="SVG")
    assert ET.fromstring(other.read_bytes()).tag == f"{SVG_NS}svg"


@needs_dot
def test_draw_replaces_an_existing_file_and_creates_folders(tmp_path):
    target = tmp_path / "out" / "deeper" / "g.svg"
    x = Tensor([1.0], requires_grad=True)
    draw(x * 2.0, target)
    first = target.read_bytes()
    draw((x * 2.0).exp(), target)
    assert target.read_bytes() != first
    assert len(svg_nodes(target.read_bytes())) == 6  # x, 2.0, mul, exp + results
    assert os.listdir(target.parent) == ["g.svg"]


@needs_dot
def test_the_tensor_method_draws_the_same_picture_as_viz_draw(tmp_path):
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * 2.0).exp().sum()
    by_method = y.draw(tmp_path / "method.svg", show_values=True)
    by_function = draw(y, tmp_path / "function.svg", show_values=True)
    assert by_method == tmp_path / "method.svg"
    assert by_method.read_bytes() == by_function.read_bytes()
    assert y.draw(tmp_path / "g", format="dot").read_text().startswith("digraph")
    with pytest.raises(DomainError, match="svg, png, pdf"):
        y.draw(tmp_path / "g.bmp")


def test_draw_gives_the_file_the_usual_permissions(tmp_path):
    """0o666 minus the umask, as open() would: not mkstemp's owner-only 0o600."""
    x = Tensor([1.0], requires_grad=True)
    previous = os.umask(0o027)
    try:
        path = draw(x * 2.0, tmp_path / "g.dot")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["g.dot"]


def test_unknown_extension_lists_the_formats(tmp_path):
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(DomainError, match="svg, png, pdf"):
        draw(x * 2.0, tmp_path / "graph.jpeg")
    with pytest.raises(DomainError, match="svg, png, pdf"):
        draw(x * 2.0, tmp_path / "graph")
    assert os.listdir(tmp_path) == []


def test_missing_dot_says_how_to_install_it(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no dot anywhere: the real failure
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(GraphvizNotFoundError) as caught:
        draw(x * 2.0, tmp_path / "g.svg")
    message = str(caught.value)
    for hint in ("apt install graphviz", "brew install graphviz", "conda install"):
        assert hint in message
    assert "to_dot(...).source" in message
    assert isinstance(caught.value, RuntimeError)
    assert isinstance(caught.value, TinygradEduError)
    assert not (tmp_path / "g.svg").exists()
    # Without dot, the DOT text still works, and so does writing it.
    assert "op0" in to_dot(x * 2.0).source
    written = draw(x * 2.0, tmp_path / "g.dot")
    assert written.read_text(encoding="utf-8") == to_dot(x * 2.0).source


@needs_dot
def test_jupyter_displays_the_graph_as_svg():
    graph = to_dot(example_loss(4, 3))
    bundle = graph._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert len(svg_nodes(svg.encode("utf-8"))) == 18
    asked = graph._repr_mimebundle_(
        include=["image/png", "image/svg+xml"], exclude=["image/svg+xml"]
    )
    assert list(asked) == ["image/png"]
    assert asked["image/png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_jupyter_without_dot_shows_the_install_hint_and_the_source(monkeypatch):
    """A notebook shows text instead of raising graphviz's ExecutableNotFound."""
    import graphviz

    graph = to_dot(example_loss(4, 3))
    assert isinstance(graph, graphviz.Digraph)  # still the documented type
    monkeypatch.setenv("PATH", "")  # no dot anywhere: the real failure
    bundle = graph._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    text = bundle["text/plain"]
    for hint in ("apt install graphviz", "brew install graphviz", "conda install"):
        assert hint in text
    assert text.endswith(graph.source)  # the whole graph, as DOT text
    assert graph._repr_mimebundle_(include=[]) == {}  # nothing asked, nothing done


@pytest.mark.parametrize("has_dot", [True, False], ids=["dot", "no dot"])
def test_ipythons_own_display_formatter(has_dot, monkeypatch, request):
    formatters = pytest.importorskip("IPython.core.formatters")
    if has_dot:
        request.getfixturevalue("dot")
    else:
        monkeypatch.setenv("PATH", "")
    graph = to_dot(example_loss(4, 3))
    data, _ = formatters.DisplayFormatter().format(graph)
    if has_dot:
        assert len(svg_nodes(data["image/svg+xml"].encode("utf-8"))) == 18
    else:
        assert "image/svg+xml" not in data
        assert "apt install graphviz" in data["text/plain"]
        assert "op5 -> t11" in data["text/plain"]


# ------------------------------------------------- golden file and the docs
def test_golden_dot_of_the_two_layer_net_loss():
    source = to_dot(example_loss()).source
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(source, encoding="utf-8")
    assert source == GOLDEN.read_text(encoding="utf-8"), (
        "the TwoLayerNet graph changed; if that is intended, rerun with "
        "UPDATE_GOLDEN=1 and review the diff of tests/golden/two_layer_net_loss.dot"
    )


def svg_structure(svg: bytes) -> dict[str, list]:
    """What a picture shows, without where: node/edge/cluster titles and texts."""
    tree = ET.fromstring(svg)
    found: dict[str, list] = {"node": [], "edge": [], "cluster": [], "graph": []}
    for g in tree.iter(f"{SVG_NS}g"):
        kind = g.get("class")
        if kind in found:
            texts = [t.text for t in g.iter(f"{SVG_NS}text")]
            found[kind].append((g.find(f"{SVG_NS}title").text, texts))
    return {kind: sorted(items) for kind, items in found.items()}


@needs_dot
def test_the_docs_picture_is_current(tmp_path, capsys):
    # Compared by content, not bytes: coordinates depend on the fonts installed.
    fresh = tmp_path / "two_layer_net_loss.svg"
    argv = ["models.two_layer_net:example_loss", str(fresh), "--rankdir", "TB"]
    assert main([*argv, "--title", "TwoLayerNet loss (batch 100, hidden 50)"]) == 0
    assert capsys.readouterr().out.strip() == str(fresh)
    current = svg_structure(fresh.read_bytes())
    assert len(current["node"]) == 18 and len(current["cluster"]) == 3
    assert svg_structure(DOCS_SVG.read_bytes()) == current, (
        "docs/img/two_layer_net_loss.svg is out of date; regenerate it with "
        "python docs/make_figures.py graphs.md"
    )


@needs_dot
def test_rendering_is_deterministic(tmp_path):
    for name in ("a.svg", "b.svg"):
        assert main(["models.two_layer_net:example_loss", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


# ------------------------------------------------------------ command line
MYNET = """
import numpy as np
from tinygrad_edu import Tensor

def loss():
    w = Tensor(np.array([[0.5, -1.0], [2.0, 0.1]]), requires_grad=True, name="w")
    return (Tensor(np.ones((3, 2)), name="x") @ w).tanh().sum()

def pair():
    return loss(), loss()

def vector():
    return Tensor([1.0, 2.0], requires_grad=True) * 2.0

size = 1
"""


def run_viz(*args, cwd):
    """The real command, as a user runs it, in a folder that holds mynet.py."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_edu.viz", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a guard: a hang fails the test instead of the suite
    )


def test_the_command_draws_what_a_function_in_the_current_folder_returns(tmp_path):
    (tmp_path / "mynet.py").write_text(MYNET)
    done = run_viz("mynet:loss", "g.dot", "--show-grads", "--show-order", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "g.dot"
    source = (tmp_path / "g.dot").read_text(encoding="utf-8")
    assert "grad: [[" in source  # backward() ran: w's gradient is shown
    assert "backward step 3" in source
    colored = run_viz(
        "mynet:loss", "c.dot", "--color-by-grad", "--title", "Mine", cwd=tmp_path
    )
    assert colored.returncode == 0, colored.stderr
    text = (tmp_path / "c.dot").read_text(encoding="utf-8")
    assert "grad rms" in text and "vanishing" in text and "Mine" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["mynet", "g.dot"], "write MODULE:FUNCTION"),
        (["nomodule:loss", "g.dot"], "cannot import 'nomodule'"),
        (["mynet:missing", "g.dot"], "has no function 'missing'"),
        (["mynet:size", "g.dot"], "mynet.size is not a function"),
        (["mynet:vector", "g.dot", "--show-grads"], "one scalar Tensor"),
        (["mynet:vector", "g.dot", "--color-by-grad"], "scalar output"),
        (["mynet:loss", "g.bmp"], "supported formats"),
        (["mynet:loss", "g.dot", "--max-nodes", "0"], "max_nodes=0"),
    ],
)
def test_command_errors_are_one_line_and_status_1(tmp_path, args, message):
    (tmp_path / "mynet.py").write_text(MYNET)
    done = run_viz(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("g.*"))  # nothing written


@pytest.mark.parametrize(
    "where, message",
    [
        ("read_only", "read-only"),
        ("a_file/g.dot", "a file is where its folder would be"),
        ("a_folder.dot", "it is a folder; give a file name"),
    ],
)
def test_an_output_that_cannot_be_written_is_one_error_line(
    tmp_path, request, where, message
):
    (tmp_path / "mynet.py").write_text(MYNET)
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_folder.dot").mkdir()
    if where == "read_only":
        where = str(request.getfixturevalue("read_only_dir") / "g.dot")
    done = run_viz("mynet:loss", where, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert (
        done.stderr.startswith("error: draw: cannot write") and message in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_command_options_reach_to_dot(tmp_path, capsys, monkeypatch):
    (tmp_path / "mynet.py").write_text(MYNET)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "g.dot"
    argv = ["mynet:pair", str(out), "--show-values", "--rankdir", "TB", "--no-clusters"]
    assert main(argv) == 0
    source = out.read_text(encoding="utf-8")
    assert "rankdir=TB" in source and "[[1., 1.]," in source
    assert len(ops(source)) == 6  # both outputs of the pair
    with pytest.raises(SystemExit):  # argparse: a bad number is a usage error
        main(["mynet:loss", str(out), "--collapse", "x"])
    assert "--collapse" in capsys.readouterr().err


def test_an_import_error_inside_the_users_module_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "broken.py").write_text("import no_such_package\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_package"):
        main(["broken:loss", str(tmp_path / "g.dot")])


def test_without_dot_pytest_says_why_in_one_line_and_ci_fails(without_dot):
    """The fresh machine of issue 22: rendering tests skip, counted in one line
    of the summary; with TINYGRAD_EDU_REQUIRE_DOT=1 (CI) they fail instead."""
    rendering = "tests/test_viz.py::test_png_has_the_signature_and_a_plausible_size"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_EDU_REQUIRE_DOT"}
    fresh = subprocess.run(
        [*command, rendering], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert fresh.returncode == 0, fresh.stdout
    assert (
        "Graphviz's dot is not installed: 1 rendering test skipped; "
        "apt install graphviz / brew install graphviz"
    ) in fresh.stdout
    env["TINYGRAD_EDU_REQUIRE_DOT"] = "1"
    ci = subprocess.run(
        [*command, rendering], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ci.returncode == 1 and "1 error" in ci.stdout, ci.stdout  # at setup
    assert "TINYGRAD_EDU_REQUIRE_DOT=1 says rendering must be tested" in ci.stdout
