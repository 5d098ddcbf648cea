"""Shared test set-up: Hypothesis profiles and where the real MNIST files are."""

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

# ci: deterministic and thorough; default: quick enough to run on every edit.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "default",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")

# Tests read the real MNIST files from the workspace's shared copy unless the
# environment already points somewhere else (never from the network).
_SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"
if "TINYGRAD_EDU_DATA" not in os.environ and _SHARED_MNIST.is_dir():
    os.environ["TINYGRAD_EDU_DATA"] = str(_SHARED_MNIST)
