"""Write the source notebooks from their cell lists (kept so notebook edits are reviewable).

    python tools/nbgen.py                      # write notebooks/*.ipynb from tools/nbcells.py
    python tools/nbgen.py --record outputs/seeds   # store the outputs nbval compares, then write

Notebooks are written without outputs, except the cells whose source starts with
``# NBVAL_CHECK_OUTPUT``: they carry the output recorded from an executed run of the seeds
(``tools/nbval_expected.json``), which nbval compares in ``make test``. Re-record after a change that
legitimately moves those figures, and review the diff.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "tools" / "nbval_expected.json"
MARK = "# NBVAL_CHECK_OUTPUT"


def notebook(cells: list[tuple[str, str, list[str]]], expected: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    }
    for i, (kind, src, tags) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        cell.id = f"cell-{i:02d}"  # stable ids: stable diffs
        if kind == "code" and src.startswith(MARK):
            if cell.id in expected:
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=expected[cell.id])]
                cell.execution_count = 1   # nbval treats a cell without a count as never run
            else:
                print(f"warning: no recorded output for {cell.id}: run `make report`, then "
                      "`python tools/nbgen.py --record outputs/seeds`")
        nb.cells.append(cell)
    return nb


def record(run_dir: Path, notebooks: dict) -> dict:
    """Stdout of every marked cell in the executed notebooks of ``run_dir``."""
    out: dict = {}
    for name, cells in notebooks.items():
        executed = nbformat.read(run_dir / "notebooks" / name, as_version=4)
        by_id = {c.id: c for c in executed.cells}
        for i, (kind, src, _tags) in enumerate(cells):
            cid = f"cell-{i:02d}"
            if kind == "code" and src.startswith(MARK):
                cell = by_id.get(cid)
                if cell is None or cell.source != src:
                    raise SystemExit(f"{run_dir}/notebooks/{name} was run from other cells; run `make report` first")
                out.setdefault(name, {})[cid] = "".join(o.get("text", "") for o in cell.outputs
                                                        if o.get("output_type") == "stream")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record", type=Path, help="executed run folder to take the compared outputs from")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tools"))
    import nbcells

    if args.record:
        EXPECTED.write_text(json.dumps(record(args.record, nbcells.NOTEBOOKS), indent=1, sort_keys=True) + "\n")
        print("recorded", EXPECTED)
    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    for name, cells in nbcells.NOTEBOOKS.items():
        nbformat.write(notebook(cells, expected.get(name, {})), ROOT / "notebooks" / name)
        print("wrote", name)


if __name__ == "__main__":
    main()
