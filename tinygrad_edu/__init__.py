"""tinygrad_edu: a small, readable, correct and fast autograd engine on NumPy.

>>> from tinygrad_edu import Tensor
>>> w = Tensor([[1.0, 2.0]], requires_grad=True)
>>> loss = (w * w).sum()
>>> loss.backward()
>>> w.grad
Tensor([[2., 4.]])
"""

from tinygrad_edu import (
    datasets,
    diagnostics,
    domains,
    errors,
    functional,
    nn,
    ops,
    optim,
)
from tinygrad_edu._random import manual_seed
from tinygrad_edu.anomaly import detect_anomaly
from tinygrad_edu.engine import grad
from tinygrad_edu.errors import (
    AnomalyError,
    DatasetError,
    DomainError,
    DTypeError,
    FileError,
    GraphError,
    NumPyOnTensorError,
    ShapeError,
    StateDictError,
    TinygradEduError,
)
from tinygrad_edu.function import Function
from tinygrad_edu.numerical import (
    GradcheckError,
    gradcheck,
    gradgradcheck,
    numerical_diff,
    numerical_gradient,
)
from tinygrad_edu.recording import enable_grad, is_grad_enabled, name_scope, no_grad
from tinygrad_edu.serialization import load, save
from tinygrad_edu.tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "DTypeError",
    "DatasetError",
    "DomainError",
    "FileError",
    "Function",
    "GradcheckError",
    "GraphError",
    "NumPyOnTensorError",
    "ShapeError",
    "StateDictError",
    "Tensor",
    "TinygradEduError",
    "datasets",
    "detect_anomaly",
    "diagnostics",
    "domains",
    "enable_grad",
    "errors",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "load",
    "manual_seed",
    "name_scope",
    "nn",
    "no_grad",
    "numerical_diff",
    "numerical_gradient",
    "ops",
    "optim",
    "save",
]
