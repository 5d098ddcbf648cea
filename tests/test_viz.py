"""Graph drawing: the DOT text mirrors the recorded graph; rendering uses the real dot.

The DOT text is parsed back (node statements, edges, cluster nesting) and
compared with what was recorded. Rendering runs the real ``dot`` program; a
missing one is produced for real by emptying ``PATH``.
"""

import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from models.mlp import MLP
from models.two_layer_net import TwoLayerNet
from tinygrad_edu import DomainError, DTypeError, GraphError, Tensor, TinygradEduError
from tinygrad_edu import grad as autograd
from tinygrad_edu.engine import name_scope, topological_order
from tinygrad_edu.viz import (
    GraphvizNotFoundError,
    draw,
    main,
    to_dot,
    two_layer_net_loss,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "two_layer_net_loss.dot"
DOCS_SVG = ROOT / "docs" / "img" / "two_layer_net_loss.svg"
SVG_NS = "{http://www.w3.org/2000/svg}"

# Rendering tests skip without dot, or fail where it is required (conftest.py).
needs_dot = pytest.mark.usefixtures("dot")

NODE = re.compile(r"^\s*((?:t|op)\d+) \[(.*)\]$", re.MULTILINE)
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
        elif match := NODE.match(line):
            result[match.group(1)] = tuple(path)
    return result


def op_names(source: str) -> list[str]:
    return [lines[0] for lines in ops(source).values()]


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
    loss = two_layer_net_loss(8, 5)
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


def models_two_layer_net_loss(batch_size: int = 100, hidden_size: int = 50) -> Tensor:
    """The loss graph of models.TwoLayerNet, as the training command draws it."""
    rng = np.random.default_rng(1)
    net = TwoLayerNet(784, hidden_size, 10, rng=rng)
    x, t = rng.random((batch_size, 784)), rng.integers(0, 10, batch_size)
    return net.loss_graph(x, t)[0]


@pytest.mark.parametrize("batch_size, hidden_size", [(100, 50), (3, 4)])
def test_the_library_builder_records_the_models_graph(batch_size, hidden_size):
    """viz.two_layer_net_loss (for users without models/) is models.TwoLayerNet's."""
    from_models = to_dot(models_two_layer_net_loss(batch_size, hidden_size)).source
    from_library = to_dot(two_layer_net_loss(batch_size, hidden_size)).source
    assert from_library == from_models
    where = scopes(from_models)
    by_name = {
        lines[0]: k for k, lines in {**ops(from_models), **tensors(from_models)}.items()
    }
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
    first = to_dot(two_layer_net_loss(4, 3)).source
    second = to_dot(two_layer_net_loss(4, 3)).source
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
    loss = two_layer_net_loss(4, 3)
    source = to_dot(loss, show_order=True).source
    drawn = sorted(ops(source).values(), key=lambda lines: int(lines[-1].split()[-1]))
    assert [lines[0] for lines in drawn] == [
        t._node.op_name for t in topological_order(loss)
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
    loss = two_layer_net_loss(4, 3)
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
    loss = two_layer_net_loss(4, 3)
    path = draw(loss, tmp_path / "loss.svg", show_values=True)
    assert path == tmp_path / "loss.svg"
    assert sorted(svg_nodes(path.read_bytes())) == sorted(nodes(to_dot(loss).source))
    assert len(svg_nodes(path.read_bytes())) == 18
    assert os.listdir(tmp_path) == ["loss.svg"]  # no .gv, no temporary file


@needs_dot
def test_png_has_the_signature_and_a_plausible_size(tmp_path):
    path = draw(two_layer_net_loss(4, 3), tmp_path / "loss.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 500 < width < 10000 and 100 < height < 5000
    assert width > height  # rankdir=LR: a wide picture


@needs_dot
def test_pdf_and_explicit_format(tmp_path):
    path = draw(two_layer_net_loss(4, 3), tmp_path / "loss.pdf")
    assert path.read_bytes()[:5] == b"%PDF-"
    other = draw(two_layer_net_loss(4, 3), tmp_path / "picture", format="SVG")
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
    bundle = to_dot(two_layer_net_loss(4, 3))._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert len(svg_nodes(svg.encode("utf-8"))) == 18


def test_jupyter_without_dot_shows_the_install_hint_and_the_source(monkeypatch):
    """A notebook shows text instead of raising graphviz's ExecutableNotFound."""
    import graphviz

    graph = to_dot(two_layer_net_loss(4, 3))
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
    graph = to_dot(two_layer_net_loss(4, 3))
    data, _ = formatters.DisplayFormatter().format(graph)
    if has_dot:
        assert len(svg_nodes(data["image/svg+xml"].encode("utf-8"))) == 18
    else:
        assert "image/svg+xml" not in data
        assert "apt install graphviz" in data["text/plain"]
        assert "op5 -> t11" in data["text/plain"]


# ------------------------------------------------- golden file and the docs
def test_golden_dot_of_the_two_layer_net_loss():
    source = to_dot(models_two_layer_net_loss()).source
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
    assert main([str(fresh)]) == 0
    assert capsys.readouterr().out.strip() == str(fresh)
    current = svg_structure(fresh.read_bytes())
    assert len(current["node"]) == 18 and len(current["cluster"]) == 3
    assert svg_structure(DOCS_SVG.read_bytes()) == current, (
        "docs/img/two_layer_net_loss.svg is out of date; regenerate it with "
        "python docs/make_figures.py graphs.md"
    )


@needs_dot
def test_rendering_is_deterministic(tmp_path):
    assert main([str(tmp_path / "a.svg")]) == 0
    assert main([str(tmp_path / "b.svg")]) == 0
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_cli_options_and_errors(tmp_path, capsys):
    out = tmp_path / "g.dot"  # DOT text: works with or without dot
    assert main([str(out), "--batch", "3", "--hidden", "4", "--show-grads"]) == 0
    source = out.read_text(encoding="utf-8")
    assert "x\\n(3, 784) float64" in source
    assert "grad: norm" in source  # W1's gradient after backward()
    assert "TwoLayerNet loss (batch 3, hidden 4)" in source
    assert main([str(tmp_path / "g.bmp")]) == 1
    assert "supported formats" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(out), "--batch", "0"])
