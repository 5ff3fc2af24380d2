"""The outputs nbval compares: record them from an executed run, and check that they are current.

    make record-nbval                           # = python -m tools.nbval_record (the seeds run)
    python -m tools.nbval_record outputs/NAME   # from another run folder of the seeds

Code cells whose source starts with ``# NBVAL_CHECK_OUTPUT`` have their expected stdout in
``tools/nbval_expected.json``: ``{notebook: {cell id: {"source_sha256": ..., "stdout": ...}}}``. The hash
of the cell's source at recording time tells a stale record from a current one: ``make test-notebooks``
(through ``tools/nbval_plugin.py``) and ``tests/unit/test_notebooks_clean.py`` both refuse a record whose
cell is gone or has changed. Recording reads the executed notebooks of a run folder (``RUN/notebooks/``),
made from the committed notebooks by ``make report``; review the diff of the side file before committing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ROOT / "tools" / "nbval_expected.json"
MARK = "# NBVAL_CHECK_OUTPUT"
RECORD_HINT = "run `make report`, then `make record-nbval`, and review the diff of tools/nbval_expected.json"


def source_sha256(source: str) -> str:
    """Hash of a cell's source, stored beside its expected output."""
    return hashlib.sha256(source.encode()).hexdigest()


def checked_cells(cells: list) -> list:
    """The code cells among ``cells`` whose output nbval compares."""
    return [c for c in cells if c.cell_type == "code" and c.source.startswith(MARK)]


def load_expected(path: Path = EXPECTED) -> dict:
    """The recorded outputs, by notebook file name and cell id."""
    return json.loads(path.read_text()) if path.exists() else {}


def stale_records(name: str, cells: list, records: dict) -> list[str]:
    """What is out of date between the cells of notebook ``name`` and its ``records`` (empty: nothing).

    A record for a cell that is gone, unmarked or changed since recording, and a checked cell with no record.
    """
    problems = []
    by_id = {c.get("id"): c for c in cells}
    for cid, rec in sorted(records.items()):
        cell = by_id.get(cid)
        if cell is None or cell.cell_type != "code" or not cell.source.startswith(MARK):
            problems.append(f"{name} {cid}: an output is recorded for a cell that is gone or no longer marked")
        elif rec.get("source_sha256") != source_sha256(cell.source):
            problems.append(f"{name} {cid}: the cell changed since its output was recorded")
    problems += [f"{name} {c.id}: no recorded output for this {MARK} cell"
                 for c in checked_cells(cells) if c.id not in records]
    return problems


def record(run_dir: Path, notebooks: Path = NOTEBOOKS) -> dict:
    """The stdout of every checked cell of the committed notebooks, as executed in ``run_dir``."""
    out: dict = {}
    for path in sorted(notebooks.glob("*.ipynb")):
        executed_path = run_dir / "notebooks" / path.name
        if not executed_path.exists():
            raise SystemExit(f"{executed_path} not found: {RECORD_HINT}")
        executed = {c.get("id"): c for c in nbformat.read(executed_path, as_version=4).cells}
        for cell in checked_cells(nbformat.read(path, as_version=4).cells):
            ran = executed.get(cell.id)
            if ran is None or ran.source != cell.source:
                raise SystemExit(f"{executed_path} ran another version of cell {cell.id} than "
                                 f"notebooks/{path.name}: {RECORD_HINT}")
            stdout = "".join(o.get("text", "") for o in ran.outputs
                             if o.get("output_type") == "stream" and o.get("name") == "stdout")
            out.setdefault(path.name, {})[cell.id] = {"source_sha256": source_sha256(cell.source),
                                                      "stdout": stdout}
    return out


def _seeds_run() -> Path:
    from analysis import config
    from analysis.params import load_params

    return config.outputs_dir() / load_params(config.PARAMS_DIR / "seeds.yaml").run_name


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tools.nbval_record", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, nargs="?",
                    help="run folder of the seeds made from the committed notebooks (default: the seeds run)")
    args = ap.parse_args(argv)
    run_dir = args.run_dir or _seeds_run()
    EXPECTED.write_text(json.dumps(record(run_dir), indent=1, sort_keys=True) + "\n")
    print(f"recorded the checked outputs of {run_dir} in {EXPECTED.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
