"""The notebooks' side of a run: their parameters, the folder they write, and what they record.

A notebook starts with :func:`notebook_setup` and writes through its :class:`RunContext`, which takes
the sha256 of every table and figure when it writes it. Run by the runner (``make report``), a
notebook writes into the run's staging folder and the runner assembles the manifest. Run by hand
(JupyterLab, ``jupyter nbconvert --execute``) with ``run_dir`` empty, it writes into
``outputs/lab/<run_name>/``, never into a folder ``make report`` manages, and records itself in that
folder's manifest as it goes, so a Lab folder can be verified like any run. The record says the stage
started and not finished until the notebook's last cell calls :meth:`RunContext.finish`: the stages
after it, ``verify`` and the runner refuse a stage whose notebook stopped halfway.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import config
from analysis.errors import StageError
from analysis.fingerprint import digest, file_sha256
from analysis.params import Params, load_params
from analysis.runner import provenance
from analysis.tables import read_table, write_table

__all__ = ["RunContext", "notebook_setup", "lab_dir"]


def lab_dir(run_name: str) -> Path:
    """Where notebooks run by hand write: ``outputs/lab/<run_name>/``."""
    return config.outputs_dir() / "lab" / run_name


@dataclass
class RunContext:
    """Where one stage of a run writes, with helpers the notebooks call.

    Attributes:
        dir: the run folder.
        params: the stage's parameters.
        stage: the stage writing (a key of ``config.STAGES``); None for reading only.
        by_hand: True when the notebook runs outside the runner: every file written is then recorded
            in the folder's manifest at once.
    """

    dir: Path
    params: Params
    stage: str | None = None
    by_hand: bool = False
    records: dict[str, Any] = field(default_factory=dict)
    # the error IPython last showed (it keeps it in sys.last_value) when this context was made: finish()
    # refuses to stamp the stage if another one has been shown since
    _error_before: BaseException | None = field(default_factory=lambda: getattr(sys, "last_value", None),
                                                init=False, repr=False, compare=False)

    @property
    def tables(self) -> Path:
        return self.dir / "tables"

    @property
    def figures(self) -> Path:
        return self.dir / "figures"

    def _log_path(self, stage: str) -> Path:
        return self.dir / "logs" / f"stage-{stage}.json"

    def _produced(self, *paths: Path) -> None:
        """Record the sha256 of files this stage has just written."""
        if self.stage is None:
            return
        got = {str(p.relative_to(self.dir)): file_sha256(p) for p in paths}
        rec = self._read_log(self.stage)
        rec.setdefault("outputs", {}).update(got)
        rec.pop("finished", None)
        self._write_log(self.stage, rec)
        if self.by_hand:
            def add(r: dict) -> dict:
                r.setdefault("outputs", {}).update(got)
                # a cell re-run in Lab after the last one: the stage is finished again only once the
                # notebook has run to its end after this write
                r["finished"] = None
                return r

            provenance.update_manifest(self.dir, self.stage, add)

    def write_table(self, df: pd.DataFrame, name: str) -> Path:
        """Validate a table against :mod:`analysis.schema` and write it (Parquet + CSV) into ``tables/``."""
        path = write_table(df, self.tables, name)
        self._produced(path, path.with_suffix(".csv"))
        return path

    def read_table(self, name: str) -> pd.DataFrame:
        """Read a table an earlier stage wrote."""
        return read_table(self.tables, name)

    def has_table(self, name: str) -> bool:
        return (self.tables / f"{name}.parquet").exists()

    def save_figure(self, fig, name: str) -> Path:
        """Save a matplotlib Figure as ``figures/<name>.png`` (deterministic metadata) and close it."""
        import matplotlib.pyplot as plt

        self.figures.mkdir(parents=True, exist_ok=True)
        path = self.figures / f"{name}.png"
        tmp = path.with_name(f".{name}.tmp-{os.getpid()}.png")
        fig.savefig(tmp, dpi=110, bbox_inches="tight", metadata={"Software": None})
        os.replace(tmp, path)
        plt.close(fig)
        self._produced(path)
        return path

    def _read_log(self, stage: str) -> dict[str, Any]:
        path = self._log_path(stage)
        return json.loads(path.read_text()) if path.exists() else {}

    def _write_log(self, stage: str, rec: dict[str, Any]) -> None:
        path = self._log_path(stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec, indent=2, sort_keys=True, default=str))

    def record(self, stage: str, **info: Any) -> None:
        """Store provenance facts of a stage; the runner merges them into the manifest."""
        rec = self._read_log(stage)
        rec.update(info)
        self._write_log(stage, rec)
        if self.by_hand and stage == self.stage:
            facts = json.loads(json.dumps(info, default=str))
            provenance.update_manifest(self.dir, stage, lambda r: {**r, "record": {**r.get("record", {}), **facts}})

    def finish(self) -> None:
        """Mark the stage finished: the notebook's last code cell calls it, after everything it writes.

        Until then the stage's record says that it started and has not finished, and the stages after it,
        ``verify`` and the runner's reuse refuse it: a cell that fails halfway leaves tables that look
        complete. Run by the runner, the time goes into the stage's log, which the runner's record takes.

        What the stamp proves is that the last cell ran after :func:`notebook_setup` and that no cell
        raised an error in between (IPython keeps the last error it showed in ``sys.last_value``; any
        error shown since setup, even in a cell later fixed and run again, refuses the stamp). It does not
        prove that every cell in between ran: running the setup cell and then only the last one, skipping
        the cells that write, would stamp the stage.

        Raises:
            StageError: a cell raised an error after the notebook's setup: the stage stays unfinished
                until the notebook runs again from its first cell to its last.
        """
        if self.stage is None:
            return
        shown = getattr(sys, "last_value", None)
        if shown is not None and shown is not self._error_before:
            raise StageError(f"stage '{self.stage}' is not marked finished: a cell raised "
                             f"{type(shown).__name__} after the notebook's setup; run "
                             f"notebooks/{config.STAGES[self.stage]} again from its first cell to its last")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rec = self._read_log(self.stage)
        rec["finished"] = now
        self._write_log(self.stage, rec)
        if self.by_hand:
            provenance.update_manifest(self.dir, self.stage, lambda r: {**r, "finished": now})

    def start_stage(self) -> None:
        """Forget what this stage wrote before: its recorded outputs are removed, its record restarts."""
        old = self._read_log(self.stage).get("outputs", {})
        for rel in old:
            (self.dir / rel).unlink(missing_ok=True)
        self._write_log(self.stage, {})


def _check_upstream(folder: Path, stage: str, manifest: dict[str, Any]) -> dict[str, str]:
    """Fingerprints of ``stage``'s upstream stages recorded in ``folder``; an error naming what to run first."""
    stages = manifest.get("stages", {})
    fps = {}
    for u in config.UPSTREAM[stage]:
        rec = stages.get(u)
        run_first = f"run notebooks/{config.STAGES[u]} first (it writes into {folder})"
        if not rec or "outputs" not in rec:
            raise StageError(f"stage '{stage}' needs the tables of stage '{u}', which {folder} does not "
                             f"have: {run_first}")
        if why := provenance.unfinished_reason(rec, f"notebooks/{config.STAGES[u]}"):
            raise StageError(f"stage '{stage}' needs stage '{u}', but {why}: run it again, to its last cell "
                             f"(it writes into {folder})")
        if why := provenance.outputs_changed(folder, rec["outputs"]):
            raise StageError(f"stage '{stage}' needs stage '{u}', but its {why}: {run_first}")
        fps[u] = rec["fingerprint"]
    return fps


