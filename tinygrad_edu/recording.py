"""Whether ops are recorded: ``no_grad``, ``enable_grad`` and ``name_scope``.

The switches are per thread: ``no_grad()`` in one thread never changes what
another thread records. A block restores, on exit, exactly what its own entry
replaced, kept per thread and per entry, so one instance (``EVAL = no_grad()``)
may be entered by several threads at once or nested in itself.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import ContextDecorator, contextmanager
from typing import Any


class Switches:
    """One thread's switches."""

    __slots__ = ("anomaly", "grad_enabled", "record_sites", "scope")

    def __init__(self) -> None:
        self.grad_enabled = True
        #: The ``name_scope`` labels open now, outermost first.
        self.scope: tuple[str, ...] = ()
        #: Remember, on each node, the line of the user's code that created it.
        self.record_sites = False
        #: Set by ``detect_anomaly``: check every result for NaN/inf too.
        self.anomaly = False


class _PerThread(threading.local):
    """``__init__`` runs in each thread on its first use."""

    def __init__(self) -> None:
        self.switches = Switches()


_per_thread = _PerThread()


def switches() -> Switches:
    """This thread's switches (an op reads them all after this one lookup)."""
    return _per_thread.switches


class Switch(ContextDecorator):
    """A ``with`` block (or decorator) that sets switches and restores them.

    Subclasses say what to set (``_set``, returning what it replaced) and how
    to put it back (``_restore``). What an entry replaced is kept on a stack
    of this instance *and this thread*, so entries and exits pair up however
    many threads share the instance.
    """

    def __new__(cls, func: Callable | None = None) -> Any:
        # Both @no_grad and @no_grad() decorate, as in PyTorch.
        self = super().__new__(cls)
        self._entries = threading.local()
        return self if func is None else self(func)

    def __call__(self, func: Callable) -> Callable:
        """Decorate ``func``; a generator function runs inside the block at
        each resume (between two yields), not only while it is created."""
        if not inspect.isgeneratorfunction(func):
            return super().__call__(func)

        @functools.wraps(func)
        def resumed_inside(*args: Any, **kwargs: Any) -> Any:
            generator = func(*args, **kwargs)
            try:
                with self:
                    value = next(generator)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with self:
                            generator.close()
                        raise
                    except BaseException as error:  # thrown in by the caller
                        with self:
                            value = generator.throw(error)
                    else:
                        with self:
                            value = generator.send(sent)
            except StopIteration as stop:
                return stop.value

        return resumed_inside

    def __enter__(self) -> None:
        self._entries.__dict__.setdefault("stack", []).append(self._set())

    def __exit__(self, *exc: object) -> None:
        self._restore(self._entries.stack.pop())

    def _set(self) -> Any:
        raise NotImplementedError

    def _restore(self, replaced: Any) -> None:
        raise NotImplementedError


class _GradMode(Switch):
    enabled: bool

    def _set(self) -> bool:
        state = switches()
        replaced, state.grad_enabled = state.grad_enabled, self.enabled
        return replaced

    def _restore(self, replaced: bool) -> None:
        switches().grad_enabled = replaced


class no_grad(_GradMode):
    """Do not record ops: for evaluation and parameter updates.

    >>> from tinygrad_edu import Tensor, no_grad
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    enabled = False


class enable_grad(_GradMode):
    """Record ops again inside a ``no_grad`` block."""

    enabled = True


def is_grad_enabled() -> bool:
    """True when ops applied in this thread are recorded for backward."""
    return switches().grad_enabled


@contextmanager
def recording_sites() -> Iterator[None]:
    """Remember where each node is created (for diagnostics that name places)."""
    state = switches()
    previous, state.record_sites = state.record_sites, True
    try:
        yield
    finally:
        state.record_sites = previous


class Scope(str):
    """A ``name_scope`` label. It equals its text, but its identity tells apart
    two blocks (or two modules) that carry the same text: five ``Linear(20→20)``
    layers are five clusters in a drawing, not one."""

    __slots__ = ()


class name_scope(ContextDecorator):  # used like a function, as no_grad is
    """Label the ops recorded inside the block (nested scopes form a path).

    ``nn.Module.__call__`` opens one per module, and composites such as
    ``mean`` open one named after themselves, so a graph can be drawn and
    explained in those terms (``Linear(784→50)``, ``mean``). A plain string
    opens a new scope each time; pass the same ``Scope`` object to reopen one.
    """

    __slots__ = ("_label",)

    def __init__(self, label: str) -> None:
        self._label = label if isinstance(label, Scope) else Scope(label)

    def __enter__(self) -> None:
        state = switches()
        state.scope = (*state.scope, self._label)

    def __exit__(self, *exc: object) -> None:
        state = switches()
        state.scope = state.scope[:-1]

    def _recreate_cm(self) -> name_scope:
        return self  # stateless: one decorated function, one scope (cluster)
