"""The exercise checker is itself checked: right code passes, planted mistakes fail."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import bad_ops
from tinygrad_edu.exercises.checker import TASKS, check, start, train
from tinygrad_edu.exercises.stubs import FILES

# Task 7 as a learner completes it: the stub's two bodies written.
PREDICT_STUB = GRADIENT_STUB = (
    '        raise NotImplementedError("see docs/tutorial/05_two_layer_net.md")\n'
)
PREDICT = """\
        a1 = Matmul.apply(x, p["W1"]) + p["b1"]
        return Matmul.apply(a1.sigmoid(), p["W2"]) + p["b2"]
"""
GRADIENT = """\
        p = self.tensors()
        backward(SoftmaxCrossEntropy.apply(self.predict(Tensor(x), p), Tensor(t)))
        return {k: tensor.grad.data for k, tensor in p.items()}
"""

SOLUTION = {
    "task1_numerical.py": (
        "from tinygrad_edu.numerical import numerical_diff, numerical_gradient\n"
    ),
    "task2_elementwise.py": "from tinygrad_edu.ops import Exp, Mul\n",
    "task3_broadcasting.py": "from tinygrad_edu.broadcasting import sum_to_shape\n",
    "task4_matmul.py": "from tinygrad_edu.ops import Matmul\n",
    "task5_softmax.py": "from tinygrad_edu.ops import Softmax, SoftmaxCrossEntropy\n",
    "task6_walk.py": "from tinygrad_edu.engine import backward, topological_order\n",
    "task7_two_layer_net.py": FILES[7][1]
    .replace(PREDICT_STUB, PREDICT, 1)
    .replace(GRADIENT_STUB, GRADIENT, 1),
}

# One planted mistake per task: (file, code, task, op the report must name).
MISTAKES = [
    (
        "task1_numerical.py",
        "from tinygrad_edu.numerical import numerical_gradient\n"
        "def numerical_diff(f, x, h=1e-4):\n    return (f(x + h) - f(x)) / h\n",
        1,
        "numerical_diff",
    ),
    (
        "task2_elementwise.py",
        "from tests.bad_ops import MulWithSwappedBackward as Mul\n"
        "from tinygrad_edu.ops import Exp\n",
        2,
        "Mul",
    ),
    (
        "task2_elementwise.py",
        "from tinygrad_edu import Function\nfrom tinygrad_edu.ops import Mul\n"
        "class Exp(Function):\n"
        "    @staticmethod\n    def forward(ctx, x):\n"
        "        import numpy as np\n        ctx.save_for_backward(x)\n"
        "        return np.exp(x)\n"
        "    @staticmethod\n    def backward(ctx, grad):\n"
        "        (x,) = ctx.saved_tensors\n        return grad * x\n",
        2,
        "Exp",
    ),
    (
        "task3_broadcasting.py",
        "import numpy as np\ndef sum_to_shape(x, shape):\n"
        "    return x.sum(axis=tuple(range(x.ndim - len(shape))))\n",
        3,
        "sum_to_shape",
    ),
    (
        "task4_matmul.py",
        "from tinygrad_edu import Function\n"
        "class Matmul(Function):\n"
        "    @staticmethod\n    def forward(ctx, x, w):\n"
        "        ctx.save_for_backward(x, w)\n        return x @ w\n"
        "    @staticmethod\n    def backward(ctx, grad):\n"
        "        x, w = ctx.saved_tensors\n"
        "        return grad @ w, x @ grad\n",
        4,
        "Matmul",
    ),
]


# The walk as a learner writes it (task 6), for the plants in tasks 6 and 7.
WALK = """\
import numpy as np

from tinygrad_edu import Tensor
from tinygrad_edu.engine import topological_order
from tinygrad_edu.exercises import run_rule


def backward(root):
    grads = {root: Tensor(np.ones(root.shape))}
    for t in reversed(topological_order(root)):
        for x, g in run_rule(t, grads.pop(t)):
            if x._node is not None:
                grads[x] = grads[x] + g if x in grads else g
            elif x.grad is None:
                x.grad = g
            else:
                x.grad = x.grad + g
        t._node.release()
"""
BREADTH_FIRST = """
def topological_order(root):
    order, queue, seen = [], [root], {root}
    while queue:
        t = queue.pop(0)
        order.append(t)
        for x in t._node.inputs:
            if x._node is not None and x not in seen:
                seen.add(x)
                queue.append(x)
    return order[::-1]
