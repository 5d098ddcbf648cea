"""Where a training run keeps its work, so that nothing a user trained is lost.

A run that will end in ``runs/mnist/3`` works in ``runs/mnist/3.partial``:
its checkpoints go there while it trains, and at the end its outputs are
written there too and the folder is renamed to ``runs/mnist/3``. So a run
folder is complete or absent, and a ``.partial`` folder is a run that was
interrupted (or diverged), holding its last checkpoint. A rename within one
file system is atomic; an earlier run replaced with ``--overwrite`` is moved
aside first and deleted only once the new one is in place.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_edu
from tinygrad_edu._files import cannot_write

#: The suffix of a run's working folder: a run that has not finished (yet).
PARTIAL = ".partial"
CHECKPOINT = "checkpoint.npz"
#: Files that mark a folder as holding a run (finished or not).
RUN_FILES = ("metrics.json", "params.npz", CHECKPOINT)


class RunFolderError(Exception):
    """A path the run cannot use; the message is one line that names it."""


@dataclass(frozen=True)
class RunFolder:
    """The final folder of a run (``target``) and the one it works in."""

    target: Path

    @property
    def work(self) -> Path:
        return self.target.with_name(self.target.name + PARTIAL)

    @property
    def checkpoint(self) -> Path:
        return self.work / CHECKPOINT

    @classmethod
    def of_partial(cls, path: Path) -> RunFolder:
        """The run whose working folder (or checkpoint file in it) is ``path``."""
        work = path.parent if path.name == CHECKPOINT else path
        if not work.name.endswith(PARTIAL) or not (work / CHECKPOINT).is_file():
            raise RunFolderError(
                f"{path} is not an interrupted run: --resume takes a folder "
                f"ending in {PARTIAL} that holds {CHECKPOINT} (the path the "
                f"interrupted run printed)"
            )
        return cls(work.with_name(work.name.removesuffix(PARTIAL)))


def numbered(root: Path) -> RunFolder:
    """The next free ``root/<n>``, reserved by creating its working folder.

    ``mkdir`` fails if another run took the name first, so two runs started
    at once get different numbers.
    """
    _check_can_hold_folders(root)
    taken = [
        int(p.name.removesuffix(PARTIAL))
        for p in root.iterdir()
        if p.name.removesuffix(PARTIAL).isdigit()
    ]
    n = max(taken, default=0) + 1
    while True:
        run = RunFolder(root / str(n))
        if not run.target.exists():
            try:
                run.work.mkdir()
                return run
            except FileExistsError:
                pass
        n += 1


def explicit(out: Path, overwrite: bool) -> RunFolder:
    """``out`` as the run's folder: refused if it holds a run, unless
    ``overwrite``; refused if it is a file or a non-empty folder of other
    things (that would be mixed with the run's outputs)."""
    run = RunFolder(out)
    _check_can_hold_folders(out.parent)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not any((out / name).exists() for name in RUN_FILES):
            raise RunFolderError(
                f"--out {out} is a folder of other files; give a new or empty "
                f"folder for the run"
            )
        if not overwrite:
            raise RunFolderError(
                f"--out {out} already holds a run; give another --out, or add "
                f"--overwrite to replace it once the new run has finished"
            )
    if run.checkpoint.exists():
        raise RunFolderError(
            f"{run.work} holds an interrupted run; continue it with --resume "
            f"{run.work}, or delete that folder"
        )
    if run.work.exists():  # stopped before its first checkpoint, or diverged
        if not overwrite:
            raise RunFolderError(
                f"{run.work} holds a run that stopped before its first checkpoint "
                f"(it diverged, or was interrupted early), so it cannot be "
                f"resumed; add --overwrite to replace it, or give another --out"
            )
        shutil.rmtree(run.work)
    try:
        run.work.mkdir()
    except OSError as error:
        raise _unwritable(run.work, error) from error
    return run


def check_space(run: RunFolder, needed: int) -> None:
    """Write a probe into the working folder and check the free space, so that
    an unwritable or nearly full disk stops the run before it trains."""
    probe = run.work / f".probe-{secrets.token_hex(4)}"
    try:
        probe.write_bytes(b"\0" * 4096)
        probe.unlink()
    except OSError as error:
        raise _unwritable(run.work, error) from error
    free = shutil.disk_usage(run.work).free
    if free < needed:
        raise RunFolderError(
            f"only {free / 1e6:.1f} MB free on the disk of {run.work}; the run "
            f"needs about {needed / 1e6:.1f} MB for its outputs and checkpoints"
        )


def discard_if_empty(run: RunFolder) -> None:
    """Remove the working folder of a run that stopped before saving anything."""
    try:
        run.work.rmdir()
    except OSError:  # not empty (it holds a checkpoint), or already gone
        pass


def publish(run: RunFolder) -> None:
    """Rename the working folder into place; an earlier run there is moved
    aside first and deleted once the new one is in place."""
    aside = None
    if run.target.exists():
        aside = run.target.with_name(
            f".{run.target.name}.replaced-{secrets.token_hex(4)}"
        )
        os.replace(run.target, aside)
    os.replace(run.work, run.target)
    if aside is not None:
        shutil.rmtree(aside)


# -- checkpoints -------------------------------------------------------------------


def save_checkpoint(
    path: Path,
    params: dict[str, np.ndarray],
    optimizer_state: dict[str, np.ndarray],
    meta: dict[str, Any],
    initial: dict[str, np.ndarray],
) -> None:
    """One ``.npz``, replaced atomically: parameters, optimizer state, the
    initial values the run keeps (a conv net's first filters), and the
    iteration, RNG state, configuration and metrics as JSON text."""
    text = json.dumps(meta, allow_nan=False).encode("utf-8")
    tinygrad_edu.save(
        {
            **{f"param.{k}": v for k, v in params.items()},
            **{f"optimizer.{k}": v for k, v in optimizer_state.items()},
            **{f"initial.{k}": v for k, v in initial.items()},
            "meta": np.frombuffer(text, dtype=np.uint8),
        },
        path,
    )


def load_checkpoint(
    path: Path,
) -> tuple[
    dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any], dict[str, np.ndarray]
]:
    """What ``save_checkpoint`` wrote: params, optimizer state, meta, initial
    values (none in a checkpoint written before runs kept them)."""
    arrays = tinygrad_edu.load(path)
    if "meta" not in arrays:
        raise RunFolderError(f"{path} is not a checkpoint of the training command")
    meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))

    def group(prefix: str) -> dict[str, np.ndarray]:
        return {
            k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)
        }

    return group("param."), group("optimizer."), meta, group("initial.")


def _check_can_hold_folders(parent: Path) -> None:
    """``parent`` exists as a folder (or can be made), so a run folder fits in it."""
    for ancestor in [parent, *parent.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise RunFolderError(
                    f"cannot create {parent}: {ancestor} is a file, not a folder"
                )
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unwritable(parent, error) from error


def _unwritable(path: Path, error: OSError) -> RunFolderError:
    fix = cannot_write(error)
    return RunFolderError(
        f"cannot write to {path}: {error.strerror or error}"
        + (f" ({fix})" if fix else "")
    )
