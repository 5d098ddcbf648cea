"""How long drawing a graph takes, against its size: ``to_dot`` and then ``dot``.

The graph is the unrolled chain ``y = tanh(y * w)`` of issue 25, whose shared
``w`` (or shared constant) made ``dot`` run for minutes when it was drawn as
one node. ``dot``'s time is that of the child process (user + system CPU,
which a busy machine inflates less than wall time); the ratio rows compare
two layouts of the same graph, measured one after the other.
"""

from __future__ import annotations

import resource
import subprocess
import time
from typing import Any

import numpy as np

from tinygrad_edu import Tensor, name_scope
from tinygrad_edu.viz import MAX_NODES, MAX_USES, GraphTooLargeError, to_dot

Row = dict[str, Any]


def chain(steps: int, shared: str) -> Tensor:
    """tanh(y * w) ``steps`` times (2 ops each), by a weight or a Python number."""
    y = Tensor(np.array([0.5]), requires_grad=True, name="x")
    by: Tensor | float = 1.0001
    if shared == "weight":
        by = Tensor(np.array([0.9]), requires_grad=True, name="w")
    for _ in range(steps):
        y = (y * by).tanh()
    return y


def dot_seconds(source: str, timeout: float = 600) -> float:
    """CPU seconds of ``dot -Tsvg`` laying out and writing this DOT text."""

    def children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before = children()
    subprocess.run(
        ["dot", "-Tsvg"],
        input=source.encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=timeout,
    )
    return children() - before


def render_time(steps: int, shared: str, once: bool = False) -> Row:
    """One chain drawn: its size, the seconds of ``to_dot`` and of ``dot``.

    ``once`` draws the shared tensor as one node (``max_uses=None``), as
    before issue 25, instead of beside each op that uses it.
    """
    y = chain(steps, shared)
    start = time.perf_counter()
    source = to_dot(y, max_nodes=None, max_uses=None if once else MAX_USES).source
    built = time.perf_counter() - start
    nodes = source.count(" [label=")
    seconds = dot_seconds(source)
    return {
        "benchmark": "drawing a chain (to_dot, dot -Tsvg)",
        "case": f"{2 * steps} ops, a shared {shared}{', drawn once' if once else ''}",
        "nodes": nodes,
        "to_dot_s": built,
        "dot_s": seconds,
        "dot_us_per_node": seconds / nodes * 1e6,
    }


def once_against_per_use(steps: int) -> Row:
    """dot's time for the shared weight drawn once (one node with an edge into
    every step) against drawn beside each use, the default."""
    once = render_time(steps, "weight", once=True)["dot_s"]
    per_use = render_time(steps, "weight")["dot_s"]
    return {
        "benchmark": "dot's time, shared weight drawn once / per use",
        "case": f"{2 * steps} ops",
        "once_s": once,
        "per_use_s": per_use,
        "ratio": once / per_use,
    }


def over_the_budget() -> list[Row]:
    """20,000 ops: the refusal without name scopes, the collapsed view with them."""
    y = chain(10_000, "constant")
    start = time.perf_counter()
    try:
        to_dot(y)
    except GraphTooLargeError:
        refused = time.perf_counter() - start
    else:
        raise AssertionError("a 20,000-op chain fitted in the node budget")
    w = Tensor(np.array([0.9]), requires_grad=True, name="w")
    h = Tensor(np.array([0.5]), name="h0")
    for step in range(100):
        with name_scope(f"step {step}"):
            for _ in range(100):
                h = (h * w).tanh()
    start = time.perf_counter()
    source = to_dot(h).source
    built = time.perf_counter() - start
    return [
        {
            "benchmark": "a graph over the budget",
            "case": f"20,000 ops, no name scopes (max_nodes={MAX_NODES})",
            "seconds_to_the_error": refused,
        },
        {
            "benchmark": "a graph over the budget",
            "case": "20,000 ops in 100 name scopes: collapsed",
            "nodes": source.count(" [label="),
            "to_dot_s": built,
            "dot_s": dot_seconds(source),
        },
    ]


def drawing(quick: bool) -> list[Row]:
    """The rows of ``python -m benchmarks`` (it needs Graphviz's ``dot``)."""
    sizes = (50, 500) if quick else (50, 250, 500, 1000, 2000)
    rows = [render_time(steps, "weight") for steps in sizes]
    rows.append(render_time(500, "constant"))
    rows.append(once_against_per_use(25 if quick else 75))
    rows.extend(over_the_budget())
    return rows
