"""Sphinx configuration of the jaxsnn documentation (built by ``make docs``, warnings as errors).

Pages are MyST Markdown; tutorials are MyST notebooks (myst-nb). The HTML build does not run the
tutorials unless ``JAXSNN_DOCS_EXECUTE=cache`` (or ``force``) is set: the slow test suite runs them
(tests/docs/test_tutorials.py), so ``make docs`` stays a minute on a CPU.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jaxsnn  # noqa: E402

project = "jaxsnn"
author = "the jaxsnn developers"
copyright = "2026, the jaxsnn developers"
release = jaxsnn.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache", "**/.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}
root_doc = "index"

# MyST: $...$ and $$...$$ maths, ::: fences, (label)= targets, definition lists; heading anchors for
# links such as [metrics](models/fsbi.md#metrics).
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3

# Tutorials: executed by the slow tests, not by the HTML build (unless asked for).
nb_execution_mode = os.environ.get("JAXSNN_DOCS_EXECUTE", "off")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_cache_path = str(ROOT / "docs" / "_build" / ".jupyter_cache")

# API reference from the docstrings (Google style: Args/Returns; Sphinx roles for cross references).
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True,
                           "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_mock_imports = []
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" as a field list: autodoc documents the fields themselves

html_theme = "furo"
html_title = f"jaxsnn {release}"
html_static_path = []


# ---- docstrings written for the terminal, rendered as reStructuredText --------------------------
# jaxsnn's docstrings continue a sentence on a deeper-indented line ("name: text ...\n    more text"),
# which reStructuredText reads as a definition list or block quote and warns about. Such hanging
# continuation lines are joined onto the line they continue; literal blocks (after "::"), directives,
# doctests and list items are left as they are.
import re  # noqa: E402

_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)]|#\.|:\w[^:]*:)\s")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def join_hanging_lines(lines: list[str]) -> list[str]:
    """Join each line indented deeper than the text line before it onto that line, outside literal
    blocks and directives (a pure function of the docstring's lines; tested in tests/docs)."""
    out: list[str] = []
    verbatim_indent = None  # indentation of the line that opened a literal block or directive
    for line in lines:
        stripped = line.strip()
        if verbatim_indent is not None:
            if not stripped or _indent(line) > verbatim_indent:
                out.append(line)
                continue
            verbatim_indent = None
        previous = out[-1] if out else ""
        if (stripped and previous.strip() and _indent(line) > _indent(previous)
                and not previous.rstrip().endswith("::") and not previous.lstrip().startswith((".. ", ">>>", "..."))
                and not _LIST_ITEM.match(line) and not stripped.startswith(">>>")):
            out[-1] = previous.rstrip() + " " + stripped
            continue
        if stripped.endswith("::") or stripped.startswith(".. "):
            verbatim_indent = _indent(line)
        out.append(line)
    return out


def indent_literal_blocks(lines: list[str]) -> list[str]:
    """Indent the paragraph after a line ending in "::" when it is not indented (autodoc dedents a
    docstring whose only indented lines are a literal block under its first line)."""
    out = list(lines)
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        j = i + 1
        while j < len(out) and not out[j].strip():
            j += 1
        if j < len(out) and _indent(out[j]) <= _indent(line):
            while j < len(out) and out[j].strip():
                out[j] = "    " + out[j]
                j += 1
    return out


_TRAILING_UNDERSCORE = re.compile(r"(?<![`\\])\b(np\.\w+?)_(?=[\s.,;:)]|$)")


def escape_trailing_underscores(lines: list[str]) -> list[str]:
    """``np.bool_`` outside literals reads as a reference target in reStructuredText: escape it."""
    return [_TRAILING_UNDERSCORE.sub(r"\1\\_", line) if "``" not in line else line for line in lines]


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = escape_trailing_underscores(join_hanging_lines(indent_literal_blocks(lines)))


def _skip_member(app, what, name, obj, skip, options):
    # a NamedTuple field is both an annotated attribute and a _tuplegetter property; document it once
    if type(obj).__name__ == "_tuplegetter":
        return True
    return None


# ambiguous short names in docstrings (e.g. an attribute "table" of two classes) are not errors
suppress_warnings = ["ref.python"]


def setup(app):
    app.connect("autodoc-process-docstring", _process_docstring, priority=600)  # after napoleon (500)
    app.connect("autodoc-skip-member", _skip_member)
