"""The whole pipeline as a researcher runs it, timed end to end; prints one JSON object.

    python -m bench.pipeline PARAMS_FILE N

Runs ``python -m analysis run --params PARAMS_FILE --limit N --force`` into a temporary folder: every
notebook through papermill, with its figures, the report and the manifest, topics and actors side by
side (``compute.stages_at_once``). The embedding cache starts empty, as in :mod:`bench.stages`; the
numba cache is the project's persistent one, as in normal use. Reports the wall seconds, each stage's
seconds from the manifest, and the peak memory of the run with its kernels and workers (PSS, see
:mod:`bench.memory`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.memory import TreeRss

ROOT = Path(__file__).resolve().parents[1]


def main(params_file: str, n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        cache = tmp / "cache"
        cache.mkdir()
        (cache / "models").symlink_to(ROOT / ".cache" / "models", target_is_directory=True)
        env = {**os.environ, "ANALYSIS_CACHE_DIR": str(cache),
               "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))}
        cmd = [sys.executable, "-m", "analysis", "run", "--params", params_file, "--limit", str(n),
               "--out", str(tmp / "run"), "--force"]
        with TreeRss() as mem:
            t0 = time.perf_counter()
            r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
        manifest = json.loads((tmp / "run" / "manifest.json").read_text())
        timing = manifest["timing"]
        out = {"n": n, "documents": manifest["corpus"]["documents"], "total_s": wall,
               **{f"{s}_s": v for s, v in timing["stage_seconds"].items()},
               "stages_at_once": manifest["parameters"]["compute"]["stages_at_once"],
               "peak_tree_rss_mb": mem.peak_mb}
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