def notebook_setup(stage: str, params_file: str, run_dir: str, seed: int | None = None,
                   **sections: dict[str, Any]) -> tuple[Params, RunContext]:
    """Validate a notebook's parameters and return them with the stage's context.

    Args:
        stage: the notebook's stage (a key of ``config.STAGES``).
        params_file: a parameters file (the runner passes the run's validated ``params.json``).
        run_dir: the run's folder; empty (a notebook run by hand) means ``outputs/lab/<run_name>``.
        seed: the run's seed, when the notebook overrides it.
        **sections: values from the notebook's parameters cell, by section (``topics=dict(unit=...)``);
            ``None`` values mean "as in the parameters file".

    Raises:
        StageError: run by hand before the stages it reads (e.g. topics in an empty folder): names the
            notebook to run first.
    """
    if stage not in config.STAGES:
        raise StageError(f"unknown stage {stage!r}; expected one of {', '.join(config.STAGES)}")
    overrides: dict[str, Any] = {name: {k: v for k, v in values.items() if v is not None}
                                 for name, values in sections.items()}
    overrides = {k: v for k, v in overrides.items() if v}
    if seed is not None:
        overrides["seed"] = seed
    p = load_params(params_file or None, overrides or None)
    folder = Path(run_dir) if run_dir else lab_dir(p.run_name)
    by_hand = not (folder / provenance.RUNNER_MARK).exists()
    for sub in ("tables", "figures", "logs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    run = RunContext(folder, p, stage, by_hand)
    if by_hand:
        manifest = provenance.read_manifest(folder)
        upstream = _check_upstream(folder, stage, manifest)
        corpus_path = p.resolve(p.corpus.path)
        if corpus_path is None or not corpus_path.exists():
            from analysis.errors import CorpusError

            raise CorpusError(f"corpus not found: {corpus_path} (set corpus.path)")
        inputs = provenance.stage_inputs(p, stage, provenance.corpus_fingerprint(corpus_path), upstream)
        run.start_stage()
        (folder / "params.json").write_text(p.model_dump_json(indent=2))
        now = datetime.now(UTC).isoformat(timespec="seconds")
        provenance.update_manifest(folder, stage, lambda r: {
            "fingerprint": digest(inputs), "inputs": inputs, "outputs": {}, "origin": "notebook",
            "notebook": f"notebooks/{config.STAGES[stage]}", "started": now, "finished": None})
        _fill_manifest(folder, p)
    else:
        run.start_stage()
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "analysis"
    import warnings

    # tqdm's notebook bars need ipywidgets, which the project does not install; its plain bars are used
    # instead, and the warning saying so would sit in every executed notebook
    warnings.filterwarnings("ignore", message="IProgress not found")
    return p, run


def _fill_manifest(folder: Path, p: Params) -> None:
    """The run-level facts of a folder written by hand (its stages record themselves)."""
    with provenance._locked(folder):
        m = provenance.read_manifest(folder)
        m.update({"run_name": p.run_name, "parameters": p.model_dump(mode="json"),
                  "packages": provenance.versions(), "git_commit": provenance.git_commit(),
                  "origin": "notebook"})
        provenance.write_manifest(folder, m)
