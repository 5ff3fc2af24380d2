"""``python -m analysis run``: the stages that are not provably current run again, atomically.

A run writes into a staging folder beside its target (``outputs/.<run>.staging-<pid>``) and renames it
into place only when every stage succeeded; a failed run leaves the previous outputs untouched and
says where its partial outputs and logs are. A lock held on a file beside the folder stops two runs
writing one folder at once. A stage is kept from the previous run only when its notebook finished, its
inputs' fingerprint is unchanged and every file it wrote still has the sha256 recorded when it was
written (:mod:`analysis.runner.provenance`); otherwise it and every stage downstream run again, and the
progress line says why.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis import config
from analysis.errors import AnalysisError, RunLockedError, StageError
from analysis.fingerprint import digest
from analysis.params import Params
from analysis.runner import provenance
from analysis.runner.kernels import Kernels, check_loopback, execute_stage
from analysis.runner.schedule import run_stages

__all__ = ["run_pipeline"]


class _Lock:
    """The run's hold on its target folder: an exclusive ``flock`` on ``.<name>.lock`` beside it, for the whole run.

    The kernel releases a flock when the process holding it ends, however it ends, so a lock file left
    by a killed run blocks no one, and two runs cannot both hold it. The file holds the holder's pid,
    for the message, and is removed on release while still locked; a run that opened it just before
    then finds, once it holds its lock, that the name no longer leads to that file, and tries again.
    A run releasing its lock removes the file only if the name still leads to the file it holds.
    """

    def __init__(self, target: Path):
        self.target = target
        self.path = target.parent / f".{target.name}.lock"
        self._fd: int | None = None

    def _names(self, fd: int) -> bool:
        """Whether the lock file's name still leads to the file open as ``fd``."""
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                pid = f" (pid {holder})" if holder.isdigit() else ""
                raise RunLockedError(
                    f"another run{pid} is writing {self.target}; wait for it to finish, or choose another "
                    f"--out / run_name (lock file: {self.path})") from None
            if self._names(fd):
                break
            os.close(fd)          # released and removed by its holder after we opened it
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        # Removed before the flock goes (see the class docstring), and only while the name still leads to
        # the file we hold: if it was deleted while held (``make clean``) and another run has since made
        # and locked a new one, that file is the other run's lock and stays.
        if self._names(self._fd):
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


def _plan(params: Params, stages: list[str], corpus_sha: str, previous: dict[str, Any], folder: Path,
          force: bool, fail_at: str | None) -> tuple[dict[str, dict], dict[str, str]]:
    """The inputs of every stage, and why each stage that cannot be reused runs (stage -> reason)."""
    inputs: dict[str, dict] = {}
    reasons: dict[str, str] = {}
    prev = previous.get("stages", {})
    for stage in stages:
        fps = {u: digest(inputs[u]) for u in config.UPSTREAM[stage] if u in inputs}
        inputs[stage] = provenance.stage_inputs(params, stage, corpus_sha, fps)
        if force or fail_at == stage:
            reasons[stage] = "--force"
        elif ran := [u for u in config.UPSTREAM[stage] if u in reasons]:
            reasons[stage] = f"upstream stage {ran[0]} runs again"
        elif why := provenance.stale_reason(folder, prev.get(stage), inputs[stage]):
            reasons[stage] = why
    return inputs, reasons


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
    check_loopback()             # before anything is written: kernels could not start
    stages = list(config.STAGES)
    if until:
        stages = stages[: stages.index(until) + 1]
    started = datetime.now(UTC)
    with _Lock(target):
        staging = target.parent / f".{target.name}.staging-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        previous = provenance.read_manifest(target) if target.exists() else {}
        if target.exists():
            shutil.copytree(target, staging)
        for sub in ("tables", "figures", "logs", "notebooks"):
            (staging / sub).mkdir(parents=True, exist_ok=True)
        (staging / provenance.RUNNER_MARK).write_text(str(os.getpid()))
        (staging / "params.json").write_text(params.model_dump_json(indent=2))
        corpus_sha = provenance.corpus_fingerprint(corpus_path)
        inputs, reasons = _plan(params, stages, corpus_sha, previous, target, force, fail_at)
        for stage in stages:
            if stage in reasons:
                log(f"[{stage}] runs: {reasons[stage]}")
            else:
                log(f"[{stage}] unchanged, kept from the previous run")
        todo = [s for s in stages if s in reasons]
        if todo:
            _quiet_kernel_machinery()

        kernels = Kernels(staging, config.NOTEBOOKS_DIR, params.compute.prestart_kernels)

        def run_one(stage: str) -> float:
            if fail_at == stage:
                raise StageError(f"stage '{stage}' failed: injected failure (test hook)")
            return execute_stage(stage, staging, kernels)

        try:
            ran = run_stages(todo, run_one, params.compute.stages_in_parallel(), log,
                             summary=lambda stage: _stage_summary(staging, stage),
                             note=lambda stage: _stage_note(staging, params, stage),
                             abort=kernels.stop, prepare=kernels.prestart)
        except AnalysisError as exc:
            raise type(exc)(f"{exc} -- previous outputs in {target} are untouched; partial outputs "
                            f"and logs of this run are in {staging}") from None
        finally:
            kernels.close()
        durations = {s: ran.get(s, 0.0) for s in stages}
        manifest = _manifest(params, staging, corpus_path, corpus_sha, inputs, reasons, previous,
                             durations, started)
        provenance.write_manifest(staging, manifest)
        if "summary" in stages:
            from analysis.report import write_report

            write_report(staging)
        else:                                   # a report of earlier tables would not say so
            (staging / "report.html").unlink(missing_ok=True)
        (staging / provenance.RUNNER_MARK).unlink()
        # Swap: the old folder moves aside, the new one into place, then the old one goes.
        trash = target.parent / f".{target.name}.old-{os.getpid()}"
        if target.exists():
            os.replace(target, trash)
        os.replace(staging, target)
        if trash.exists():
            shutil.rmtree(trash, ignore_errors=True)
        _remove_leftovers(target, log)
    return target


