"""Every tutorial page is also a notebook, generated from the page and run here.

The notebooks run in a real Jupyter kernel (nbclient, ipykernel), in a
temporary directory, so a tutorial page's code is executed here rather than by
tests/test_docs.py; what its figures and explain() show must come out as the
cells' outputs, as a reader of the notebook sees them.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import make_figures
import nbformat
import notebooks
import pytest
from conftest import DOT_MISSING, REQUIRE_DOT, require_dot
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = notebooks.tutorial_pages()
page_ids = {"ids": lambda page: str(page.relative_to(ROOT))}

# Outputs a notebook must show besides the images its page shows.
SHOWN_AS_HTML = {"04_backprop.md": "<table>"}  # explain()'s steps as a table


def test_the_tutorial_is_the_sites_tutorial_section():
    names = [page.name for page in TUTORIAL]
    assert names[0] == "01_loss_functions.md" and names[-1] == "performance.md"
    assert len(names) == 10 and all(page.exists() for page in TUTORIAL)


@pytest.mark.parametrize("page", TUTORIAL, **page_ids)
def test_the_notebook_is_generated_from_the_page_and_linked(page):
    text = page.read_text(encoding="utf-8")
    assert text.count(notebooks.link(page)) == 1
    assert text.splitlines()[2] == notebooks.link(page)  # right under the title
    committed = page.with_suffix(".ipynb")
    assert committed.read_text(encoding="utf-8") == notebooks.serialized(page), (
        f"{committed.name} is out of date; regenerate it with python docs/notebooks.py"
    )
    nbformat.validate(nbformat.reads(committed.read_text(encoding="utf-8"), 4))


def test_a_page_without_its_link_is_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n```python\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"(?s)lacks its notebook link.*page\.ipynb"):
        notebooks.notebook(page)


def test_the_cells_are_the_pages_blocks_and_text_in_order(tmp_path, monkeypatch):
    page = tmp_path / "tutorial" / "page.md"
    page.parent.mkdir()
    page.write_text(
        f"# Title\n\n{notebooks.link(page)}\n\nIntro.\n\n```python\n"
        "from models.mlp import MLP\n```\n\nA figure:\n\n![the curve](../img/c.png)\n"
        "\nAfter it.\n\n```python\ny = 2\n```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)  # the page: one folder down
    cells = notebooks.notebook(page).cells
    assert [cell.cell_type for cell in cells] == [
        "markdown",  # title, provenance, intro
        "code",  # the repository root on the path: the page imports models/
        "code",
        "markdown",
        "code",  # the image, displayed from the file the code wrote
        "markdown",
        "code",
    ]
    assert cells[0].source.startswith("# Title\n\n*This notebook is generated from")
    assert 'Path("..").resolve()' in cells[1].source
    assert cells[2].source == "from models.mlp import MLP"
    assert cells[3].source == "A figure:"
    assert cells[4].source.endswith('Image(filename="c.png")  # the curve')
    assert (cells[5].source, cells[6].source) == ("After it.", "y = 2")
    assert [cell.id for cell in cells] == [f"cell-{i}" for i in range(7)]


def test_the_first_cell_makes_models_importable_from_the_notebooks_folder():
    """As Jupyter runs it: in docs/tutorial/, without the repository on the path."""
    (page,) = [p for p in TUTORIAL if p.name == "05_two_layer_net.md"]
    setup = notebooks.notebook(page).cells[1].source
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-c", f"{setup}\nimport models.two_layer_net"],
        cwd=page.parent,
        env=env,
        check=True,
    )
    with pytest.raises(subprocess.CalledProcessError):  # and without it, it fails
        subprocess.run(
            [sys.executable, "-c", "import models.two_layer_net"],
            cwd=page.parent,
            env=env,
            check=True,
            capture_output=True,
        )


def execute_and_check(page, directory, monkeypatch):
    """Run the page's notebook in a real kernel in ``directory``; check that it
    shows its figures inline.

    Without dot, the cells that render fail for that reason alone (and the
    cells showing those pictures find no file); the other cells run and are
    checked, and the test then skips for the rendering (or fails where
    TINYGRAD_EDU_REQUIRE_DOT=1).
    """
    # The kernel imports this checkout's tinygrad_edu and models/, and writes
    # the page's files into the directory.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # One BLAS thread: on two cores shared with this client, two threads kept
    # waiting for each other and made tutorial 05's training six times slower.
    for threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(threads, "1")
    notebook = notebooks.notebook(page)
    client = NotebookClient(
        notebook,
        timeout=1800,  # per cell: tutorial 05 trains on MNIST
        kernel_name="python3",
        resources={"metadata": {"path": str(directory)}},
        allow_errors=shutil.which("dot") is None,  # then checked below
    )
    client.execute()
    unrendered = unrendered_cells(notebook, directory)
    for name in make_figures.shown_images(page):
        made = (directory / name).exists()
        assert made or unrendered, f"{page.name} shows {name}; no code made it"
        assert (ROOT / "docs" / "img" / name).exists(), f"run make_figures for {name}"
        if made:
            (cell,) = [c for c in notebook.cells if f'filename="{name}"' in c.source]
            mime = "image/svg+xml" if name.endswith(".svg") else "image/png"
            assert [mime in output.get("data", {}) for output in cell.outputs] == [True]
    if page.name in SHOWN_AS_HTML:
        html = [
            output["data"]["text/html"]
            for cell in notebook.cells
            for output in cell.get("outputs", [])
            if "text/html" in output.get("data", {})
        ]
        assert any(SHOWN_AS_HTML[page.name] in text for text in html)
    if unrendered:
        require_dot()


def unrendered_cells(notebook, directory) -> list[int]:
    """The cells that failed because dot is missing: a draw, or the display of
    a picture no draw made. Any other failure fails the test, with its traceback."""
    unrendered = []
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type != "error":
                continue
            shown = re.search(r'filename="([^"]+)"', cell.source)
            missing = shown and not (directory / shown.group(1)).exists()
            if output.ename == "GraphvizNotFoundError" or (
                output.ename == "FileNotFoundError" and missing
            ):
                unrendered.append(number)
            else:
                raise AssertionError(
                    f"cell {number} failed:\n" + "\n".join(output.traceback)
                )
    return unrendered


@pytest.mark.parametrize("page", TUTORIAL, **page_ids)
def test_the_notebook_runs_and_shows_its_figures_inline(page, tmp_path, monkeypatch):
    execute_and_check(page, tmp_path, monkeypatch)


def test_without_dot_all_but_the_rendering_of_a_notebook_runs(
    without_dot, tmp_path, monkeypatch
):
    """Tutorial 04's notebook without dot: explain's table still shows, and
    only the cells that draw (and show what they drew) fail, for that reason."""
    monkeypatch.delenv(REQUIRE_DOT, raising=False)
    (page,) = [p for p in TUTORIAL if p.name == "04_backprop.md"]
    with pytest.raises(pytest.skip.Exception, match=DOT_MISSING):
        execute_and_check(page, tmp_path, monkeypatch)
    assert not (tmp_path / "apple_graph.svg").exists()  # it really had no dot


def test_without_dot_another_failure_in_a_notebook_still_fails(
    without_dot, tmp_path, monkeypatch
):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "from tinygrad_edu import Tensor\nfrom tinygrad_edu.viz import draw\n"
            'draw(Tensor([1.0], requires_grad=True) * 2.0, "g.svg")',
            'from IPython.display import SVG\n\nSVG(filename="g.svg")',
            "assert False, 'a wrong check'",
        )
    ]
    NotebookClient(
        notebook,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    with pytest.raises(AssertionError, match="cell 2 failed"):
        unrendered_cells(notebook, tmp_path)
    notebook.cells.pop()
    assert unrendered_cells(notebook, tmp_path) == [0, 1]
