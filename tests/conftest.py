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


# Session fixtures that run the notebooks or load a model: every test that takes one, directly or through
# another fixture, is marked slow (``-m "not slow"`` leaves it out).
SLOW_FIXTURES = {"seeds_run", "minilm"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def _model_loaders():
    """The libraries' model loaders (imported once; the tests import these libraries anyway)."""
    import spacy
    import transformers
    from model2vec import StaticModel

    return spacy, transformers.PreTrainedModel, StaticModel


def _refuse(what: str, advice: str):
    def call(*args, **kwargs):
        # pytest.fail raises a BaseException: no ``except Exception`` in the code under test hides it
        pytest.fail(f"{what} in {advice}", pytrace=False)

    return call


@pytest.fixture(autouse=True)
def _tiers_hold(request, monkeypatch, _model_loaders):
    """Tiers that hold: a unit test loads no model and forks no process; a test that loads a model is slow.

    Loading MiniLM (sentence-transformers), the targeted model or the model2vec distillation goes through
    ``from_pretrained``, a spaCy pipeline through ``spacy.load``: here they fail the test, naming what
    it loaded. Fakes are fine: an ``Embedder`` subclass with its own ``_encode``, a ``StaticModel`` built
    from a random table, ``spacy.blank``.
    """
    unit = request.node.path.is_relative_to(ROOT / "tests" / "unit")
    if not unit and request.node.get_closest_marker("slow"):
        return
    advice = ("a unit test: unit tests load no model and fork no process; use a fake, or move the test to "
              "tests/integration (session fixtures in tests/conftest.py)" if unit else
              "a test not marked slow: mark it @pytest.mark.slow (`-m 'not slow'` is the quick subset)")
    spacy, pretrained, static = _model_loaders
    monkeypatch.setattr(spacy, "load", _refuse("spacy.load (a spaCy pipeline)", advice))
    monkeypatch.setattr(pretrained, "from_pretrained", classmethod(_refuse("from_pretrained (transformer weights)", advice)))
    monkeypatch.setattr(static, "from_pretrained", classmethod(_refuse("StaticModel.from_pretrained (model2vec)", advice)))
    if unit:
        monkeypatch.setattr(os, "fork", _refuse("os.fork (a worker pool)", advice))


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


@pytest.fixture(scope="session")
def minilm():
    """``minilm(precision, **kw)``: a MiniLM Embedder (CPU, no cache); one loaded model per precision.

    Each call returns a new Embedder with its own settings (batch size, ...), so a test still builds the
    object it is about; only the weights, the expensive part, are loaded once per session.
    """
    from analysis.embeddings import Embedder

    loaded = {}

    def make(precision: str = "float32", **kw) -> Embedder:
        enc = Embedder("minilm", device="cpu", cache=False, show_progress_bar=False, precision=precision, **kw)
        if enc.precision_ not in loaded:
            loaded[enc.precision_] = enc._load()
        enc._model = loaded[enc.precision_]
        return enc

    return make
