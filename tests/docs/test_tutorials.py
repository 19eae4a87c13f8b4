"""The tutorials of docs/tutorials are executable MyST notebooks: each runs here from a fresh kernel in a
temporary folder (slow suite), and fails on the first cell that raises; the notebooks check their own
results with assertions."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted(p for p in (ROOT / "docs" / "tutorials").glob("*.md") if p.name != "index.md")


def run_notebook(path: Path, cwd: Path, timeout: int = 900):
    """Execute the MyST notebook at ``path`` in ``cwd`` with the python3 kernel; returns the notebook
    with its outputs. Raises nbclient's CellExecutionError naming the failing cell."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from nbclient import NotebookClient

    notebook = read_myst_markdown_notebook(path.read_text(), path=path)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    path_entries = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    client.execute(cwd=str(cwd), env={**os.environ, "PYTHONPATH": os.pathsep.join(path_entries)})
    return notebook


def outputs_text(notebook) -> str:
    """Everything the notebook's code cells printed (stdout streams and text results)."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                parts.append(out["text"])
            elif "data" in out and "text/plain" in out["data"]:
                parts.append(out["data"]["text/plain"])
    return "".join(parts)


def test_every_tutorial_is_in_the_index():
    index = (ROOT / "docs" / "tutorials" / "index.md").read_text()
    toc = (ROOT / "docs" / "index.md").read_text()
    for path in TUTORIALS:
        assert f"({path.name})" in index and f"tutorials/{path.stem}" in toc, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("myst_nb")
    notebook = run_notebook(path, tmp_path)
    errors = [out for cell in notebook.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    assert outputs_text(notebook).strip(), f"{path.name} printed nothing"
