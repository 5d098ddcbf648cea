"""Grade a workspace with the library's own checks; name the task, op and mistake."""

from __future__ import annotations

import ast
import importlib.util
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType, ModuleType, TracebackType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, configuration, settings

from tinygrad_edu import engine, ops
from tinygrad_edu.broadcasting import sum_to_shape
from tinygrad_edu.diagnostics import summarize
from tinygrad_edu.exercises.stubs import FILES
from tinygrad_edu.numerical import numerical_gradient
from tinygrad_edu.tensor import Tensor
from tinygrad_edu.testing import OpCase, assert_gradients, gradient_test

# Derandomized: the same workspace always gets the same verdict.
CHECK_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

#: (op or function named in the report, the report)
Failure = tuple[str, str]


class WorkspaceError(Exception):
    """A workspace file could not be loaded (syntax error, missing file...)."""


def load(workspace: Path, task: int) -> ModuleType:
    """Import the learner's file for ``task``, turning load errors into a message.

    The workspace's files import each other by name (task 7 uses tasks 4-6),
    so each check imports them afresh from this workspace alone.
    """
    workspace = workspace.resolve()
    path = workspace / FILES[task][0]
    if not path.exists():
        raise WorkspaceError(f"{path.name} is missing; run `start` again to restore it")
    for name, _ in FILES.values():
        sys.modules.pop(Path(name).stem, None)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    sys.path.insert(0, str(workspace))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        name = Path(error.filename or path).name
        raise WorkspaceError(
            f"{name}:{error.lineno}: syntax error: {error.msg}"
        ) from None
    except ImportError as error:
        raise WorkspaceError(
            f"{_where(error.__traceback__, _files(workspace))[1] or path.name}: "
            f"{error}. A "
            f"workspace file imports numpy, tinygrad_edu and the other task files "
            f"(task4_matmul, ...) only; run `start` to restore a deleted one"
        ) from None
    finally:
        sys.path.remove(str(workspace))
    missing = [name for name in _defined(FILES[task][1]) if not hasattr(module, name)]
    if missing:
        raise WorkspaceError(
            f"{path.name} defines no {', '.join(missing)}; to see the stub again, "
            f"rename the file and run `start`"
        )
    return module


def _defined(stub: str) -> list[str]:
    """The functions and classes a task's stub defines: what its check calls."""
    return [
        node.name
        for node in ast.parse(stub).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    ]


def _learner_frames(
    tb: TracebackType | None, files: set[str]
) -> list[tuple[FrameType, int]]:
    """The traceback's frames in the learner's files, with their lines."""
    frames = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _where(tb: TracebackType | None, files: set[str]) -> tuple[str, str]:
    """The learner's function (its class, for a method) and file:line deepest
    in the traceback; ("?", "") if none is theirs."""
    frames = _learner_frames(tb, files)
    if not frames:
        return "?", ""
    frame, line = frames[-1]
    where = f"{Path(frame.f_code.co_filename).name}:{line}"
    return frame.f_code.co_qualname.split(".")[0], where


def _files(workspace: Path) -> set[str]:
    return {str(workspace.resolve() / name) for name, _ in FILES.values()}


