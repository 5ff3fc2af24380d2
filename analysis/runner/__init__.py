"""Runs: the notebooks executed in order with papermill, with the provenance that makes them reproducible.

- :mod:`~analysis.runner.context`: the notebooks' side (parameters, the folder a stage writes, hashes
  of what it writes; notebooks run by hand write into ``outputs/lab/<run>/``);
- :mod:`~analysis.runner.provenance`: what a stage is made from, its fingerprint, the manifest;
- :mod:`~analysis.runner.pipeline`: ``python -m analysis run`` (reuse of current stages, atomic swap);
- :mod:`~analysis.runner.schedule` and :mod:`~analysis.runner.kernels`: stage order and notebook kernels;
- :mod:`~analysis.runner.verify`: ``python -m analysis verify``.
"""

from analysis.runner.context import RunContext, lab_dir, notebook_setup
from analysis.runner.pipeline import run_pipeline
from analysis.runner.provenance import MANIFEST, TRACKED_PACKAGES, corpus_fingerprint, git_commit
from analysis.runner.verify import verify_run

__all__ = ["RunContext", "git_commit", "notebook_setup", "run_pipeline", "verify_run", "corpus_fingerprint",
           "lab_dir", "MANIFEST", "TRACKED_PACKAGES"]
