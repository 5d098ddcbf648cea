"""Shared test set-up: Hypothesis profiles, where the real MNIST files are, and
real file systems that are full or read-only."""

import os
import subprocess
from pathlib import Path

import pytest
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


def _mount_tmpfs(path: Path, options: str) -> bool:
    """Mount a real tmpfs at path; False where that is not allowed (not root)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture
def full_disk(tmp_path):
    """A real file system of 64 KiB (a tmpfs mount): writing more gives ENOSPC."""
    mount = tmp_path / "small"
    if not _mount_tmpfs(mount, "size=64k"):
        pytest.skip("a full disk needs a tmpfs mount, which needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write: a read-only tmpfs as root, else chmod 0o555."""
    path = tmp_path / "read_only"
    if _mount_tmpfs(path, "size=64k,ro"):
        yield path
        subprocess.run(["umount", "-l", str(path)], check=True)
    else:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
