"""Every path the project uses, derived from the project root (one place, no literals elsewhere).

Three environment variables move the writable folders, for CI and for researchers who keep data
elsewhere: ``ANALYSIS_OUTPUTS_DIR`` (run folders), ``ANALYSIS_CACHE_DIR`` (embedding cache, numba
cache). Nothing here downloads anything; hub access is switched off before any model library loads.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PROJECT_ROOT",
    "PACKAGE_DIR",
    "PACKAGE_DATA_DIR",
    "NOTEBOOKS_DIR",
    "PARAMS_DIR",
    "SEEDS_DIR",
    "outputs_dir",
    "cache_dir",
    "DEFAULT_PARAMS_FILE",
    "TARGETED_MODEL_FILE",
    "STAGES",
    "UPSTREAM",
]

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
PACKAGE_DATA_DIR = PACKAGE_DIR / "data"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = NOTEBOOKS_DIR / "params"
SEEDS_DIR = PROJECT_ROOT / "seeds"
DEFAULT_PARAMS_FILE = PARAMS_DIR / "seeds.yaml"
TARGETED_MODEL_FILE = PACKAGE_DATA_DIR / "targeted_model.safetensors"

# Stage name -> notebook, in execution order. The runner, the Makefile and the tests read this.
STAGES: dict[str, str] = {
    "corpus": "01_corpus.ipynb",
    "topics": "02_topics.ipynb",
    "actors": "03_actors.ipynb",
    "sentiment": "04_sentiment.ipynb",
    "summary": "05_summary.ipynb",
}
# Stage name -> the stages whose tables it reads (directly or through another stage).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "corpus": (),
    "topics": ("corpus",),
    "actors": ("corpus",),
    "sentiment": ("corpus", "actors", "topics"),
    "summary": ("corpus", "topics", "actors", "sentiment"),
}


def outputs_dir() -> Path:
    """Folder holding one sub-folder per run (``ANALYSIS_OUTPUTS_DIR`` overrides)."""
    return Path(os.environ.get("ANALYSIS_OUTPUTS_DIR", PROJECT_ROOT / "outputs")).resolve()


def cache_dir() -> Path:
    """Folder for caches that survive runs (``ANALYSIS_CACHE_DIR`` overrides)."""
    return Path(os.environ.get("ANALYSIS_CACHE_DIR", PROJECT_ROOT / ".cache")).resolve()


# Models come from installed packages only: make any accidental hub call fail fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# UMAP's numba kernels compile once (~17 s) and are reused by later processes.
os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
