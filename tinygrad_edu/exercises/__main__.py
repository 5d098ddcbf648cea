"""``python -m tinygrad_edu.exercises start DIR`` / ``check DIR [N]``."""

import argparse
import sys
from pathlib import Path

from tinygrad_edu.exercises.checker import TASKS, check, start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.exercises")
    parser.add_argument("command", choices=["start", "check"])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("task", type=int, nargs="?", choices=sorted(TASKS))
    args = parser.parse_args(argv)
    if args.command == "start":
        print(start(args.workspace))
        return 0
    passed, report = check(args.workspace, args.task)
    print(report)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