"""
RECURSIVE = """
def topological_order(root):
    order, seen = [], set()

    def visit(t):
        if t._node is not None and t not in seen:
            seen.add(t)
            for x in t._node.inputs:
                visit(x)
            order.append(t)

    visit(root)
    return order
"""
# Runs a rule each time a gradient reaches it: right values, rules run twice.
PUSH_WALK = """\
import numpy as np

from tinygrad_edu import Tensor
from tinygrad_edu.engine import topological_order
from tinygrad_edu.exercises import run_rule


def backward(root):
    stack = [(root, Tensor(np.ones(root.shape)))]
    while stack:
        t, g = stack.pop()
        for x, gx in run_rule(t, g):
            if x._node is None:
                x.grad = gx if x.grad is None else x.grad + gx
            else:
                stack.append((x, gx))
"""
_TOPO_IMPORT = "from tinygrad_edu.engine import topological_order\n"
UNSTABLE_SOFTMAX = """\
import numpy as np

from tinygrad_edu import Function
from tinygrad_edu.ops import SoftmaxCrossEntropy


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, *, axis=-1):
        e = np.exp(x)  # the mistake: overflows at x ~ 710
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return out * (grad - (grad * out).sum(axis=ctx.axis, keepdims=True))
"""
WITHOUT_N = """\
from tinygrad_edu.ops import Softmax
from tinygrad_edu.ops import SoftmaxCrossEntropy as Reference


class SoftmaxCrossEntropy(Reference):
    @staticmethod
    def backward(ctx, grad):
        grad_x, grad_t = Reference.backward(ctx, grad)
        x = ctx.saved_tensors[0]
        return grad_x * (len(x) if x.ndim == 2 else 1), grad_t  # the mistake
"""
TASK7 = SOLUTION["task7_two_layer_net.py"]
LATER_MISTAKES = [
    ("task5_softmax.py", UNSTABLE_SOFTMAX, 5, "Softmax"),
    ("task5_softmax.py", WITHOUT_N, 5, "SoftmaxCrossEntropy"),
    (
        "task5_softmax.py",
        "from tests.bad_ops import SoftmaxCrossEntropyWithoutTheTargetSum as "
        "SoftmaxCrossEntropy\nfrom tinygrad_edu.ops import Softmax\n",
        5,
        "SoftmaxCrossEntropy",
    ),
    ("task6_walk.py", WALK.replace("x.grad = x.grad + g", "x.grad = g"), 6, "backward"),
    (
        "task6_walk.py",
        WALK.replace(_TOPO_IMPORT, BREADTH_FIRST),
        6,
        "topological_order",
    ),
    ("task6_walk.py", WALK.replace(_TOPO_IMPORT, RECURSIVE), 6, "topological_order"),
    ("task6_walk.py", PUSH_WALK, 6, "backward"),
    (
        "task7_two_layer_net.py",
        TASK7.replace(
            "p = self.tensors()", "p = vars(self).setdefault('p', self.tensors())"
        ),
        7,
        "gradient",
    ),
    (
        "task7_two_layer_net.py",
        TASK7.replace("backward(SoftmaxCrossEntropy", "(SoftmaxCrossEntropy").replace(
            "Tensor(t)))", "Tensor(t))).backward()"
        ),
        7,
        "gradient",
    ),
]
# What the reports of the plants above must say, besides the task and op.
EXPECTED_WORDS = [
    "subtract each row's max",
    "N times too big",
    "sums to 1",
    "(.grad written at task6_walk.py:17)",
    "exp comes before its input mul",
    "RecursionError on a chain",
    "ran 3 times",
    "on the second call",
    "did not use your backward walk",
]


def _workspace(tmp_path: Path, **replace: str) -> Path:
    start(tmp_path)
    for name, code in {**SOLUTION, **replace}.items():
        (tmp_path / name).write_text(code)
    return tmp_path


def test_solution_passes_every_task(tmp_path):
    passed, report = check(_workspace(tmp_path))
    assert passed, report
    assert report.count("☆✓") == 3  # second order, for the three op tasks
    assert report.count("✓") == 7 + 3


@pytest.mark.parametrize("name, code, task, op", MISTAKES)
def test_planted_mistake_fails_the_right_task_and_op(tmp_path, name, code, task, op):
    workspace = _workspace(tmp_path, **{name: code})
    passed, report = check(workspace)
    assert not passed
    failing = [line for line in report.splitlines() if line.startswith("task ")]
    assert failing and all(line.startswith(f"task {task} ") for line in failing), report
    assert all(f"op {op}:" in line for line in failing), report
    assert f"✗ task {task}:" in report
    for other in range(1, task):
        assert f"✓ task {other}:" in report


# Tasks 5-7 are checked alone (the tasks before them are the solution's, which
# pass); their files carry the learner's walk, so task 7 runs on it.
@pytest.mark.parametrize(
    "name, code, task, op, words",
    [(*m, w) for m, w in zip(LATER_MISTAKES, EXPECTED_WORDS, strict=True)],
    ids=EXPECTED_WORDS,
)
def test_later_planted_mistake_fails_its_task_naming_its_op(
    tmp_path, name, code, task, op, words
):
    workspace = _workspace(tmp_path, **{"task6_walk.py": WALK, name: code})
    passed, report = check(workspace, task)
    assert not passed
    failing = [line for line in report.splitlines() if line.startswith("task ")]
    assert len(failing) == 1 and failing[0].startswith(f"task {task} "), report
    assert f"op {op}:" in failing[0], report
    assert words in report, report
    assert f"✗ task {task}:" in report


# Task 5 as a learner may write it from the stub's docstrings alone: right, and
# stable; its backward computes on arrays, so only the bonus fails.
LEARNER_SOFTMAX = """\
import numpy as np