class Trace:
    """What the learner's own code did, seen by ``sys.settrace`` (their files only).

    ``returned``: where each of their functions last returned, the line that
    produced the value a check rejected; ``grad_written``: the line that last
    assigned ``.grad`` of each ``watched`` tensor; ``called``: the code of every
    function that ran; ``rule_runs``: how often each node's rule ran (by ``id``).
    """

    def __init__(self, workspace: Path) -> None:
        self.files = _files(workspace)
        self.returned: dict[CodeType, str] = {}
        self.called: set[CodeType] = set()
        self.rule_runs: dict[int, int] = {}
        self.grad_written: dict[int, str] = {}
        self._watched: list[tuple[Tensor, Any]] = []
        self._line: dict[int, str] = {}
        self._previous: list[Any] = []

    def watch(self, tensors: list[Tensor]) -> None:
        self._watched = [(t, t.grad) for t in tensors]
        self.grad_written.clear()
        self.rule_runs.clear()

    def __enter__(self) -> Trace:
        self._previous.append(sys.gettrace())
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous.pop())

    @contextmanager
    def rules_of(self, op: type) -> Iterator[None]:
        """Trace only while ``op``'s forward and backward run: tracing a whole
        property test (drawing, shrinking) would make it several times slower."""
        own = {name: vars(op).get(name) for name in ("forward", "backward")}
        for name in own:
            setattr(op, name, staticmethod(self._scoped(getattr(op, name))))
        try:
            yield
        finally:
            for name, rule in own.items():
                if rule is None:  # inherited
                    delattr(op, name)
                else:
                    setattr(op, name, rule)

    def _scoped(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def traced(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return traced

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        self.called.add(code)
        if code is _RULE:
            key = id(frame.f_locals["node"])
            self.rule_runs[key] = self.rule_runs.get(key, 0) + 1
        return self._step if code.co_filename in self.files else None

    def _step(self, frame: FrameType, event: str, arg: Any) -> Any:
        previous = self._line.get(id(frame))
        for i, (tensor, grad) in enumerate(self._watched):
            if tensor.grad is not grad and previous:
                self.grad_written[id(tensor)] = previous
                self._watched[i] = (tensor, tensor.grad)
        here = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
        if event == "return":
            self.returned[frame.f_code] = here
            self._line.pop(id(frame), None)
        else:
            self._line[id(frame)] = here
        return self._step

    def returned_at(self, function: Any) -> str:
        """Where ``function`` last returned; else where it is defined."""
        code = function.__code__
        if code in self.returned:
            return self.returned[code]
        return f"{Path(code.co_filename).name}:{code.co_firstlineno}"


_RULE = engine._run_rule.__code__


# ---------------------------------------------------------------- task 1


def _task1(module: ModuleType, trace: Trace) -> list[Failure]:
    got = module.numerical_diff(lambda x: x**3, 2.0)
    if not np.isclose(got, 12.0, rtol=1e-6):
        where = trace.returned_at(module.numerical_diff)
        return [
            (
                "numerical_diff",
                f"d/dx x**3 at 2: got {got}, expected 12 (returned at {where}); "
                f"hint: a central difference is (f(x + h) - f(x - h)) / (2 * h)",
            )
        ]
    for shape in [(3,), (2, 3), (2, 1, 3)]:
        x = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
        before = x.copy()
        grad = module.numerical_gradient(lambda a: float(np.sum(a**2)), x)
        where = trace.returned_at(module.numerical_gradient)
        if np.shape(grad) != shape or not np.allclose(grad, 2 * before, rtol=1e-6):
            return [
                (
                    "numerical_gradient",
                    f"gradient of sum(x**2) at shape {shape}: got {grad!r}, "
                    f"expected {2 * before!r} (returned at {where}); hint: "
                    f"perturb one element at a time, by index over x.shape "
                    f"(np.ndindex), not just along the first axis",
                )
            ]
        if not np.array_equal(x, before):
            return [
                (
                    "numerical_gradient",
                    f"x was not restored after perturbing (returned at {where}); "
                    f"hint: put each element back in a try/finally",
                )
            ]
    return []


# ---------------------------------------------------------------- op tasks

# The commonest mistake per op, shown under its failure.
HINTS = {
    "Mul": "dz/dx is y and dz/dy is x: are the two gradients swapped?",
    "Exp": "d/dx exp(x) is exp(x), the OUTPUT: did you use the input instead?",
    "Matmul": "for z = x @ w: dx = grad @ w.T and dw = x.T @ grad (not transposed"
    " the other way)",
    "Softmax": "the vjp is y * (grad - sum(grad * y, axis, keepdims=True)), with"
    " y the OUTPUT",
    "SoftmaxCrossEntropy": "dL/dx = (softmax(x) * sum_c(t) - t) / N and"
    " dL/dt = -log softmax(x) / N",
}

#: What a learner's op takes from the library's: how to draw its inputs.
DECLARATIONS = ("domain", "signature", "param_domains", "batched")


def _op_failures(
    module: ModuleType, names: list[str], second_order: bool, trace: Trace
) -> list[Failure]:
    """Run the library's property test on each learner op; (op, report) per failure."""
    failures = []
    for name in names:
        learner = getattr(module, name)
        reference = getattr(ops, name)
        for field in DECLARATIONS:
            if hasattr(reference, field):
                setattr(learner, field, getattr(reference, field))
        test = gradient_test(
            learner, second_order=second_order, hypothesis_settings=CHECK_SETTINGS
        )
        forward, backward = learner.forward, learner.backward
        try:
            with _compared_forward(learner, reference), trace.rules_of(learner):
                for case in _fixed_cases(learner):
                    assert_gradients(learner, case, second_order=second_order)
                test()
        except NotImplementedError:
            raise
        except WrongForwardError as error:
            where = trace.returned_at(forward)
            report = f"{error}\n    your forward returned it at {where}"
            failures.append((name, report))
        except Exception as error:  # any failure is the learner's: report it
            first = str(error).splitlines()[0]
            where = trace.returned_at(backward)
            hint = _sce_hint(learner) if name == "SoftmaxCrossEntropy" else HINTS[name]
            report = f"{first}\n    your backward returned it at {where}; hint: {hint}"
            failures.append((name, report))
    return failures


class WrongForwardError(AssertionError):
    """The learner's forward disagrees with the library's on the same arrays."""


@contextmanager
def _compared_forward(learner: type, reference: type) -> Iterator[None]:
    """Compare every forward of the learner's op with the library's, on copies
    of the same arrays: a wrong forward whose backward agrees with it (2·eˣ
    with the output as its derivative) passes every gradient check."""
    own, theirs, expected_forward = (
        vars(learner).get("forward"),
        learner.forward,
        reference.forward,
    )

    def compared(ctx: Any, *arrays: Any, **params: Any) -> Any:
        copies = [np.array(a, copy=True) for a in arrays]
        library = reference()
        library.needs_input_grad = ctx.needs_input_grad
        expected = np.asarray(expected_forward(library, *copies, **params))
        out = theirs(ctx, *arrays, **params)
        rtol = 1e-6 if expected.dtype == np.float64 else 1e-3
        if np.shape(out) != expected.shape or not np.allclose(
            out, expected, rtol=rtol, atol=rtol * 1e-3, equal_nan=True
        ):
            shapes = ", ".join(str(np.shape(a)) for a in arrays)
            raise WrongForwardError(
                f"forward of inputs of shape {shapes} gives {summarize(out)} where "
                f"the library gives {summarize(expected)}; hint: check the formula "
                f"on the task's tutorial page"
            )
        return out

    learner.forward = staticmethod(compared)
    try:
        yield
    finally:
        if own is None:  # inherited
            del learner.forward
        else:
            learner.forward = own


def _fixed_cases(op: type) -> list[OpCase]:
    """Cases every check of a binary elementwise op sees, whatever Hypothesis
    draws: its two operands one array (x * x), a classic trap."""
    if op.signature != "(),()->()":
        return []
    x = np.random.default_rng(0).normal(size=(2, 3))
    upstream = np.linspace(0.5, 2.0, 6).reshape(2, 3)
    shared = [Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)]
    return [OpCase(shared, aliasing="shared", upstream=upstream)]


def _op_task(names: list[str]) -> Callable[[ModuleType, Trace], list[Failure]]:
    def run(module: ModuleType, trace: Trace) -> list[Failure]:
        return _op_failures(module, names, False, trace)

    run.ops = names
    return run


# ---------------------------------------------------------------- task 3

# Shapes chosen, not drawn: every kind of broadcast axis is always covered.
_SUM_CASES = [
    ((2, 3), (3,)),
    ((2, 3), (1, 3)),
    ((2, 3), (2, 1)),
    ((4, 2, 3), (2, 1)),
    ((2, 3), (2, 3)),
    ((2, 3), ()),
]


def _task3(module: ModuleType, trace: Trace) -> list[Failure]:
    rng = np.random.default_rng(0)
    for big, small in _SUM_CASES:
        x = rng.normal(size=big)
        got, expected = module.sum_to_shape(x, small), sum_to_shape(x, small)
        if np.shape(got) != small or not np.allclose(got, expected):
            where = trace.returned_at(module.sum_to_shape)
            hint = (
                "hint: sum over the leading axes AND the axes where the shape has 1"
                " (keepdims)"
            )
            return [
                (
                    "sum_to_shape",
                    f"from {big} to {small}: got shape {np.shape(got)}, expected "
                    f"{small} (returned at {where}); {hint}",
                )
            ]
    return []


# ---------------------------------------------------------------- task 5

# Logits where exp overflows: a softmax must shift by the row's max first.
_LARGE = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])
_LARGE_CASES = {
    "Softmax": (
        (_LARGE,),
        "exp(1000) is inf and inf / inf is nan: subtract"
        " each row's max first (softmax(x) = softmax(x - max x))",
    ),
    "SoftmaxCrossEntropy": (
        (_LARGE, np.array([2, 0])),
        "log softmax(x) = x - max - log(sum(exp(x - max))) (log-sum-exp); never"
        " exp(x) unshifted, and never log(softmax(x)): it is log(0) = -inf far"
        " from the max",
    ),
}


