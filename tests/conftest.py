"""Shared test set-up: Hypothesis profiles, where the real MNIST files are, and
real file systems that are full or read-only, and the ``dot`` fixture for tests
that render with Graphviz."""

import os
import shutil
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
# thorough: for a local search, never in CI (python -m pytest
# --hypothesis-profile=thorough tests/test_ops.py); CI's time stays as it is.
settings.register_profile(
    "thorough",
    max_examples=2000,
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


# pip cannot install Graphviz's dot program, so on a fresh machine the tests
# that render skip, counted in one line of the summary. .ci/run sets
# TINYGRAD_EDU_REQUIRE_DOT=1: there a missing dot fails those tests instead,
# so CI can never silently stop testing rendering.
DOT_MISSING = "Graphviz's dot is not installed"
INSTALL_DOT = "apt install graphviz / brew install graphviz"
REQUIRE_DOT = "TINYGRAD_EDU_REQUIRE_DOT"


@pytest.fixture
def dot() -> str:
    """The path of the real dot program, for a test that renders with it."""
    return require_dot()


def require_dot() -> str:
    """dot's path; else skip the test (fail it where REQUIRE_DOT=1) saying why."""
    path = shutil.which("dot")
    if path is None:
        if os.environ.get(REQUIRE_DOT) == "1":
            pytest.fail(
                f"{DOT_MISSING}, and {REQUIRE_DOT}=1 says rendering must be "
                f"tested here: {INSTALL_DOT}",
                pytrace=False,
            )
        pytest.skip(f"{DOT_MISSING}; {INSTALL_DOT}")
    return path


@pytest.fixture
def without_dot(tmp_path_factory, monkeypatch) -> None:
    """A PATH of every program on it but Graphviz's dot: a machine where pip
    installed everything and nobody installed Graphviz."""
    programs = tmp_path_factory.mktemp("path_without_dot")
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            link = programs / entry.name
            if entry.name != "dot" and not link.exists() and not link.is_symlink():
                link.symlink_to(entry.path)
    monkeypatch.setenv("PATH", str(programs))
    assert shutil.which("dot") is None and shutil.which("python3") is not None


def pytest_terminal_summary(terminalreporter) -> None:
    """One line for all the tests skipped for want of dot, whatever -r says."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and DOT_MISSING in report.longrepr[2]
    ]
    if skipped:
        tests = "test" if len(skipped) == 1 else "tests"
        terminalreporter.write_line(
            f"{DOT_MISSING}: {len(skipped)} rendering {tests} skipped; {INSTALL_DOT}",
            yellow=True,
            bold=True,
        )
