"""``python -m tinygrad_edu.exercises start|check|train DIR``."""

import argparse
import sys
from pathlib import Path

from tinygrad_edu._files import unwritable
from tinygrad_edu.errors import TinygradEduError
from tinygrad_edu.exercises.checker import TASKS, WorkspaceError, check, start, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.exercises")
    parser.add_argument("command", choices=["start", "check", "train"])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("task", type=int, nargs="?", choices=sorted(TASKS))
    parser.add_argument(
        "--iterations", type=int, default=10_000, help="train: SGD steps (10000)"
    )
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error(f"--iterations must be a positive integer, got {args.iterations}")
    if args.command == "start":
        try:
            print(start(args.workspace))
        except OSError as error:  # a file in the way, a read-only folder
            print(f"error: {unwritable('start', args.workspace, error)}")
            return 1
        return 0
    if args.command == "train":
        try:
            print(train(args.workspace, args.iterations))
        except (WorkspaceError, TinygradEduError) as error:  # missing data or file
            print(f"error: {error}")
            return 1
        except Exception as error:  # raised by the learner's code, e.g. a stub
            print(
                f"error: training stopped: {type(error).__name__}: {error}. Run "
                f"`python -m tinygrad_edu.exercises check {args.workspace}` to "
                f"find the task and the line."
            )
            return 1
        return 0
    passed, report = check(args.workspace, args.task)
    print(report)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
