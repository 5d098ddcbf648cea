"""Grade a workspace with the library's own checks; name the task, op and mistake."""

from __future__ import annotations

import importlib.util
import inspect
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings

from tinygrad_edu import ops
from tinygrad_edu.broadcasting import sum_to_shape
from tinygrad_edu.exercises.stubs import FILES
from tinygrad_edu.testing import gradient_test

# Derandomized: the same workspace always gets the same verdict.
CHECK_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class WorkspaceError(Exception):
    """A workspace file could not be loaded (syntax error, missing file...)."""


def load(workspace: Path, task: int) -> ModuleType:
    """Import the learner's file for ``task``, turning load errors into a message."""
    path = workspace / FILES[task][0]
    if not path.exists():
        raise WorkspaceError(f"{path.name} is missing; run `start` again to restore it")
    spec = importlib.util.spec_from_file_location(f"_workspace_task{task}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise WorkspaceError(
            f"{path.name}:{error.lineno}: syntax error: {error.msg}"
        ) from None
    return module


def _where(error: BaseException, workspace: Path) -> str:
    """The learner's own file:line deepest in the traceback, if any."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if Path(f.filename).resolve().parent == workspace.resolve()
    ]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


def _task1(module: ModuleType) -> list[tuple[str, str]]:
    failures = []
    got = module.numerical_diff(lambda x: x**3, 2.0)
    if not np.isclose(got, 12.0, rtol=1e-6):
        failures.append(("numerical_diff", f"d/dx x**3 at 2: got {got}, expected 12"))
    for shape in [(3,), (2, 3), (2, 1, 3)]:
        x = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
        before = x.copy()
        grad = module.numerical_gradient(lambda a: float(np.sum(a**2)), x)
        if np.shape(grad) != shape or not np.allclose(grad, 2 * before, rtol=1e-6):
            failures.append(
                (
                    "numerical_gradient",
                    f"gradient of sum(x**2) at shape {shape}: got {grad!r}, "
                    f"expected {2 * before!r}",
                )
            )
            break
        if not np.array_equal(x, before):
            failures.append(
                ("numerical_gradient", "x was not restored after perturbing")
            )
            break
    return failures


# The commonest mistake per op, shown under its failure.
HINTS = {
    "Mul": "dz/dx is y and dz/dy is x: are the two gradients swapped?",
    "Exp": "d/dx exp(x) is exp(x), the OUTPUT: did you use the input instead?",
    "Matmul": "for z = x @ w: dx = grad @ w.T and dw = x.T @ grad (not transposed"
    " the other way)",
}


def _op_failures(module: ModuleType, names: list[str], second_order: bool) -> list:
    """Run the library's property test on each learner op; (op, report) per failure."""
    failures = []
    for name in names:
        learner = getattr(module, name)
        reference = getattr(ops, name)
        learner.domain, learner.signature = reference.domain, reference.signature
        test = gradient_test(
            learner, second_order=second_order, hypothesis_settings=CHECK_SETTINGS
        )
        try:
            test()
        except NotImplementedError:
            raise
        except Exception as error:  # any failure is the learner's: report it
            failures.append((name, _report(learner, name, error)))
    return failures


def _report(learner: type, name: str, error: Exception) -> str:
    """The check's first line, where the learner's backward is, and the hint."""
    code = learner.backward
    where = f"{Path(inspect.getsourcefile(code)).name}:"
    where += str(inspect.getsourcelines(code)[1])
    first = str(error).splitlines()[0]
    return f"{first}\n    backward at {where}; hint: {HINTS[name]}"


def _op_task(names: list[str]) -> Callable[[ModuleType], list[tuple[str, str]]]:
    def run(module: ModuleType) -> list[tuple[str, str]]:
        return _op_failures(module, names, second_order=False)

    run.ops = names
    return run


# Shapes chosen, not drawn: every kind of broadcast axis is always covered.
_SUM_CASES = [
    ((2, 3), (3,)),
    ((2, 3), (1, 3)),
    ((2, 3), (2, 1)),
    ((4, 2, 3), (2, 1)),
    ((2, 3), (2, 3)),
    ((2, 3), ()),
]


def _task3(module: ModuleType) -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    for big, small in _SUM_CASES:
        x = rng.normal(size=big)
        got, expected = module.sum_to_shape(x, small), sum_to_shape(x, small)
        if np.shape(got) != small or not np.allclose(got, expected):
            hint = (
                "hint: sum over the leading axes AND the axes where the shape has 1"
                " (keepdims)"
            )
            return [
                (
                    "sum_to_shape",
                    f"from {big} to {small}: got shape "
                    f"{np.shape(got)}, expected {small}; {hint}",
                )
            ]
    return []


TASKS: dict[int, tuple[str, Callable[[ModuleType], list[tuple[str, str]]]]] = {
    1: ("numerical differentiation", _task1),
    2: ("elementwise ops", _op_task(["Mul", "Exp"])),
    3: ("broadcasting", _task3),
    4: ("matmul", _op_task(["Matmul"])),
}


def check(workspace: Path, only: int | None = None) -> tuple[bool, str]:
    """Run the tasks (all, stopping at the first failure, or ``only``); a report."""
    lines: list[str] = []
    table: list[tuple[int, str, str]] = []
    for task in [only] if only else sorted(TASKS):
        title, run = TASKS[task]
        mark = "✗"
        try:
            failures = run(load(workspace, task))
        except WorkspaceError as error:
            lines.append(f"task {task} ({title}): {error}")
        except NotImplementedError as error:
            where = _where(error, workspace)
            lines.append(f"task {task} ({title}): not written yet ({where}): {error}")
        except Exception as error:  # the learner's code raised: say where
            where = _where(error, workspace)
            lines.append(
                f"task {task} ({title}): {type(error).__name__} at {where}: {error}"
            )
        else:
            for op, detail in failures:
                lines.append(f"task {task} ({title}), op {op}: {detail}")
            mark = "✗" if failures else "✓"
        table.append((task, title, mark))
        if mark == "✓" and hasattr(run, "ops"):
            table.append(
                (task, "bonus: second derivatives", _bonus(run, workspace, lines))
            )
        if mark == "✗" and only is None:
            break
    lines += [f"{mark} task {task}: {title}" for task, title, mark in table]
    required = [mark for _, _, mark in table if not mark.startswith("☆")]
    wanted = 1 if only else len(TASKS)
    passed = all(mark == "✓" for mark in required) and len(required) == wanted
    return passed, "\n".join(lines)


def _bonus(run: Any, workspace: Path, lines: list[str]) -> str:
    """Second order for an op task: is the learner's backward itself differentiable?"""
    failures = _op_failures(load(workspace, _task_of(run)), run.ops, second_order=True)
    for op, detail in failures:
        lines.append(f"bonus (second derivatives), op {op}: {detail}")
    return "☆✗" if failures else "☆✓"


def _task_of(run: Any) -> int:
    return next(task for task, (_, r) in TASKS.items() if r is run)


def start(workspace: Path) -> str:
    """Write the stub files (never overwriting one); the first task's pointer."""
    workspace.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.values():
        path = workspace / name
        if not path.exists():
            path.write_text(text)
    return f"workspace ready in {workspace}; start with {FILES[1][0]}"
