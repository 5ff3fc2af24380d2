"""Write the source notebooks from their cell lists (kept so notebook edits are reviewable).

Run ``python tools/nbgen.py`` after editing; notebooks are written without outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def notebook(cells: list[tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
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
        nb.cells.append(cell)
    return nb


def main() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import nbcells

    for name, cells in nbcells.NOTEBOOKS.items():
        nb = notebook(cells)
        nbformat.write(nb, ROOT / "notebooks" / name)
        print("wrote", name)


if __name__ == "__main__":
    main()