def _task5(module: ModuleType, trace: Trace) -> list[Failure]:
    failures = []
    for name, (arrays, hint) in _LARGE_CASES.items():
        learner = getattr(module, name)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with trace.rules_of(learner):
                got = learner.apply(*map(Tensor, arrays)).data
        expected = getattr(ops, name).apply(*map(Tensor, arrays)).data
        if np.shape(got) != np.shape(expected) or not np.allclose(got, expected):
            where = trace.returned_at(learner.forward)
            failures.append(
                (
                    name,
                    f"{name} of the logits {_LARGE.tolist()}: got {got}, expected "
                    f"{expected}\n    your forward returned it at {where}; hint: "
                    f"{hint}",
                )
            )
    unstable = {op for op, _ in failures}
    names = [n for n in _LARGE_CASES if n not in unstable]
    return failures + _op_failures(module, names, False, trace)


_task5.ops = list(_LARGE_CASES)


def _sce_hint(learner: type) -> str:
    """Tell the two commonest softmax-cross-entropy gradient mistakes apart."""
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    weights = np.array([[0.5, 1.0, 0.0], [0.0, 0.2, 0.3]])  # rows sum to 1.5, 0.5
    for t in (np.array([2, 0]), weights):
        try:
            got = _gradient(learner, x, t)
        except Exception:  # a crash is reported by the property test itself
            break
        expected = _gradient(ops.SoftmaxCrossEntropy, x, t)
        if np.allclose(got, expected * len(x)):
            return "the gradient is N times too big: the loss is a mean, divide by N"
        probs = ops.Softmax.apply(Tensor(x)).data
        if t is weights and np.allclose(got, (probs - weights) / len(x)):
            return (
                "(softmax(x) - t) / N holds only when each row of t sums to 1:"
                " it is (softmax(x) * sum_c(t) - t) / N"
            )
    return HINTS["SoftmaxCrossEntropy"]


