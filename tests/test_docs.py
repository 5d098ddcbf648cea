"""Every ```python block in the docs and the README runs, page by page.

The blocks of one page share a namespace, in order, like a notebook, and run
in a temporary directory so that the files they write go nowhere. The runner
is docs/make_figures.py, the script that makes the docs' figures, so a
figure the docs show is checked to be the output of its page's code.
"""

import importlib.util
from pathlib import Path

import pytest

from tinygrad_edu.viz import GraphvizNotFoundError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "make_figures", ROOT / "docs" / "make_figures.py"
)
make_figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_figures)

PAGES = make_figures.pages()


def test_the_tutorial_pages_have_code():
    names = {page.name for page in PAGES}
    assert {"README.md", "06_gradient_checking.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs_and_draws_the_figures_it_shows(
    page, tmp_path, monkeypatch, request
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    try:
        make_figures.run_page(page)
    except RuntimeError as error:
        if isinstance(error.__cause__, GraphvizNotFoundError):
            request.getfixturevalue("dot")  # the page renders: skip without dot
        raise
    for name in make_figures.shown_images(page):
        assert (tmp_path / name).exists(), f"{page.name} shows {name}; no code made it"
        assert (ROOT / "docs" / "img" / name).exists(), f"run make_figures for {name}"


def test_the_collectors_find_blocks_and_images(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n![a curve](../img/curve.png)\n"
        "![graph](img/g.svg) ![web](https://example.org/x.png)\n"
        "```python\ny = x + 1\n```\n"
    )
    assert make_figures.blocks(page) == ["x = 1\n", "y = x + 1\n"]
    assert make_figures.shown_images(page) == {"curve.png", "g.svg"}