from tinygrad_edu import Function, Tensor


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, *, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))


class SoftmaxCrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, t):
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        shifted = rows - rows.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        if t.dtype.kind == "f":
            weights = t.reshape(rows.shape)
        else:
            weights = np.eye(rows.shape[1], dtype=x.dtype)[t.reshape(-1)]
        ctx.save_for_backward(x, t)
        ctx.log_p, ctx.weights = log_p, weights
        return np.asarray(-(weights * log_p).sum() / len(rows), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved_tensors
        n = len(ctx.log_p)
        p, w = Tensor(np.exp(ctx.log_p)), Tensor(ctx.weights)
        grad_x = (p * w.sum(axis=1, keepdims=True) - w) * grad / n
        grad_t = None
        if t.dtype.kind == "f":
            grad_t = (-Tensor(ctx.log_p) * grad / n).reshape(t.shape)
        return grad_x.reshape(x.shape), grad_t
"""


def test_learner_softmax_passes_task_5(tmp_path):
    workspace = _workspace(tmp_path, **{"task5_softmax.py": LEARNER_SOFTMAX})
    passed, report = check(workspace, 5)
    assert passed, report
    assert "bonus (second derivatives), op SoftmaxCrossEntropy:" in report
    assert "op Softmax:" not in report


def test_learner_walk_passes(tmp_path):
    passed, report = check(_workspace(tmp_path, **{"task6_walk.py": WALK}), 6)
    assert passed, report


def test_stubs_say_where_to_read_and_exit_nonzero(tmp_path):
    start(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_edu.exercises", "check", str(tmp_path), "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "not written yet (task2_elementwise.py:" in run.stdout
    assert "docs/tutorial/04_backprop.md" in run.stdout


def exercises(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_edu.exercises", *argv],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_commands_common_mistakes_are_one_line_not_a_traceback(tmp_path):
    start(tmp_path / "ws")
    stub = exercises("train", str(tmp_path / "ws"), "--iterations", "3")
    assert stub.returncode == 1 and "Traceback" not in stub.stderr
    assert stub.stdout.startswith("error: training stopped: NotImplementedError")
    assert f"exercises check {tmp_path / 'ws'}" in stub.stdout
    (tmp_path / "a_file").write_text("")
    in_the_way = exercises("start", str(tmp_path / "a_file"))
    assert in_the_way.returncode == 1 and "Traceback" not in in_the_way.stderr
    assert in_the_way.stdout.startswith("error: start: cannot write")
    negative = exercises("train", str(tmp_path / "ws"), "--iterations", "-5")
    assert negative.returncode == 2
    assert "--iterations must be a positive integer, got -5" in negative.stderr


def test_syntax_error_is_a_message_not_a_traceback(tmp_path):
    workspace = _workspace(tmp_path, **{"task3_broadcasting.py": "def f(:\n"})
    passed, report = check(workspace, 3)
    assert not passed
    assert "task3_broadcasting.py:1: syntax error" in report


def test_detached_backward_fails_only_the_bonus(tmp_path):
    detached = (
        "import numpy as np\nfrom tinygrad_edu import Function, Tensor\n"
        "from tinygrad_edu.ops import Mul\n"
        "class Exp(Function):\n"
        "    @staticmethod\n    def forward(ctx, x):\n"
        "        out = np.exp(x)\n        ctx.save_for_backward(out)\n"
        "        return out\n"
        "    @staticmethod\n    def backward(ctx, grad):\n"
        "        (out,) = ctx.saved_tensors\n"
        "        return grad * Tensor(out.data)\n"
    )
    passed, report = check(_workspace(tmp_path, **{"task2_elementwise.py": detached}))
    assert passed, report
    assert "☆✗ task 2: bonus" in report
    assert "bonus (second derivatives), op Exp:" in report
    assert "op Mul" not in report


# Every entry of tests/bad_ops.py whose op is a task's: the row that must fail
# (the task itself, or its bonus for a second-order-only bug).
BAD_OPS = {
    "MulWithSwappedBackward": ("Mul", "task 2 (elementwise ops)"),
    "MulThatFindsItsSavedArraysBySearch": ("Mul", "bonus (second derivatives)"),
    "MulWrongForOneTensorTwice": ("Mul", "task 2 (elementwise ops)"),
    "MulWrongInFloat32Only": ("Mul", "task 2 (elementwise ops)"),
    "ExpThatWritesIntoItsInput": ("Exp", "task 2 (elementwise ops)"),
    "ExpThatUpcasts": ("Exp", "task 2 (elementwise ops)"),
    "SoftmaxCrossEntropyWithoutTheTargetSum": (
        "SoftmaxCrossEntropy",
        "task 5 (softmax and cross entropy)",
    ),
}
# The other entries, and why no task can take them.
NOT_A_TASK_OP = {
    "SquareWithDetachedBackward": "square is no task's op",
    "AddThatForgetsAnInput": "add is no task's op",
    "DoubleThatForgetsTheTwo": "no task has y = 2x",
    "TanhWhoseBackwardCountsItsCalls": "tanh is no task's op",
    "SquareThatForgetsTheTwo": "square is no task's op",
    "TransposeWithoutNormalisingAxes": "transpose is no task's op",
    "PowWithoutTheGuardAtZero": "pow is no task's op",
    "CastThatKeepsTheGraph": "overrides apply, which no workspace file writes",
    "MulThatDifferentiatesIntegerOperands": "overrides apply, which no workspace"
    " file writes",
    "SquareWhoseBackwardUsesData": "square is no task's op",
    "MulWrongWhenOnlyTheSecondNeedsAGradient": "the library's property finds it "
    "(test_ops); the checker's 25 examples per task can miss needs_input_grad "
    "(False, True)",
    "SigmoidThatSavesAnArrayItComputed": "sigmoid is no task's op",
    "IdentityWithASlightlyWrongGradient": "identity is no task's op",
    "AddWithTheBiasGradientTooSmall": "add is no task's op",
    "SoftplusThatSaturatesTooEarly": "softplus is no task's op",
    "WhereThatSendsTheGradientToBoth": "where is no task's op",
    "Col2imThatForgetsOverlappingWindows": "col2im is no task's op",
    "Col2imThatReadsChannelsLast": "col2im is no task's op",
    "MaxThatGivesEveryTieTheWholeGradient": "max is no task's op",
    "MaxThatScalesACopyOfItsShares": "max is no task's op",
    "BatchNorm1dWithDetachedStatistics": "a Module, not an op",
    "Cube": "right, not bad: the custom-op tests' fixture",
}


def test_every_bad_op_is_accounted_for():
    defined = {
        name
        for name, value in vars(bad_ops).items()
        if inspect.isclass(value) and value.__module__ == bad_ops.__name__
    }
    assert defined == set(BAD_OPS) | set(NOT_A_TASK_OP)


def _task_of_op(op: str) -> int:
    return next(t for t, (_, run) in TASKS.items() if op in getattr(run, "ops", []))


@pytest.mark.parametrize("bad", sorted(BAD_OPS))
def test_each_bad_op_fails_the_right_row_naming_it(tmp_path, bad):
    op, row = BAD_OPS[bad]
    task = _task_of_op(op)
    others = [o for o in TASKS[task][1].ops if o != op]
    code = f"from tests.bad_ops import {bad} as {op}\n"
    code += "".join(f"from tinygrad_edu.ops import {o}\n" for o in others)
    workspace = _workspace(tmp_path, **{FILES[task][0]: code})
    passed, report = check(workspace, task)
    assert passed == row.startswith("bonus"), report
    assert f"{row}, op {op}:" in report, report
    assert not any(f"op {o}:" in report for o in others), report


# A vacuous backward, on top of the library's forward: zeros, or the forward's
# value. Each fails its op's task.
VACUOUS = """\
import numpy as np

from tinygrad_edu import Tensor
from tinygrad_edu.ops import {op} as Reference


class {op}(Reference):
    @staticmethod
    def forward(ctx, *arrays, **params):
        out = Reference.forward(ctx, *arrays, **params)
        ctx.out, ctx.shapes = Tensor(out), [np.shape(a) for a in arrays]
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple({grad} for shape in ctx.shapes)
"""


@pytest.mark.parametrize("grad", ["Tensor(np.zeros(shape))", "ctx.out"])
@pytest.mark.parametrize(
    "op", ["Mul", "Exp", "Matmul", "Softmax", "SoftmaxCrossEntropy"]
)
def test_vacuous_backward_fails_its_task(tmp_path, op, grad):
    task = _task_of_op(op)
    others = "".join(
        f"from tinygrad_edu.ops import {o}\n" for o in TASKS[task][1].ops if o != op
    )
    code = others + VACUOUS.format(op=op, grad=grad)
    passed, report = check(_workspace(tmp_path, **{FILES[task][0]: code}), task)
    assert not passed, report
    failing = [line for line in report.splitlines() if line.startswith("task ")]
    assert failing and all(f"op {op}:" in line for line in failing), report


def test_an_import_that_fails_is_a_message_naming_the_line(tmp_path):
    code = "import numpy as np\nfrom solution import Mul, Exp\n"
    workspace = _workspace(tmp_path, **{"task2_elementwise.py": code})
    passed, report = check(workspace, 2)
    assert not passed
    assert report.startswith(
        "task 2 (elementwise ops): task2_elementwise.py:2: No module named 'solution'"
    ), report
    assert "Traceback" not in report


def test_a_missing_function_is_a_message(tmp_path):
    code = "from tinygrad_edu.ops import Mul\n"
    passed, report = check(_workspace(tmp_path, **{"task2_elementwise.py": code}), 2)
    assert not passed
    assert "task2_elementwise.py defines no Exp;" in report, report


def test_the_library_own_op_is_named_as_such(tmp_path):
    passed, report = check(_workspace(tmp_path), 4)
    assert passed, report
    assert "note: task 4's Matmul is the library's own" in report


def test_check_writes_nothing_outside_the_workspace(tmp_path):
    workspace = _workspace(tmp_path / "my_engine")
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    before = sorted(p for p in tmp_path.rglob("*") if workspace not in p.parents)
    env = {**os.environ, "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = str(Path(__file__).parents[1])
    run = subprocess.run(
        [sys.executable, "-m", "tinygrad_edu.exercises", "check", str(workspace), "2"],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    after = sorted(p for p in tmp_path.rglob("*") if workspace not in p.parents)
    assert after == before


def test_a_short_run_of_the_books_loop_learns(tmp_path):
    """The full run (10,000 iterations) reaches 0.947; 300 show it learning."""
    result = train(_workspace(tmp_path, **{"task6_walk.py": WALK}), 300)
    assert result.loss_after < result.loss_before - 0.4, result
    assert result.test_accuracy > 0.3, result


# A forward that is wrong in a way its own backward agrees with: d/dx 2eˣ is
# 2eˣ, the output, so every gradient check passes; only the forward is wrong.
DOUBLED_EXP = (
    "import numpy as np\n"
    "from tinygrad_edu import Function\nfrom tinygrad_edu.ops import Mul\n"
    "class Exp(Function):\n"
    "    @staticmethod\n    def forward(ctx, x):\n"
    "        out = 2 * np.exp(x)\n"
    "        ctx.save_for_backward(out)\n"
    "        return out\n"
    "    @staticmethod\n    def backward(ctx, grad):\n"
    "        (out,) = ctx.saved_tensors\n        return grad * out\n"
)


def test_a_wrong_forward_that_its_backward_agrees_with_fails_naming_the_forward(
    tmp_path,
):
    workspace = _workspace(tmp_path, **{"task2_elementwise.py": DOUBLED_EXP})
    passed, report = check(workspace, 2)
    assert not passed
    failing = [line for line in report.splitlines() if line.startswith("task ")]
    assert failing and all(
        line.startswith("task 2 ") and "op Exp:" in line for line in failing
    )
    assert "where the library gives" in report, report
    assert "your forward returned it at task2_elementwise.py:" in report, report
