"""pytest plugin: nbval runs the committed notebooks in place, with the recorded outputs put in memory.

    python -m pytest -p tools.nbval_plugin --nbval-lax notebooks/*.ipynb   # see `make test-notebooks`

The source notebooks are stored without outputs, so nbval alone would compare nothing. After collection,
each ``# NBVAL_CHECK_OUTPUT`` cell gets its expected stdout from ``tools/nbval_expected.json`` (and an
execution count: nbval skips the comparison for a cell that looks never run). Nothing is written to the
notebooks. A missing or stale record stops the run before any kernel starts, saying how to re-record.
"""

from __future__ import annotations

import nbformat
import pytest

from tools.nbval_record import RECORD_HINT, load_expected, source_sha256, stale_records


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Give the checked cells of each collected notebook their recorded output."""
    expected = load_expected()
    problems: list[str] = []
    seen: set = set()
    for item in items:
        nb_file, cell = item.parent, getattr(item, "cell", None)
        if cell is None or not hasattr(nb_file, "nb"):
            continue  # not an nbval cell
        name = nb_file.path.name
        records = expected.get(name, {})
        if name not in seen:
            seen.add(name)
            problems += stale_records(name, nb_file.nb.cells, records)
        rec = records.get(cell.get("id"))
        if item.options["check"] and rec and rec["source_sha256"] == source_sha256(cell.source):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=rec["stdout"])]
            cell.execution_count = 1
    if problems:
        raise pytest.UsageError("tools/nbval_expected.json is out of date:\n  " + "\n  ".join(problems)
                                + f"\n{RECORD_HINT}")
