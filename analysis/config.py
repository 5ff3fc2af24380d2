"""Every path the project uses, derived from the project root (one place, no literals elsewhere).

Three environment variables move the writable folders, for CI and for researchers who keep data
elsewhere: ``ANALYSIS_OUTPUTS_DIR`` (run folders), ``ANALYSIS_CACHE_DIR`` (embedding cache, numba
cache). Nothing here downloads anything; hub access is switched off before any model library loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    "Stage",
    "REGISTRY",
    "STAGES",
    "UPSTREAM",
    "STAGE_SECTIONS",
]

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
PACKAGE_DATA_DIR = PACKAGE_DIR / "data"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = NOTEBOOKS_DIR / "params"
SEEDS_DIR = PROJECT_ROOT / "seeds"
DEFAULT_PARAMS_FILE = PARAMS_DIR / "seeds.yaml"
TARGETED_MODEL_FILE = PACKAGE_DATA_DIR / "targeted_model.safetensors"

@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: the one place its facts are written.

    Attributes:
        name: the stage's name (``--until``, ``make <name>``, manifest keys).
        notebook: its notebook in ``notebooks/``.
        upstream: the stages whose tables it reads, directly or through another stage.
        sections: the parameter sections it reads (part of its fingerprint).
        title: its section's title in the report.
    """

    name: str
    notebook: str
    upstream: tuple[str, ...]
    sections: tuple[str, ...]
    title: str


# The stage registry, in execution order. Runner, parameters, report, CLI and tests read it.
REGISTRY: tuple[Stage, ...] = (
    Stage("corpus", "01_corpus.ipynb", (), ("corpus", "embeddings"), "Corpus"),
    Stage("topics", "02_topics.ipynb", ("corpus",), ("corpus", "embeddings", "topics"), "Topics"),
    Stage("actors", "03_actors.ipynb", ("corpus",), ("corpus", "actors"), "Actors"),
    Stage("sentiment", "04_sentiment.ipynb", ("corpus", "actors", "topics"),
          ("corpus", "embeddings", "actors", "sentiment", "topics"), "Sentiment"),
    Stage("summary", "05_summary.ipynb", ("corpus", "topics", "actors", "sentiment"),
          ("corpus", "embeddings", "topics", "actors", "sentiment", "summary"), "Actors x topics x tone"),
)
# Views of the registry by stage name
STAGES: dict[str, str] = {s.name: s.notebook for s in REGISTRY}
UPSTREAM: dict[str, tuple[str, ...]] = {s.name: s.upstream for s in REGISTRY}
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {s.name: s.sections for s in REGISTRY}


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
