"""A Griffe extension for the reference pages: doctests render as code.

Our docstrings carry runnable ``>>>`` examples (pytest runs them) wherever
they help, not only in an "Examples:" section, and Markdown would read them
as block quotes and their output as links. This fences each run of doctest
lines as ``pycon`` before mkdocstrings renders the docstring; the source is
untouched, so the doctests still run as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# A prompt line, then its continuation and output lines, up to a blank line.
DOCTEST = re.compile(r"^(?P<indent>[ \t]*)>>> .*(?:\n(?P=indent)(?!\s*$).*)*", re.M)


class FenceDoctests(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = DOCTEST.sub(_fence, obj.docstring.value)


def _fence(match: re.Match[str]) -> str:
    indent = match["indent"]
    return f"{indent}```pycon\n{match[0]}\n{indent}```"
