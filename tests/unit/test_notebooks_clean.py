"""Source notebooks are thin and stored without outputs or execution counts.

Executed copies go to outputs/ only; the outputs nbval compares live in tools/nbval_expected.json.
"""

from __future__ import annotations

import json
import re

import pytest

from analysis import config

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


def test_every_stage_has_its_notebook():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_corpus.ipynb", "02_topics.ipynb", "03_actors.ipynb", "04_sentiment.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_thin(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "outputs committed"
    checked = [c for c in code if "".join(c["source"]).startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked, "each notebook marks at least one cell whose output nbval compares"
    expected = json.loads((config.PROJECT_ROOT / "tools" / "nbval_expected.json").read_text())
    assert set(expected.get(path.name, {})) == {c["id"] for c in checked}, "recorded outputs out of date"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for line in "".join(params[0]["source"]).splitlines():
        assert re.match(r"^\w+ = .+  # \S", line), f"parameter without a '# help' comment: {line}"
    for c in code:
        src = "".join(c["source"])
        assert not re.search(r"^\s*(def|class) ", src, re.M), "logic belongs in the analysis package"
        code_only = re.sub(r"#.*", "", src)
        assert not re.search(r"[\"'](/|\.\./|outputs/|seeds/)", code_only), "no path literals in notebooks"
