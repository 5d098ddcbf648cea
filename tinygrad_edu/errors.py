"""The exceptions tinygrad_edu raises on purpose.

Each one also derives from the built-in exception a Python user would expect
(a bad shape is a ``ValueError``, a bad dtype a ``TypeError``), so ``except
ValueError`` keeps working, while ``except TinygradEduError`` catches all of ours.
Messages name the op, the shapes or values involved, and the fix.
"""


class TinygradEduError(Exception):
    """Root of every error raised deliberately by tinygrad_edu."""


class ShapeError(TinygradEduError, ValueError):
    """Shapes that an op cannot combine (matmul inner sizes, broadcasting, reshape)."""


class DTypeError(TinygradEduError, TypeError):
    """Data an op cannot use (strings, objects, integers that need a gradient)."""


class NumPyOnTensorError(DTypeError):
    """A NumPy function called on a Tensor (``np.exp(t)``), which it cannot record."""


class DomainError(TinygradEduError, ValueError):
    """Values outside what an op accepts (class labels out of range, bad arguments)."""


class GraphError(TinygradEduError, RuntimeError):
    """Misuse of the recorded graph (backward through a freed graph, no gradient)."""


class AnomalyError(TinygradEduError, FloatingPointError):
    """NaN or inf produced by an op while ``detect_anomaly()`` is active."""


class StateDictError(TinygradEduError, KeyError):
    """A state dict that does not fit: missing/unexpected keys, wrong shapes."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0]) if self.args else ""


class FileError(TinygradEduError, OSError):
    """A file that cannot be written or safely read: a path that is a directory,
    a read-only or full file system, a file larger than it may be."""


class DatasetError(TinygradEduError, OSError):
    """Dataset files that are missing, corrupt or could not be downloaded."""
