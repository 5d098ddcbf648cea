"""Every ```python block in the docs and the README runs, page by page.

The blocks of one page share a namespace, in order, like a notebook, and run
in a temporary directory so that the files they write go nowhere. The runner
is docs/make_figures.py, the script that makes the docs' figures, so a
figure the docs show is checked to be the output of its page's code. The
tutorial pages run as the notebooks made from them, in
tests/test_notebooks.py; this file runs the others.
"""

import ast
import re
from pathlib import Path

import make_figures
import notebooks
import pytest
from conftest import DOT_MISSING, REQUIRE_DOT, require_dot

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    page for page in make_figures.pages() if page not in notebooks.tutorial_pages()
]


def test_every_page_with_code_runs_here_or_as_a_notebook():
    names = {page.name for page in PAGES}
    assert {"README.md", "graphs.md", "diagnostics.md"} <= names
    tutorial = set(notebooks.tutorial_pages())
    assert set(make_figures.pages()) == set(PAGES) | tutorial
    assert all(make_figures.blocks(page) for page in tutorial)


def run_and_check(page, directory):
    """Run the page's code in ``directory`` and check the images it shows.

    Without dot, the blocks that render stop there and the rest still run
    and are checked; the test then skips for the rendering alone (or fails
    where TINYGRAD_EDU_REQUIRE_DOT=1)."""
    unrendered = []
    make_figures.run_page(page, unrendered)
    for name in make_figures.shown_images(page):
        made = (directory / name).exists()
        assert made or unrendered, f"{page.name} shows {name}; no code made it"
        assert (ROOT / "docs" / "img" / name).exists(), f"run make_figures for {name}"
    if unrendered:
        require_dot()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs_and_draws_the_figures_it_shows(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    run_and_check(page, tmp_path)


def test_without_dot_all_but_the_rendering_of_a_page_runs(
    without_dot, tmp_path, monkeypatch
):
    """graphs.md on a machine without dot: its DOT-source checks still run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delenv(REQUIRE_DOT, raising=False)
    page = DOCS / "graphs.md"
    unrendered = []
    namespace = make_figures.run_page(page, unrendered)
    sources = make_figures.blocks(page)
    assert unrendered and all("draw(" in sources[n - 1] for n in unrendered)
    # the DOT-source checks ran, in the blocks that draw as in the others
    assert "used by 6 ops" in namespace["shared"] and "box3d" in namespace["collapsed"]
    with pytest.raises(pytest.skip.Exception, match=DOT_MISSING):
        run_and_check(page, tmp_path)
    monkeypatch.setenv(REQUIRE_DOT, "1")  # as in CI: the skip becomes a failure
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_DOT):
        run_and_check(page, tmp_path)


def _draws(statement: ast.stmt) -> bool:
    calls = [n for n in ast.walk(statement) if isinstance(n, ast.Call)]
    return any(
        getattr(c.func, "id", getattr(c.func, "attr", None)) == "draw" for c in calls
    )


def after_the_drawing(source: str) -> list[str]:
    """The statements after a block's first draw() that neither draw nor use
    what was drawn: without dot they would not run."""
    drawn, stray, seen = set(), [], False
    for statement in ast.parse(source).body:
        names = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)}
        if _draws(statement):  # remember what it assigned: path = draw(...)
            seen = True
            drawn |= {
                n.id
                for n in ast.walk(statement)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            }
        elif seen and not names & drawn:
            stray.append(ast.unparse(statement))
    return stray


@pytest.mark.parametrize("page", make_figures.pages(), ids=lambda p: p.name)
def test_a_block_that_draws_checks_the_dot_source_before_it_renders(page):
    for number, source in enumerate(make_figures.blocks(page), 1):
        assert not after_the_drawing(source), f"{page.name}, block {number}"


def test_the_order_check_finds_a_check_after_the_drawing():
    block = 'draw(y, "g.svg")\nsource = to_dot(y).source\nassert "mul" in source\n'
    assert after_the_drawing(block) == [
        "source = to_dot(y).source",
        "assert 'mul' in source",
    ]
    rendered = 'path = draw(y, "g.svg")\nassert path.read_text().startswith("<")\n'
    assert after_the_drawing(rendered) == []


def test_without_dot_a_wrong_dot_source_check_still_fails(
    without_dot, tmp_path, monkeypatch
):
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nfrom tinygrad_edu import Tensor\nfrom tinygrad_edu.viz import "
        "draw, to_dot\ny = Tensor([1.0], requires_grad=True) * 2.0\n"
        'draw(y, "y.svg")\n```\n'
        '```python\nassert "sigmoid" in to_dot(y).source, "a wrong check"\n```\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="python block 2 failed") as caught:
        run_and_check(page, tmp_path)
    assert "a wrong check" in str(caught.value.__cause__)


def test_the_collectors_find_blocks_and_images(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n![a curve](../img/curve.png)\n"
        "![graph](img/g.svg) ![web](https://example.org/x.png)\n"
        "```python\ny = x + 1\n```\n"
    )
    assert make_figures.blocks(page) == ["x = 1\n", "y = x + 1\n"]
    assert make_figures.shown_images(page) == {"curve.png", "g.svg"}


# -------------------------------------------- what the pages say, pinned
DOCS = ROOT / "docs"
TEXT_BLOCK = re.compile(r"^```text\n(.*?)^```", re.DOTALL | re.MULTILINE)
SPEEDUP = re.compile(r"backprop is (?:about )?\**([\d,]+(?:–[\d,]+)?)(?:×| times)")


def test_one_backprop_speedup_figure_everywhere():
    """The numerical-gradient-vs-backprop figure comes from performance.md's table."""
    texts = {p: p.read_text(encoding="utf-8") for p in DOCS.glob("**/*.md")}
    texts[ROOT / "README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    claims = {p: SPEEDUP.findall(text) for p, text in texts.items()}
    (measured,) = claims[DOCS / "performance.md"]
    quoting = {p.name for p, found in claims.items() if found}
    assert {"README.md", "05_two_layer_net.md", "performance.md"} <= quoting
    for page, found in claims.items():
        assert set(found) <= {measured}, f"{page.name} says {found}, not {measured}"


def test_tutorial_07_quotes_the_message_the_code_raises(tmp_path, monkeypatch):
    page = DOCS / "tutorial" / "07_higher_order.md"
    monkeypatch.chdir(tmp_path)
    raised = make_figures.run_page(page)["message"]
    (quoted,) = TEXT_BLOCK.findall(page.read_text(encoding="utf-8"))
    assert quoted.split() == raised.split(), (
        f"{page.name} quotes an error message the code no longer raises; "
        f"the message now is:\n{raised}"
    )


def test_pages_that_import_the_repositorys_folders_say_where_to_run_them():
    """models/ and benchmarks/ import only from the repository root."""
    importing = {}
    for page in make_figures.pages():
        text = page.read_text(encoding="utf-8")
        found = notebooks.IMPORTS_THE_REPOSITORY.search(text)
        if found:
            importing[page.name] = "repository root" in text[: found.start()]
    assert {"05_two_layer_net.md", "gradient_flow.md", "graphs.md"} <= set(importing)
    assert all(importing.values()), importing


def test_tutorial_06_says_what_backward_works_on_at_the_first_op():
    text = (DOCS / "tutorial" / "06_gradient_checking.md").read_text(encoding="utf-8")
    first_op = text.index("(Function):")
    prose_before = text[:first_op].rsplit("```python", 1)[0].rsplit("```", 1)[1]
    words = " ".join(prose_before.split())
    for point in ("`ctx.saved_tensors`", "Tensor operations", "`create_graph=True`"):
        assert point in words, point
