"""What the commands of ``models`` share: argument types, help layout, and
the check that an output can be written before any work starts."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from models.run_folder import RunFolderError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" only for real defaults: not None, not a flag's False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or isinstance(action, argparse._StoreTrueAction):
            return action.help or ""
        return super()._get_help_string(action)


def _integer(text: str, smallest: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < smallest:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _integer(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _integer(text, 0, "zero or a positive integer")


def _real(text: str, ok: Callable[[float], bool], what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def positive_float(text: str) -> float:
    return _real(text, lambda v: v > 0, "a positive number")


def non_negative_float(text: str) -> float:
    return _real(text, lambda v: v >= 0, "zero or positive")


def check_output_folder(option: str, path: Path) -> None:
    """That ``path`` (given as ``option``) can be written, before any work."""
    folder = path.parent
    if not folder.is_dir():
        raise RunFolderError(f"{option} {path}: the folder {folder} does not exist")
    probe = folder / f".{path.name}.probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RunFolderError(
            f"{option} {path}: cannot write to {folder}: {error.strerror or error}"
        ) from error
