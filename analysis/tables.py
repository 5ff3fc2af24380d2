"""Reading and writing the documented tables that stages exchange.

Every table is checked against its declaration in :mod:`analysis.schema`, then written twice, atomically:
Parquet for the pipeline and CSV for people. Nested values (lists, dicts) are stored as JSON text so both
files carry the same content.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_table", "read_table", "table_sha256", "sort_rows"]


def _jsonify(value):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=isinstance(value, dict))
    return value


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reset_index(drop=True).copy()
    for col in out.columns:
        if out[col].dtype == object and len(out) and out[col].map(
                lambda v: isinstance(v, (list, dict, tuple, np.ndarray))).any():
            out[col] = out[col].map(_jsonify)
    return out


def _orderable(col: pd.Series) -> bool:
    """Whether a column can break ties in a sort: numbers, booleans, dates, or text (lists cannot)."""
    if col.dtype != object:
        return True
    return bool(col.map(lambda v: v is None or isinstance(v, str) or (isinstance(v, float) and v != v)).all())


def sort_rows(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``df`` with its rows in one order fixed by their content: by ``by``, ties broken by the other columns.

    Tables assembled from per-document slices (a Dask partition, a sub-corpus) get their rows in a
    different order depending on how the documents were split; sorted here, every split gives the same
    table, byte for byte. The other columns break ties left to right; columns holding lists cannot, so
    rows that differ only there keep the order they came in.

    Example:
        >>> t = pd.DataFrame({"doc_id": ["b", "a", "a"], "start": [0, 5, 5], "actor_id": ["X", "Z", "Y"]})
        >>> sort_rows(t, ["doc_id", "start"])["actor_id"].tolist()
        ['Y', 'Z', 'X']
    """
    keys = [*by, *(c for c in df.columns if c not in by and _orderable(df[c]))]
    return df.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def write_table(df: pd.DataFrame, folder: Path, name: str) -> Path:
    """Validate ``df`` against its declaration, then write ``<folder>/<name>.parquet`` and ``<folder>/<name>.csv``.

    Args:
        df: the table.
        folder: the run's ``tables/`` folder.
        name: the table's name, declared in :mod:`analysis.schema`, which also sets its column order; an
            empty table gets every declared column with its type.

    Raises:
        SchemaError: ``df`` does not match the declaration (names the table and the column).
    """
    from analysis import schema  # pandera loads only where a table is written

    out = _plain(schema.validate(df, name))
    pq = folder / f"{name}.parquet"
    _atomic_write(pq, lambda p: out.to_parquet(p, index=False))
    _atomic_write(folder / f"{name}.csv", lambda p: out.to_csv(p, index=False, lineterminator="\n"))
    return pq


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """Read ``<folder>/<name>.parquet``, with an error that says which stage makes it."""
    path = folder / f"{name}.parquet"
    if not path.exists():
        from analysis.errors import StageError

        raise StageError(f"table '{name}' not found at {path}; run the stage that writes it first "
                         "(make report, or the notebooks in order)")
    return pd.read_parquet(path)


def table_sha256(path: Path) -> str:
    """Hex sha256 of a table file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
