"""Regenerate the figures in docs/img by running the pages that draw them.

    python docs/make_figures.py            # every page
    python docs/make_figures.py graphs.md  # pages whose path ends like this

Each page's ```python blocks run in order, in a scratch directory, like a
notebook; every image (.png, .svg) a page writes there and also shows as
``img/NAME`` is copied into docs/img. So a figure in the docs is always the
output of the code printed next to it, never drawn by hand; the test suite
runs the same blocks (tests/test_docs.py) and checks that each image a page
shows is one its code writes.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the pages import models/ and benchmarks/

from tinygrad_edu._files import atomic_write  # noqa: E402

BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
SHOWN_IMAGE = re.compile(r"!\[[^\]]*\]\((?:\.\./)*img/([^)\s]+\.(?:png|svg))\)")


def blocks(page: Path) -> list[str]:
    """The page's ```python blocks, in order."""
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def shown_images(page: Path) -> set[str]:
    """File names of the docs/img images the page displays."""
    return set(SHOWN_IMAGE.findall(page.read_text(encoding="utf-8")))


def pages() -> list[Path]:
    """Every docs page and the README that has Python code to run."""
    candidates = sorted(DOCS.glob("**/*.md")) + [ROOT / "README.md"]
    return [page for page in candidates if blocks(page)]


def run_page(page: Path, unrendered: list[int] | None = None) -> dict:
    """Run the page's blocks in one namespace, in the current directory; return it.

    With a list ``unrendered``, a block stopped by a missing Graphviz ``dot``
    is noted there (its number) and the blocks after it still run: a machine
    without ``dot`` checks all of the page but its pictures.
    """
    import matplotlib

    from tinygrad_edu.viz import GraphvizNotFoundError

    matplotlib.use("Agg")  # figures are files here, never windows
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, source in enumerate(blocks(page), 1):
        try:
            exec(compile(source, f"{page.name}, block {number}", "exec"), namespace)
        except Exception as error:
            if unrendered is not None and isinstance(error, GraphvizNotFoundError):
                unrendered.append(number)
                continue
            raise RuntimeError(f"{page.name}: python block {number} failed") from error
    import matplotlib.pyplot as plt

    plt.close("all")
    return namespace


def make_figures(page: Path) -> list[Path]:
    """Run the page in a scratch directory; copy the images it shows to docs/img."""
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        previous = Path.cwd()
        os.chdir(scratch)
        try:
            run_page(page)
        finally:
            os.chdir(previous)
        for name in sorted(shown_images(page)):
            produced = Path(scratch) / name
            if produced.exists():
                target = DOCS / "img" / name
                with atomic_write(target, "wb") as f:
                    f.write(produced.read_bytes())
                written.append(target)
    return written


def main(argv: list[str]) -> int:
    chosen = [p for p in pages() if not argv or any(str(p).endswith(a) for a in argv)]
    for page in chosen:
        for path in make_figures(page):
            print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