def _quiet_kernel_machinery() -> None:
    """Keep the kernel libraries' log lines off the terminal (``--debug`` shows them).

    Lines such as "Kernel died while waiting for execute reply." describe the machinery (a kernel stopped
    because another stage failed), not the failure, which the run reports in one line.
    """
    import logging

    if logging.getLogger().level > logging.DEBUG:
        for name in ("papermill", "traitlets", "nbclient", "jupyter_client"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


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


# From this many actor mentions up, a run that scores them with the targeted model in float32 on the
# CPU says so as the sentiment stage starts: without a faster precision it is the longest stage.
LONG_TARGETED_PASS = 5_000


def _stage_note(run_dir: Path, params: Params, stage: str) -> str:
    """What a researcher should know as ``stage`` starts, or ''.

    For the sentiment stage on the CPU in float32 with many mentions: the targeted model reads every
    mention (those already in the cache excepted), and on CPUs without native bfloat16 that dominates the
    run (about 130 mentions/s on 2 AVX2 cores, bench/README.md).
    """
    if stage != "sentiment" or params.sentiment.targeted_method != "model":
        return ""
    mentions = run_dir / "tables" / "actor_mentions.parquet"
    corpus_log = run_dir / "logs" / "stage-corpus.json"
    if not mentions.exists() or not corpus_log.exists():
        return ""
    import pyarrow.parquet as pq

    n = pq.ParquetFile(mentions).metadata.num_rows
    minilm = json.loads(corpus_log.read_text()).get("models", {}).get("minilm", {})
    on_cpu = " on cpu " in f" {minilm.get('setup', '')} "
    if n < LONG_TARGETED_PASS or not on_cpu or minilm.get("precision", {}).get("used") != "float32":
        return ""
    return (f"the targeted model reads {n:,} mentions in float32 on this CPU (those cached from an earlier "
            "run excepted): the longest stage where there is no native bfloat16; "
            "`--set sentiment.targeted_method=clause` takes seconds, at lower accuracy (docs/sentiment.md)")


def _manifest(params, staging, corpus_path, corpus_sha, inputs, reasons, previous, durations,
              started) -> dict[str, Any]:
    """The run's manifest: executed stages with what they recorded, reused ones exactly as recorded."""
    records = {}
    for f in sorted((staging / "logs").glob("stage-*.json")):
        records[f.stem[len("stage-"):]] = json.loads(f.read_text())
    now = datetime.now(UTC).isoformat(timespec="seconds")
    stages = {}
    for stage, inp in inputs.items():
        if stage in reasons:
            rec = records.get(stage, {})
            # written only once every notebook succeeded: finished when its last cell stamped it, or now
            # for a notebook without that cell
            stages[stage] = {"fingerprint": digest(inp), "inputs": inp, "origin": "run",
                             "notebook": f"notebooks/{config.STAGES[stage]}", "outputs": rec.get("outputs", {}),
                             "reason": reasons[stage], "finished": rec.get("finished") or now}
        else:
            stages[stage] = previous["stages"][stage]      # reuse never rewrites what was recorded
    # stages past --until keep their record as it was: verify says when they are stale
    for stage, rec in previous.get("stages", {}).items():
        stages.setdefault(stage, rec)
    timing = {"started": started.isoformat(timespec="seconds"),
              "finished": now,
              "stage_seconds": {s: round(d, 2) for s, d in durations.items()},
              "executed": [s for s in inputs if s in reasons]}
    corpus_rec = records.get("corpus", {})
    return {
        "run_name": params.run_name,
        "origin": "run",
        "parameters": params.model_dump(mode="json"),
        "corpus": {"path": str(corpus_path), "sha256": corpus_sha,
                   "files": corpus_rec.get("files", {}), "encodings": corpus_rec.get("encodings", {}),
                   "documents": corpus_rec.get("documents"), "skipped": corpus_rec.get("skipped")},
        "models": {k: v for r in records.values() for k, v in r.get("models", {}).items()},
        "stage_records": {s: {k: v for k, v in r.items() if k not in ("outputs", "finished")}
                          for s, r in records.items()},
        "packages": provenance.versions(),
        "git_commit": provenance.git_commit(),
        "stages": dict(sorted(stages.items(), key=lambda kv: list(config.STAGES).index(kv[0]))),
        "tables": provenance.recorded_tables(stages),
        "figures": provenance.recorded_figures(stages),
        "timing": timing,
    }
