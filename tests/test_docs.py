"""Every ```python block in the docs and the README runs, page by page.

The blocks of one page share a namespace, in order, like a notebook, and run
in a temporary directory so that the files they write go nowhere.
"""

import re
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

matplotlib.use("Agg")


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


PAGES = [
    page
    for page in sorted((ROOT / "docs").glob("**/*.md")) + [ROOT / "README.md"]
    if blocks(page)
]


def test_the_tutorial_pages_have_code():
    names = {page.name for page in PAGES}
    assert {"README.md", "06_gradient_checking.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page, tmp_path, monkeypatch):
    code = blocks(page)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, source in enumerate(code, 1):
        try:
            exec(compile(source, f"{page.name}, block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(
                f"{page.name}, python block {number} failed"
            ) from error


def test_the_collector_finds_blocks():
    sample = "text\n```python\nx = 1\n```\nmore\n```python\ny = x + 1\n```\n"
    assert BLOCK.findall(sample) == ["x = 1\n", "y = x + 1\n"]
