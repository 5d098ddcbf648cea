"""Write every tutorial page as a Jupyter notebook beside it.

    python docs/notebooks.py                       # every page of the tutorial
    python docs/notebooks.py 05_two_layer_net.md   # pages whose path ends so

The page is the one source. Its ```python blocks become the code cells, in the
order the docs tests run them, and the text between them the markdown cells.
Two things change on the way, so that the notebook shows what the page shows:
an image of docs/img that the page's code draws becomes a cell that displays
the file the code just wrote, and a page that imports the repository's
``models/`` gets a first cell that puts the repository root on the path (the
kernel runs in the notebook's folder). The tutorial is the "Tutorial" section
of mkdocs.yml's nav. tests/test_notebooks.py checks that each notebook is
current, and runs it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))  # make_figures, beside this file, reads the pages

from make_figures import BLOCK, ROOT, SHOWN_IMAGE  # noqa: E402

from tinygrad_edu._files import atomic_write  # noqa: E402

# The line under each tutorial page's title; the notebook replaces it with PROVENANCE.
LINK = (
    "[Open this page as a Jupyter notebook]({notebook}) to run its code cell by cell."
)
PROVENANCE = (
    "*This notebook is generated from [{page}]({page}) by `python "
    "docs/notebooks.py`: to change it, edit the page.*"
)
IMPORTS_THE_REPOSITORY = re.compile(r"^(?:from|import) (?:models|benchmarks)\b", re.M)
REPOSITORY_ON_THE_PATH = """\
# models/ is a folder of the repository, not of the installed package. The
# kernel runs in this notebook's folder, so put the repository root on the path.
import sys
from pathlib import Path

sys.path.insert(0, str(Path("{up}").resolve()))"""
DISPLAY = {
    ".png": 'from IPython.display import Image\n\nImage(filename="{name}")  # {alt}',
    ".svg": 'from IPython.display import SVG\n\nSVG(filename="{name}")  # {alt}',
}
IMAGE_ALT = re.compile(r"!\[([^\]]*)\]")


def tutorial_pages() -> list[Path]:
    """The pages of the Tutorial section of the site's navigation, in order."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    (tutorial,) = [entry["Tutorial"] for entry in config["nav"] if "Tutorial" in entry]
    return [DOCS / path for entry in tutorial for path in entry.values()]


def link(page: Path) -> str:
    """The "open as a notebook" line the page carries under its title."""
    return LINK.format(notebook=page.with_suffix(".ipynb").name)


def notebook(page: Path) -> NotebookNode:
    """The page as an nbformat notebook, without outputs."""
    from nbformat import v4

    text = page.read_text(encoding="utf-8")
    if link(page) not in text:
        raise ValueError(
            f"{page.name} lacks its notebook link, the line:\n{link(page)}"
        )
    text = text.replace(link(page), PROVENANCE.format(page=page.name), 1)
    cells = []

    def markdown(segment: str) -> None:
        """Markdown cells, with a display cell in place of each image drawn."""
        start = 0
        for image in SHOWN_IMAGE.finditer(segment):
            cells.append(v4.new_markdown_cell(segment[start : image.start()]))
            name = image.group(1)
            alt = IMAGE_ALT.match(image.group(0)).group(1)
            source = DISPLAY[Path(name).suffix].format(name=name, alt=alt)
            cells.append(v4.new_code_cell(source))
            start = image.end()
        cells.append(v4.new_markdown_cell(segment[start:]))

    code = list(BLOCK.finditer(text))
    start = 0
    for block in code:
        markdown(text[start : block.start()])
        if block is code[0] and any(
            IMPORTS_THE_REPOSITORY.search(b.group(1)) for b in code
        ):
            up = "/".join([".."] * (len(page.relative_to(ROOT).parts) - 1))
            cells.append(v4.new_code_cell(REPOSITORY_ON_THE_PATH.format(up=up)))
        cells.append(v4.new_code_cell(block.group(1)))
        start = block.end()
    markdown(text[start:])

    kept = [cell for cell in cells if cell.source.strip()]
    for number, cell in enumerate(kept):
        cell.source = cell.source.strip("\n")
        cell.id = f"cell-{number}"  # stable, so that the file is too
    return v4.new_notebook(
        cells=kept,
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
    )


def serialized(page: Path) -> str:
    """The notebook file's text, as written and as the tests compare it."""
    import nbformat

    return nbformat.writes(notebook(page)) + "\n"


def main(argv: list[str]) -> int:
    chosen = [
        p for p in tutorial_pages() if not argv or any(str(p).endswith(a) for a in argv)
    ]
    if not chosen:
        print(f"no tutorial page's path ends with {' or '.join(argv)}", file=sys.stderr)
        return 1
    for page in chosen:
        target = page.with_suffix(".ipynb")
        with atomic_write(target, "w") as f:
            f.write(serialized(page))
        print(target.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
