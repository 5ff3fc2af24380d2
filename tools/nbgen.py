"""Write the source notebooks from their cell lists (kept so notebook edits are reviewable).

    python tools/nbgen.py                          # write notebooks/*.ipynb from tools/nbcells.py
    python tools/nbgen.py --record outputs/seeds   # store the outputs nbval compares, then write
    python tools/nbgen.py --reference DIR          # reference copies for nbval (``make test-notebooks``)

Source notebooks are always written clean (no outputs, no execution counts). The cells whose source
starts with ``# NBVAL_CHECK_OUTPUT`` have an expected output recorded from an executed run of the seeds
(``tools/nbval_expected.json``); ``--reference`` writes copies of the notebooks carrying those outputs
into DIR, and nbval runs and compares the copies. Re-record after a change that legitimately moves
those figures, and review the diff.
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


def notebook(cells: list[tuple[str, str, list[str]]], expected: dict | None = None) -> nbformat.NotebookNode:
    """The notebook of ``cells``; with ``expected``, the compared cells carry their recorded output."""
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
        if expected is not None and kind == "code" and src.startswith(MARK):
            if cell.id not in expected:
                raise SystemExit(f"no recorded output for {cell.id}: run `make report`, then "
                                 "`python tools/nbgen.py --record outputs/seeds`")
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=expected[cell.id])]
            cell.execution_count = 1   # nbval treats a cell without a count as never run
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
    ap.add_argument("--reference", type=Path, help="write reference copies with the compared outputs here")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tools"))
    import nbcells

    if args.record:
        EXPECTED.write_text(json.dumps(record(args.record, nbcells.NOTEBOOKS), indent=1, sort_keys=True) + "\n")
        print("recorded", EXPECTED)
    if args.reference:
        expected = json.loads(EXPECTED.read_text())
        args.reference.mkdir(parents=True, exist_ok=True)
        for name, cells in nbcells.NOTEBOOKS.items():
            nbformat.write(notebook(cells, expected.get(name, {})), args.reference / name)
        return
    for name, cells in nbcells.NOTEBOOKS.items():
        nbformat.write(notebook(cells), ROOT / "notebooks" / name)
        print("wrote", name)


if __name__ == "__main__":
    main()