def _gradient(op: type, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    logits = Tensor(x, requires_grad=True)
    (g,) = engine.grad(op.apply(logits, Tensor(t)), [logits])
    return g.data


# ---------------------------------------------------------------- task 6


def _used_twice(x: Tensor, y: Tensor) -> Tensor:
    z = x * y
    return (z * z.exp()).sum()


def _paths_of_two_lengths(x: Tensor) -> Tensor:
    a = x.exp()
    return (a * (a * a).exp()).sum()


def _affine(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return (x @ w + b).exp().sum()


def _long_chain(x: Tensor) -> Tensor:
    for _ in range(1500):
        x = x * 1.0001
    return x.sum()


_rng = np.random.default_rng(0)
#: (what the graph has, the function that records it, its inputs)
_GRAPHS = [
    ("x * x: a leaf used twice", lambda x: (x * x).sum(), [_rng.normal(size=3)]),
    ("z = x * y used twice", _used_twice, [_rng.normal(size=3), _rng.normal(size=3)]),
    (
        "a = exp(x) reached by paths of two lengths",
        _paths_of_two_lengths,
        [_rng.normal(size=(2, 2)) * 0.5],
    ),
    (
        "x @ w + b: a broadcast bias",
        _affine,
        [_rng.normal(size=(2, 3)), _rng.normal(size=(3, 2)), _rng.normal(size=2)],
    ),
    ("a chain of 1500 ops", _long_chain, [_rng.normal(size=2)]),
]


def _record(build: Callable[..., Tensor], arrays: list[np.ndarray]) -> tuple:
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    return leaves, build(*leaves)


def _task6(module: ModuleType, trace: Trace) -> list[Failure]:
    """The order first, then the walk: wrong values, rules run more than
    once, nodes not freed, in that order over all the graphs."""
    what = ""
    try:
        for what, build, arrays in _GRAPHS:
            root = _record(build, arrays)[1]
            failure = _order_failure(module, trace, what, root)
            if failure:
                return [("topological_order", failure)]
        found: list[str] = []
        for what, build, arrays in _GRAPHS:
            found += _walk_failures(module, trace, what, build, arrays)
    except RecursionError as error:
        op, where = _where(error.__traceback__, trace.files)
        hint = "use an explicit stack (a list): Python stops at 1000 nested calls"
        return [(op, f"RecursionError on {what} at {where}; hint: {hint}")]
    return [("backward", min(found)[2:])] if found else []


def _order_failure(module: ModuleType, trace: Trace, what: str, root: Tensor) -> str:
    order = list(module.topological_order(root))
    where = f"(returned at {trace.returned_at(module.topological_order)})"
    computed = engine.topological_order(root)
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        if sum(u is t for u in order) > 1:
            return (
                f"on {what}, {t._node.op_name} appears {sum(u is t for u in order)}"
                f" times in the order {where}; hint: remember the tensors you"
                f" visited (a set) and visit each once"
            )
    missing = [t for t in computed if id(t) not in position]
    if missing or len(order) != len(computed):
        return (
            f"on {what}, the order has {len(order)} tensors, the graph "
            f"{len(computed)} computed ones {where}; hint: follow t._node.inputs"
            f" from root to every tensor that has a node, leaves excluded"
        )
    for t in order:
        for x in t._node.inputs:
            if x._node is not None and position[id(x)] > position[id(t)]:
                return (
                    f"on {what}, {t._node.op_name} comes before its input "
                    f"{x._node.op_name} {where}; hint: a tensor goes in after all its"
                    f" inputs (depth-first post-order), root last; breadth-first"
                    f" order is not enough"
                )
    return ""


def _walk_failures(
    module: ModuleType,
    trace: Trace,
    what: str,
    build: Callable[..., Tensor],
    arrays: list[np.ndarray],
) -> list[str]:
    """What is wrong with the learner's walk on one graph, each message
    prefixed by its rank (values, then rule runs, then freeing)."""
    leaves, root = _record(build, arrays)
    twins, twin_root = _record(build, arrays)
    if what.startswith("x * x"):  # a .grad from an earlier pass is added to
        for t in (*leaves, *twins):
            t.grad = Tensor(np.ones_like(t.data))
        what += ", x.grad already 1"
    computed = engine.topological_order(root)
    engine.backward(twin_root)
    trace.watch(leaves)
    module.backward(root)
    where = trace.returned_at(module.backward)
    for i, (leaf, twin) in enumerate(zip(leaves, twins)):
        got = None if leaf.grad is None else np.asarray(leaf.grad.data)
        if (
            got is None
            or got.shape != twin.shape
            or not np.allclose(got, twin.grad.data)
        ):
            written = trace.grad_written.get(id(leaf))
            at = f"(.grad written at {written})" if written else f"({where})"
            return [
                f"1 on {what}, input {i} gets the gradient {got}, expected "
                f"{twin.grad.data} {at}; hint: a tensor used twice gets the SUM of"
                f" its gradients, and .grad is added to, not overwritten"
            ]
    for t in computed:
        runs = trace.rule_runs.get(id(t._node), 0)
        if runs != 1:
            return [
                f"2 on {what}, the rule of {t._node.op_name} ran {runs} times "
                f"({where});"
                f" hint: run each rule once, after every gradient flowing into it"
                f" has arrived: walk the topological order from the root, summing"
                f" gradients in a dict"
            ]
    for t in computed:
        if t._node.inputs is not None:
            return [
                f"3 on {what}, the node of {t._node.op_name} was not freed ({where});"
                f" hint: call t._node.release() once its rule has run, so the"
                f" graph's memory returns at once"
            ]
    return []


# ---------------------------------------------------------------- task 7


def _task7(module: ModuleType, trace: Trace) -> list[Failure]:
    rng = np.random.default_rng(0)
    net = module.TwoLayerNet(5, 4, 3, weight_init_std=0.5, rng=rng)
    x, t = rng.normal(size=(4, 5)), np.array([0, 2, 1, 2])
    net.gradient(x, t)  # the second call's must be right too (no stale .grad)
    trace.called.clear()
    grads = net.gradient(x, t)
    where = trace.returned_at(module.TwoLayerNet.gradient)
    yours = {
        "your Matmul": ("task4_matmul", "Matmul", "forward"),
        "your SoftmaxCrossEntropy": ("task5_softmax", "SoftmaxCrossEntropy", "forward"),
        "your backward walk": ("task6_walk", "backward", None),
    }
    unused = []
    for what, (stem, name, method) in yours.items():
        found = getattr(sys.modules.get(stem), name, None)
        found = getattr(found, method) if method and found else found
        if found is None or found.__code__ not in trace.called:
            unused.append(what)
    if unused:
        return [
            (
                "gradient",
                f"gradient() did not use {', '.join(unused)} ({where}); hint: build"
                f" the loss with Matmul.apply and SoftmaxCrossEntropy.apply, then"
                f" call backward(loss) from task6_walk",
            )
        ]
    for key, array in net.params.items():
        expected = numerical_gradient(lambda _: net.loss(x, t), array)
        got = np.asarray(grads[key]) if key in grads else None
        if got is None or got.shape != expected.shape:
            shape = "missing" if got is None else f"of shape {got.shape}"
            return [
                (
                    "gradient",
                    f"gradient['{key}'] is {shape}, expected shape {expected.shape}"
                    f" (returned at {where}); hint: one entry per key of params",
                )
            ]
        if not np.allclose(got, expected, rtol=1e-5, atol=1e-7):
            worst = np.unravel_index(np.argmax(abs(got - expected)), got.shape)
            index = ", ".join(str(int(i)) for i in worst)
            return [
                (
                    "gradient",
                    f"on the second call, gradient['{key}'][{index}] is "
                    f"{got[worst]:.6g}, central differences give "
                    f"{expected[worst]:.6g} (returned at {where}); hint: make fresh"
                    f" Tensors for the params on every call (self.tensors()), so"
                    f" no .grad from an earlier call is added to",
                )
            ]
    return []


@dataclass
class TrainResult:
    """What the book's loop measured: losses on the first batch, test accuracy."""

    iterations: int
    loss_before: float
    loss_after: float
    test_accuracy: float
    seconds: float

    def __str__(self) -> str:
        return (
            f"test accuracy {self.test_accuracy:.4f} after {self.iterations} "
            f"iterations, {self.seconds:.1f} s (loss of the first batch "
            f"{self.loss_before:.3f} -> {self.loss_after:.3f})"
        )


def train(
    workspace: Path,
    iterations: int = 10_000,
    *,
    batch_size: int = 100,
    learning_rate: float = 0.1,
    seed: int = 0,
) -> TrainResult:
    """Train the learner's TwoLayerNet (784-50-10) with the book's loop (4.5).

    Mini-batches of 100 drawn with replacement, plain SGD with learning rate
    0.1; MNIST is found as ``load_mnist`` finds it ($TINYGRAD_EDU_DATA). Images
    are float64 like the params: NumPy multiplies mixed float32 and float64
    matrices without BLAS, some twenty times slower. One BLAS thread, as
    ``models.train_mnist`` uses: on a busy core, spin-waiting threads are
    several times slower.
    """
    from threadpoolctl import threadpool_limits  # the "train" extra

    from tinygrad_edu.datasets import load_mnist, sample_batch

    module = load(workspace, 7)
    (x_train, t_train), (x_test, t_test) = load_mnist()
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    rng = np.random.default_rng(seed)
    network = module.TwoLayerNet(784, 50, 10, rng=rng)
    first = x_train[:batch_size], t_train[:batch_size]
    loss_before = network.loss(*first)
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(iterations):
            x_batch, t_batch = sample_batch(x_train, t_train, batch_size, rng)
            grad = network.gradient(x_batch, t_batch)
            for key in ("W1", "b1", "W2", "b2"):
                network.params[key] -= learning_rate * grad[key]
    seconds = time.perf_counter() - start
    return TrainResult(
        iterations,
        loss_before,
        network.loss(*first),
        network.accuracy(x_test, t_test),
        seconds,
    )


# ---------------------------------------------------------------- check

TASKS: dict[int, tuple[str, Callable[[ModuleType, Trace], list[Failure]]]] = {
    1: ("numerical differentiation", _task1),
    2: ("elementwise ops", _op_task(["Mul", "Exp"])),
    3: ("broadcasting", _task3),
    4: ("matmul", _op_task(["Matmul"])),
    5: ("softmax and cross entropy", _task5),
    6: ("the backward walk", _task6),
    7: ("TwoLayerNet", _task7),
}


@contextmanager
def _hypothesis_home(workspace: Path) -> Iterator[None]:
    """Hypothesis caches what it reads under its home folder (./.hypothesis
    unless set), database or not: while checking, the workspace's own."""
    previous = getattr(configuration, "__hypothesis_home_directory")
    configuration.set_hypothesis_home_dir(workspace / ".hypothesis")
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)


def check(workspace: Path, only: int | None = None) -> tuple[bool, str]:
    """Run the tasks (all, stopping at the first failure, or ``only``); a report."""
    workspace = workspace.resolve()
    with _hypothesis_home(workspace):
        return _check(workspace, only)


def _check(workspace: Path, only: int | None) -> tuple[bool, str]:
    lines: list[str] = []
    table: list[tuple[int, str, str]] = []
    for task in [only] if only else sorted(TASKS):
        title, run = TASKS[task]
        mark = _run(workspace, task, lines)
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


def _run(workspace: Path, task: int, lines: list[str]) -> str:
    """Run one task, adding its failures to ``lines``; its mark."""
    title, run = TASKS[task]
    head = f"task {task} ({title})"
    trace = Trace(workspace)
    try:  # op tasks trace only their ops' rules (Trace.rules_of)
        with nullcontext() if hasattr(run, "ops") else trace:
            module = load(workspace, task)
            lines += _library_notes(module, task)
            failures = run(module, trace)
    except WorkspaceError as error:
        lines.append(f"{head}: {error}")
        return "✗"
    except Exception as error:  # the learner's code raised: say where
        op, where = _where(error.__traceback__, _files(workspace))
        if isinstance(error, NotImplementedError):
            lines.append(f"{head}, op {op}: not written yet ({where}): {error}")
        else:
            kind = type(error).__name__
            lines.append(f"{head}, op {op}: {kind} at {where or '?'}: {error}")
        return "✗"
    for op, detail in failures:
        lines.append(f"{head}, op {op}: {detail}")
    return "✗" if failures else "✓"


def _library_notes(module: ModuleType, task: int) -> list[str]:
    """A note for each of the task's ops imported from the library itself."""
    run = TASKS[task][1]
    return [
        f"note: task {task}'s {name} is the library's own ({module.__name__} imports"
        f" it from tinygrad_edu), not yours: replace the import with your code"
        for name in getattr(run, "ops", [])
        if getattr(getattr(module, name, None), "__module__", "").startswith(
            "tinygrad_edu."
        )
    ]


def _bonus(run: Any, workspace: Path, lines: list[str]) -> str:
    """Second order for an op task: is the learner's backward itself differentiable?"""
    module = load(workspace, _task_of(run))
    failures = _op_failures(module, run.ops, True, Trace(workspace))
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
