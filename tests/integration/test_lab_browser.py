"""The JupyterLab workflow in a real browser: open 01_corpus, run all cells, and the folder it wrote verifies.

JupyterLab is set up as `make lab` sets it up (`make kernel`, then `jupyter lab --notebook-dir=...`), here
on a copy of ``notebooks/`` (Lab saves into the file it opened, autosave included, so the committed notebook
is never served), on a free port of 127.0.0.1 with a random token, no browser of its own and nothing
fetched from the network. Debian's chromium is driven headless through Playwright (``executable_path``:
no browser is downloaded). Skipped with the reason where chromium or playwright is absent.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import psutil
import pytest

from tests.conftest import CHROMIUM, NO_CHROMIUM, ROOT, run_cli

try:
    from playwright.sync_api import sync_playwright
except ImportError:          # the dev extra is not installed
    sync_playwright = None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (it is in the dev extra and "
                                                       "requirements.lock: `make install`); no browser download "
                                                       "is needed, it drives Debian's chromium"),
    pytest.mark.skipif(shutil.which("make") is None, reason="no `make`: Lab is set up with `make kernel`, "
                                                            "as `make lab` does"),
]

NOTEBOOK = "01_corpus.ipynb"
RUN_NAME = "seeds"           # run_name of notebooks/params/seeds.yaml, the notebook's default parameters file
SUMMARY = re.compile(r"^(\d+) documents, \d+ paragraphs, \d+ sentences, \d+ words; ")
SERVER_START_S, PAGE_S, KERNEL_START_S, RUN_ALL_S = 90, 60, 120, 300

# Polled in the page until the summary line is shown, or an error is: an IPython traceback, or the one
# line that analysis' own errors show instead of one (errors.AnalysisError._render_traceback_).
SUMMARY_OR_ERROR_JS = r"""() => {
  const outs = [...document.querySelectorAll('.jp-NotebookPanel .jp-OutputArea-output')];
  const err = outs.find(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr'
      && (o.textContent.includes('Traceback (most recent call last)') || /^\w*(Error|Exception)\b[^\n]*: /m.test(o.textContent)));
  if (err) return {error: err.textContent.slice(-3000)};
  const line = outs.map(o => o.textContent).find(t => /^\d+ documents, \d+ paragraphs/.test(t));
  return line ? {summary: line.trim()} : false;
}"""
# Every code cell shows an execution count: none queued ([*]) or left unrun ([ ]).
ALL_RUN_JS = r"""() => {
  const p = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  return p.length > 0 && p.every(t => /^\[\d+\]:$/.test(t)) ? p.length : false;
}"""
STATUS_IDLE_JS = r"""() => /\|\s*Idle\b/.test(document.querySelector('.jp-StatusBar-Widget')?.innerText || '')"""
NOT_DIRTY_JS = "() => !document.querySelector('.jp-NotebookPanel.jp-mod-dirty, .lm-TabBar-tab.jp-mod-dirty')"


@dataclass
class Lab:
    """A running JupyterLab server: where it serves from, its address and its log."""

    proc: subprocess.Popen
    port: int
    token: str
    notebooks: Path
    outputs: Path
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def api(self, path: str):
        with urllib.request.urlopen(self.url(f"api/{path}"), timeout=10) as r:
            return json.load(r)

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else "(no log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's process group, then anything it started that outlived it (kernels have sessions of their own)."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)     # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for p in alive:
        p.kill()


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of notebooks/, its runs going to a folder of this test."""
    # `make lab`'s set-up, from its one definition in the Makefile
    r = subprocess.run(["make", "-s", "--no-print-directory", "kernel", f"PY={sys.executable}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"make kernel failed:\n{r.stdout}{r.stderr}"
    # The copy leaves params/ out: the notebook's "params/seeds.yaml" then resolves, as load_params looks
    # in notebooks/ after the current folder, to the project's own file. The jupytext pairs and their
    # configuration come along, so Lab saves as it does in the project.
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks,
                    ignore=shutil.ignore_patterns("params", ".ipynb_checkpoints", "__pycache__"))
    home = tmp_path / "jupyter"
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no "fetch Jupyter news?" toast over the page, and no request for news or updates
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    lab = Lab(proc=None, port=_free_port(), token=secrets.token_hex(24), notebooks=notebooks,
              outputs=tmp_path / "outputs", log=tmp_path / "jupyter-lab.log")
    env = dict(os.environ, ANALYSIS_OUTPUTS_DIR=str(lab.outputs), JUPYTER_TOKEN=lab.token,
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"), IPYTHONDIR=str(home / "ipython"))
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={notebooks}",
           "--no-browser", "--ServerApp.open_browser=False",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={lab.port}", "--ServerApp.port_retries=0",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(lab.log, "wb") as log:
        lab.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if lab.proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with status {lab.proc.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_S} s:\n{lab.log_tail()}")
                time.sleep(0.25)
        yield lab
    finally:
        _stop(lab.proc)


@contextmanager
def _explained(lab: Lab, page, shot: Path):
    """On a failure, keep a screenshot and add the tail of the server's log to the message."""
    try:
        yield
    except Exception as e:
        try:
            page.screenshot(path=str(shot), full_page=True)
            where = f"screenshot: {shot}"
        except Exception as s:       # the page may be gone; the log still helps
            where = f"no screenshot ({s})"
        what = str(e) if isinstance(e, AssertionError) else f"{type(e).__name__}: {e}"
        raise AssertionError(f"{what}\n{where}\n--- jupyter lab log (tail) ---\n{lab.log_tail()}") from e


def _wait_kernel_idle(lab: Lab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (states := [s["kernel"]["execution_state"] for s in lab.api("sessions")]) != ["idle"]:
        assert time.monotonic() < deadline, f"kernel not idle after {timeout} s: {states}"
        time.sleep(0.2)


def test_lab_runs_the_corpus_notebook_and_its_run_folder_verifies(lab):
    kernelspecs = lab.api("kernelspecs")["kernelspecs"]
    assert "news-analysis" in kernelspecs, f"make kernel did not register the project's kernel: {list(kernelspecs)}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, timeout=60_000,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(PAGE_S * 1000)
            with _explained(lab, page, lab.log.with_name("lab.png")):
                page.goto(lab.url(f"lab/tree/{NOTEBOOK}"))
                page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for()
                page.wait_for_function(STATUS_IDLE_JS, timeout=KERNEL_START_S * 1000)   # its kernel has started
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                shown = page.wait_for_function(SUMMARY_OR_ERROR_JS, timeout=RUN_ALL_S * 1000, polling=250).json_value()
                assert "error" not in shown, f"a cell failed in Lab:\n{shown['error']}"
                page.wait_for_function(ALL_RUN_JS, timeout=RUN_ALL_S * 1000, polling=250)
                _wait_kernel_idle(lab, 30)
                page.keyboard.press("Control+s")        # saved into the copy: its outputs are read back below
                page.wait_for_function(NOT_DIRTY_JS, timeout=30_000)
        finally:
            browser.close()

    saved = nbformat.read(lab.notebooks / NOTEBOOK, as_version=4)
    code = [c for c in saved.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors and all(c["execution_count"] for c in code), (errors, [c["execution_count"] for c in code])
    printed = "".join(o.get("text", "") for c in code for o in c["outputs"] if o["output_type"] == "stream")
    line = next((s for s in printed.splitlines() if SUMMARY.match(s)), None)
    assert line == shown["summary"], (line, shown)

    # Lab runs keep their own folder: the one `make report` manages (outputs/<run_name>) is not touched
    folder = lab.outputs / "lab" / RUN_NAME
    assert not (lab.outputs / RUN_NAME).exists(), sorted(str(p.relative_to(lab.outputs)) for p in lab.outputs.rglob("*"))
    assert folder.is_dir(), f"no run folder {folder}; the outputs folder holds {sorted(lab.outputs.rglob('*'))[:20]}"
    assert len(pd.read_parquet(folder / "tables" / "documents.parquet")) == int(SUMMARY.match(line).group(1))
    r = run_cli("verify", str(folder), env={"ANALYSIS_OUTPUTS_DIR": str(lab.outputs)})
    assert r.returncode == 0, f"verify {folder} failed:\n{r.stdout}{r.stderr}"
