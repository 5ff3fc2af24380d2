"""Source notebooks: one per stage, thin, stored without outputs, each paired with its percent-format .py.

Executed copies go to outputs/ only; the outputs nbval compares live in tools/nbval_expected.json, each
with the hash of its cell's source (see tools/nbval_record.py).
"""

from __future__ import annotations

import json
import re

import jupytext
import nbformat
import pytest

from analysis import config
from tools.nbval_record import MARK, checked_cells, load_expected, source_sha256, stale_records

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


def _cells(path):
    """(type, source, tags) of each cell, as jupytext reads the file."""
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in jupytext.read(path).cells]


def test_every_stage_has_its_notebook():
    assert {p.name for p in NOTEBOOKS} == set(config.STAGES.values())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_thin(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "outputs committed"
    checked = [c for c in code if "".join(c["source"]).startswith(MARK)]
    assert checked, "each notebook marks at least one cell whose output nbval compares"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for line in "".join(params[0]["source"]).splitlines():
        assert re.match(r"^\w+ = .+  # \S", line), f"parameter without a '# help' comment: {line}"
    for c in code:
        src = "".join(c["source"])
        assert not re.search(r"^\s*(def|class) ", src, re.M), "logic belongs in the analysis package"
        code_only = re.sub(r"#.*", "", src)
        assert not re.search(r"[\"'](/|\.\./|outputs/|seeds/)", code_only), "no path literals in notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_its_script_agree(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{script.name} missing: run `.venv/bin/jupytext --sync notebooks/{path.name}`"
    assert _cells(script) == _cells(path), (
        f"{path.name} and {script.name} differ; open the notebook in JupyterLab (it saves both) or run "
        f"`.venv/bin/jupytext --sync notebooks/{path.name}` (it takes the newer file's cells)")


def test_every_script_has_its_notebook():
    scripts = {p.stem for p in config.NOTEBOOKS_DIR.glob("*.py")}
    assert scripts == {p.stem for p in NOTEBOOKS}


def test_recorded_outputs_name_current_cells():
    expected = load_expected()
    assert set(expected) <= {p.name for p in NOTEBOOKS}, "outputs recorded for a notebook that is gone"
    problems = [msg for p in NOTEBOOKS
                for msg in stale_records(p.name, nbformat.read(p, as_version=4).cells, expected.get(p.name, {}))]
    assert not problems, "tools/nbval_expected.json is stale (`make report`, then `make record-nbval`): " + \
        "; ".join(problems)


def test_a_stale_record_is_detected():
    cells = [nbformat.v4.new_code_cell(MARK + "\nprint(1)", id="cell-00"),
             nbformat.v4.new_code_cell("x = 1", id="cell-01"),
             nbformat.v4.new_code_cell(MARK + "\nprint(2)", id="cell-02")]
    current = {"source_sha256": source_sha256(cells[0].source), "stdout": "1\n"}
    assert checked_cells(cells) == [cells[0], cells[2]]
    assert stale_records("a.ipynb", cells, {"cell-00": current, "cell-02": {**current}}) == [
        "a.ipynb cell-02: the cell changed since its output was recorded"]
    assert stale_records("a.ipynb", cells, {"cell-00": current, "cell-01": current}) == [
        "a.ipynb cell-01: an output is recorded for a cell that is gone or no longer marked",
        "a.ipynb cell-02: no recorded output for this # NBVAL_CHECK_OUTPUT cell"]
