"""Runs: the notebooks executed in order with papermill, with the provenance that makes them reproducible.

- :mod:`~analysis.runner.context`: the notebooks' side (parameters, the folder a stage writes, hashes
  of what it writes; notebooks run by hand write into ``outputs/lab/<run>/``);
- :mod:`~analysis.runner.provenance`: what a stage is made from, its fingerprint, the manifest;
- :mod:`~analysis.runner.pipeline`: ``python -m analysis run`` (reuse of current stages, atomic swap);
- :mod:`~analysis.runner.schedule` and :mod:`~analysis.runner.kernels`: stage order and notebook kernels;
- :mod:`~analysis.runner.verify`: ``python -m analysis verify``.
"""

import importlib

from analysis.runner.context import RunContext, lab_dir, notebook_setup
from analysis.runner.provenance import MANIFEST, TRACKED_PACKAGES, corpus_fingerprint, git_commit

# The runner's own machinery loads on first use: notebooks import this package for notebook_setup, and a
# stage's fingerprint covers the code its notebook imports, which is then not the runner's scheduling,
# kernels, verification or report code (editing those does not rerun the stages).
_LAZY = {"run_pipeline": "pipeline", "verify_run": "verify"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["RunContext", "git_commit", "notebook_setup", "run_pipeline", "verify_run", "corpus_fingerprint",
           "lab_dir", "MANIFEST", "TRACKED_PACKAGES"]
