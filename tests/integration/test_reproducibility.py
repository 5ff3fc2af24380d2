"""A run is what its manifest says, the way researchers work: Lab experiments, hand edits, code changes.

Replays, on a copy of the project, what a new user did: a notebook run by hand (into the Lab folder, and
into the run folder itself), a table edited by hand, a comment added to a module the notebooks import
only indirectly (``analysis/accel.py``); after each, ``verify`` says what is wrong and the next run
executes exactly the stages concerned and everything downstream.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _tables(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted((folder / "tables").iterdir())}


class Project:
    """A copy of the project, run with its own package (PYTHONPATH) and outputs folder."""

    def __init__(self, root: Path):
        self.root = root
        for part in ("analysis", "notebooks", "seeds", "tests/data"):
            shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        shutil.copy(ROOT / "pyproject.toml", root)
        self.outputs = root / "outputs"
        self.env = dict(os.environ, PYTHONPATH=str(root), ANALYSIS_OUTPUTS_DIR=str(self.outputs),
                        ANALYSIS_CACHE_DIR=str(ROOT / ".cache"))     # vectors and numba code: shared, keyed by code
        self.run_dir = root / "run"

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=1200)

    def run(self) -> str:
        r = self.cli("run", "--out", str(self.run_dir), "--run-name", "seeds")
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def verify(self, folder: Path | None = None) -> subprocess.CompletedProcess:
        return self.cli("verify", str(folder or self.run_dir))

    def notebook(self, name: str, **params) -> subprocess.CompletedProcess:
        """Execute a notebook by hand (as "Run all" in JupyterLab does), with papermill parameters."""
        out = self.root / "executed" / name
        out.parent.mkdir(exist_ok=True)
        args = [a for k, v in params.items() for a in ("-p", k, str(v))]
        return subprocess.run([sys.executable, "-m", "papermill", str(self.root / "notebooks" / name), str(out),
                               "--cwd", str(self.root / "notebooks"), *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=900)


def _stage_lines(out: str) -> dict[str, str]:
    lines = {}
    for line in out.splitlines():
        if line.startswith("[") and ("] runs: " in line or "] unchanged" in line):
            stage, _, rest = line[1:].partition("] ")
            lines[stage] = rest
    return lines


def test_lab_edits_hand_edits_and_code_changes_are_caught(tmp_path):
    proj = Project(tmp_path)
    proj.run()
    first = _tables(proj.run_dir)
    assert proj.verify().returncode == 0

    # A notebook run by hand before its upstream stage: one line naming the notebook to run first
    r = proj.notebook("02_topics.ipynb", nr_topics=3)
    assert r.returncode != 0
    assert "StageError: stage 'topics' needs the tables of stage 'corpus'" in r.stderr
    assert "run notebooks/01_corpus.ipynb first" in r.stderr

    # 1. Lab: corpus, then topics with nr_topics = 3. They write into outputs/lab/seeds, not the run folder
    for nb, params in (("01_corpus.ipynb", {}), ("02_topics.ipynb", {"nr_topics": 3})):
        r = proj.notebook(nb, **params)
        assert r.returncode == 0, r.stderr[-2000:]
    lab = proj.outputs / "lab" / "seeds"
    assert _tables(proj.run_dir) == first
    v = proj.verify(lab)
    assert v.returncode == 0, v.stdout

    # The same notebook pointed at the run folder itself: the folder now says it is inconsistent
    r = proj.notebook("02_topics.ipynb", nr_topics=3, run_dir=proj.run_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    v = proj.verify()
    assert v.returncode == 1
    assert "stage sentiment: made from another run of stage topics" in v.stdout
    assert "tables/actor_topic_sentiment.parquet: column topic names" in v.stdout

    # 2. the next run executes topics and what reads it, and nothing else
    stages = _stage_lines(proj.run())
    assert stages["topics"] == "runs: last written from a notebook; parameters changed (topics.nr_topics: 3 -> None)"
    assert stages["sentiment"] == stages["summary"] == "runs: upstream stage topics runs again"
    assert stages["corpus"].startswith("unchanged") and stages["actors"].startswith("unchanged")
    assert proj.verify().returncode == 0
    assert _tables(proj.run_dir) == first          # the same tables as the first run, byte for byte

    # 3. a table edited by hand
    csv = proj.run_dir / "tables" / "topics.csv"
    csv.write_bytes(csv.read_bytes() + b"\n")
    v = proj.verify()
    assert v.returncode == 1 and "tables/topics.csv: sha256 differs from the hash recorded when stage topics wrote it" in v.stdout
    stages = _stage_lines(proj.run())
    assert stages["topics"] == "runs: tables/topics.csv changed since it was written"
    assert proj.verify().returncode == 0 and _tables(proj.run_dir) == first

    # 4. a comment in a module no notebook imports directly
    accel = proj.root / "analysis" / "accel.py"
    accel.write_text(accel.read_text() + "\n# a comment\n")
    r = proj.cli("run", "--out", str(proj.run_dir), "--run-name", "seeds", "--until", "topics")
    assert r.returncode == 0, r.stderr
    stages = _stage_lines(r.stdout)
    assert stages["corpus"] == "runs: code changed: analysis/accel.py"
    assert stages["topics"] == "runs: upstream stage corpus runs again"
    v = proj.verify()          # the stages past --until are now stale, and verify says so
    assert v.returncode == 1 and "stage actors: made from another run of stage corpus" in v.stdout
    stages = _stage_lines(proj.run())
    assert {s for s, line in stages.items() if line.startswith("runs")} == {"actors", "sentiment", "summary"}
    assert proj.verify().returncode == 0 and _tables(proj.run_dir) == first

    # nothing changed: every stage kept
    stages = _stage_lines(proj.run())
    assert all(line.startswith("unchanged") for line in stages.values()) and len(stages) == 5
