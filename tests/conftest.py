"""Shared fixtures. Expensive objects are session-scoped; nothing here touches the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Debian's chromium for the headless browser tests; `make test` installs it when it runs as root (`make browser`)
CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
NO_CHROMIUM = "no headless chromium on PATH (install Debian's `chromium`; `make test` does so when run as root)"


@pytest.fixture(autouse=True, scope="session")
def _isolated_outputs(tmp_path_factory):
    """Runs made by tests go to a temporary outputs folder, never to the researcher's outputs/."""
    out = tmp_path_factory.mktemp("outputs")
    os.environ["ANALYSIS_OUTPUTS_DIR"] = str(out)
    yield out


def run_cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``python -m analysis`` in a new process (its own interpreter, like a researcher's shell)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="session")
def seeds_run(tmp_path_factory) -> Path:
    """One full pipeline run on the seeds, shared by the integration tests."""
    out = tmp_path_factory.mktemp("runs") / "seeds"
    r = run_cli("run", "--out", str(out), "--run-name", "seeds")
    assert r.returncode == 0, r.stdout + r.stderr
    return out
