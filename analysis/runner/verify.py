"""``python -m analysis verify RUN_DIR``: is the folder what its manifest says?

Four checks, each problem named by its file or stage:

1. every stage's notebook ran to its last cell (one that stopped at an error halfway recorded the
   tables it wrote until then);
2. every file a stage wrote still has the sha256 recorded when it was written, and ``tables/`` holds
   no table that no stage recorded;
3. every stage was made from the upstream stages now in the folder (a stage re-run by hand makes the
   stages downstream of it stale until they run again);
4. the links between tables: every ``doc_id``, ``segment_id``, ``topic`` and ``actor_id`` a table
   names exists in the table that defines it (``documents``, ``segments``, ``topics``, ``actors``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import config
from analysis.errors import StageError
from analysis.runner import provenance

__all__ = ["verify_run", "KEYS"]

# column -> (table defining the key, its column). Columns named like the key, or in KEYS' aliases.
KEYS: dict[str, tuple[str, str]] = {
    "doc_id": ("documents", "doc_id"), "doc_a": ("documents", "doc_id"), "doc_b": ("documents", "doc_id"),
    "segment_id": ("segments", "segment_id"), "example_segment_ids": ("segments", "segment_id"),
    "representative_segment_ids": ("segments", "segment_id"),
    "topic": ("topics", "topic"),
    "actor_id": ("actors", "actor_id"), "actor_a": ("actors", "actor_id"), "actor_b": ("actors", "actor_id"),
}
# Columns naming a topic model's unit: a segment, or a whole document when topics.unit is document
_UNIT_KEYS = {("segment_topics", "segment_id"), ("topics", "representative_segment_ids")}
# values that stand for no single key: BERTopic's outlier topic, the corpus-wide row of a per-document table
_NOT_KEYS: dict[str, set] = {"topic": {-1}, "doc_id": {"ALL"}}


def _values(series: pd.Series) -> set:
    """The key values of a column; JSON lists (``["a", "b"]``) are unpacked."""
    out: set = set()
    for v in series.dropna():
        if isinstance(v, str) and v.startswith("["):
            try:
                out.update(json.loads(v))
                continue
            except json.JSONDecodeError:     # an id that merely starts with "[", such as "[2022] report"
                pass
        out.add(v)
    return out


def _check_links(tables: Path) -> list[str]:
    problems = []
    cache: dict[str, pd.DataFrame | None] = {}

    def load(name: str) -> pd.DataFrame | None:
        if name not in cache:
            f = tables / f"{name}.parquet"
            cache[name] = pd.read_parquet(f) if f.exists() else None
        return cache[name]

    for f in sorted(tables.glob("*.parquet")):
        df = load(f.stem)
        for col, (home, key) in KEYS.items():
            if col not in df.columns or f.stem == home:
                continue
            ref = load(home)
            if ref is None:
                problems.append(f"tables/{f.name}: column {col} refers to table {home}, which is missing")
                continue
            known = set(ref[key])
            if (f.stem, col) in _UNIT_KEYS and (docs := load("documents")) is not None:
                known |= set(docs["doc_id"])
            unknown = _values(df[col]) - known - _NOT_KEYS.get(key, set())
            if unknown:
                shown = ", ".join(map(repr, sorted(unknown, key=str)[:3]))
                problems.append(f"tables/{f.name}: column {col} names {len(unknown)} {key} value(s) that "
                                f"tables/{home}.parquet lacks ({shown}); the two were written by different runs")
    return problems


def verify_run(run_dir: Path) -> list[str]:
    """Check a run folder against its manifest and its tables against each other; return the problems."""
    run_dir = Path(run_dir)
    mpath = run_dir / provenance.MANIFEST
    if not mpath.exists():
        raise StageError(f"{mpath} not found; is {run_dir} a finished run folder?")
    manifest: dict[str, Any] = json.loads(mpath.read_text())
    stages = manifest.get("stages", {})
    if not stages or any("outputs" not in r for r in stages.values()):
        raise StageError(f"{mpath} records no hashes of what its stages wrote (made by an older version); "
                         "run it again (make report) to verify it")
    problems = [f"stage {stage}: {why}; run notebooks/{config.STAGES[stage]} again, to its last cell"
                for stage, rec in stages.items() if (why := provenance.unfinished_reason(rec))]
    recorded = set()
    for stage, rec in stages.items():
        for rel, sha in sorted(rec["outputs"].items()):
            recorded.add(rel)
            f = run_dir / rel
            if not f.is_file():
                problems.append(f"{rel}: missing (written by stage {stage})")
            elif provenance.file_sha256(f) != sha:
                problems.append(f"{rel}: sha256 differs from the hash recorded when stage {stage} wrote it")
    for f in sorted((run_dir / "tables").glob("*")):
        if f.is_file() and not f.name.startswith(".") and f"tables/{f.name}" not in recorded:
            problems.append(f"tables/{f.name}: not in the manifest (no recorded stage wrote it)")
    for stage, rec in stages.items():
        for u, fp in (rec.get("inputs", {}).get("upstream") or {}).items():
            if u not in stages:
                problems.append(f"stage {stage}: made from stage {u}, which this folder has no record of")
            elif stages[u].get("fingerprint") != fp:
                problems.append(f"stage {stage}: made from another run of stage {u} (it ran again since); "
                                f"run notebooks/{config.STAGES[stage]} again")
    return problems + _check_links(run_dir / "tables")
