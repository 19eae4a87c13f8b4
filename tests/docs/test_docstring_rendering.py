"""docs/conf.py turns docstrings written for the terminal into valid reStructuredText: hanging
continuation lines are joined (a list item's too: it renders the same), literal blocks, directives and
nested list items are left alone."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _conf():
    spec = importlib.util.spec_from_file_location("jaxsnn_docs_conf", ROOT / "docs" / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hanging_lines_are_joined_and_blocks_kept():
    conf = _conf()
    lines = ["weight: one value for all synapses, or ``[n]`` (units",
             "    of the target's variable).",
             "delay: axonal delay (s).",
             "",
             "Example::",
             "",
             "    def f(x):",
             "        return x",
             "- item one",
             "  continued",
             "  - nested item",
             ".. note::",
             "   kept as it is",
             "      deeper, still kept"]
    assert conf.join_hanging_lines(lines) == [
        "weight: one value for all synapses, or ``[n]`` (units of the target's variable).",
        "delay: axonal delay (s).", "", "Example::", "", "    def f(x):", "        return x",
        "- item one continued", "  - nested item", ".. note::", "   kept as it is", "      deeper, still kept"]


def test_an_unindented_literal_block_is_indented():
    conf = _conf()
    assert conf.indent_literal_blocks(["Fixed point::", "", "u* = U", "x* = 1", "", "after"]) == [
        "Fixed point::", "", "    u* = U", "    x* = 1", "", "after"]
    assert conf.escape_trailing_underscores(["dtype: np.float32 or np.bool_."]) == ["dtype: np.float32 or np.bool\\_."]
    assert conf.escape_trailing_underscores(["``np.bool_``"]) == ["``np.bool_``"]
