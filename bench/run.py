"""Benchmark every stage against a naive baseline on the same texts: ``make bench``.

    python -m bench.run [--params notebooks/params/ruwa.yaml] [--sizes 1000 10000] [--no-fast] [--no-pipeline]
                        [--no-naive] [--no-raw-baseline] [--no-like-for-like] [--float32]

For each size N (the first N documents of the corpus in the parameters file; RUWA by default) it runs,
each in a fresh process: this project's stages as shipped (MiniLM; the targeted model for the tone
toward each mention), the same without the targeted model (``--like-for-like``: the kinds of
work the baseline does too, see :mod:`bench.stages`), the fast path (``--fast``: the distilled model2vec encoder and the lexicon
clause score for targets), the whole pipeline as a researcher runs it (:mod:`bench.pipeline`:
``python -m analysis run``, every notebook, figure and the report, topics and actors side by side),
and the naive baseline (:mod:`bench.naive`) twice: on the texts our pipeline embeds after cleaning
(the stricter comparison, ``speedup_vs_naive``) and on the file's texts as they stand, as a researcher
without this project would feed them (``speedup_vs_naive_raw``; ``--no-raw-baseline`` skips it). It prints a table of wall seconds,
units/s and peak RSS per stage, the speed-up over the baseline and the topic quality of both, and
writes everything to ``bench/results/<machine>-<date>.json`` (``-<HHMM>`` added when that file exists). Benchmarks are not tests: CI skips them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _py(*args: str, env: dict | None = None) -> dict:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, **(env or {})})
    if r.returncode != 0:
        raise SystemExit(f"benchmark step {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _cpuinfo(key: str) -> str:
    """A field of the first CPU in Linux's ``/proc/cpuinfo`` ("" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor()


def machine() -> str:
    """The results file's machine tag, e.g. ``x86_64-2cpu-intel-xeon-amx``.

    Machines of one kind differ from session to session (the same 10k benchmark took 315 s naive on one
    2-core host and 251 s on another), so the CPU model and AMX are in the name and runs on different
    hosts do not overwrite each other.
    """
    tag = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(r\)|\(tm\)|processor|cpu @.*", "", cpu_model().lower())).strip("-")
    amx = "amx" if "amx_bf16" in _cpuinfo("flags").split() else ""
    return "-".join(x for x in (platform.machine(), f"{os.cpu_count()}cpu", tag, amx) if x)


# CPU features that decide which precision and kernels are fast (Linux /proc/cpuinfo flag names)
CPU_FEATURES = {"amx": "amx_bf16", "avx512_bf16": "avx512_bf16", "avx512_vnni": "avx512_vnni",
                "avx_vnni": "avx_vnni", "avx512": "avx512f", "avx2": "avx2"}


def cpu_features() -> dict[str, bool]:
    """Which of :data:`CPU_FEATURES` this CPU has."""
    flags = set(_cpuinfo("flags").split())
    return {name: flag in flags for name, flag in CPU_FEATURES.items()}


def run_meta(params: str, argv: list[str] | None) -> dict:
    """What a results file records about its run: machine, CPU features, precision verdict, versions."""
    import torch

    from analysis import accel
    from analysis.runner import git_commit

    return {"machine": machine(), "processor": cpu_model(), "cpu_features": cpu_features(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "precision_calibration": accel.measured_precision("cpu"), "python": platform.python_version(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "params": params,
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            "git_commit": git_commit(), "argv": sys.argv[1:] if argv is None else list(argv)}


def texts_for(params: str, n: int, raw: bool = False) -> Path:
    """The baseline's texts, in a temporary JSON file.

    ``raw=False``: the exact texts our pipeline embeds at document level, after cleaning (the site
    signatures and repeated headlines cut): the stricter comparison, the baseline doing less work than it
    would on its own. ``raw=True``: the first N rows' text columns as they stand in the file (empty rows
    left out), which is what a researcher without this project feeds BERTopic, and the baseline the issue
    measured (RUWA: title + sub-heading, 67.7 MiniLM tokens a document, against 40.0 after cleaning).
    """
    from analysis.params import load_params

    p = load_params(params).with_overrides({"corpus": {"limit": n}})
    if raw:
        from analysis.corpus import load_corpus

        texts = load_corpus(p.corpus, p.resolve(p.corpus.path)).documents["raw_text"].tolist()
    else:
        from analysis.corpus import build_corpus

        texts = build_corpus(p, embed=False).documents["text"].tolist()
    f = Path(tempfile.mkstemp(suffix=".json")[1])
    f.write_text(json.dumps(texts))
    return f


def table(results: list[dict]) -> str:
    rows = [("size", "variant", "stage", "wall s", "units/s", "tokens/s", "peak RSS MB (with workers)")]
    for r in results:
        for stage, units in (("corpus", "documents"), ("embed", "embed_units"), ("topics", "embed_units"),
                             ("actors", "documents"), ("spacy", "n"), ("sentiment", "documents"), ("vader", "n"),
                             ("summary", "documents"),
                             ("total", "documents")):
            if f"{stage}_s" not in r:
                continue
            s = r[f"{stage}_s"]
            n = r.get(units, r.get("documents", r.get("n")))
            tok = f"{r['embed_tokens'] / s:,.0f}" if stage == "embed" and "embed_tokens" in r else ""
            rows.append((str(r["n"]), r["variant"], stage, f"{s:.1f}", f"{n / s:,.0f}" if s else "", tok,
                         f"{r.get('peak_tree_rss_mb') or r.get('peak_rss_mb', 0):.0f}" if stage == "total" else ""))
    w = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w[i]) for i, c in enumerate(row)) for row in rows)


# The two baselines: (variant, texts_for's raw, the key of the speed-up over it, how the printout names it)
BASELINES = (("naive/raw", True, "speedup_vs_naive_raw", "vs naive on the raw texts"),
             ("naive", False, "speedup_vs_naive", "vs naive on our cleaned texts"))


def _speedups(r: dict) -> str:
    """The speed-ups a result holds, e.g. ``  speed-up x3.26 vs naive on the raw texts, x2.39 vs naive on our cleaned texts``."""
    parts = [f"x{r[key]} {what}" for _, _, key, what in BASELINES if key in r]
    return f"  speed-up {', '.join(parts)}" if parts else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="notebooks/params/ruwa.yaml")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--fast", action=argparse.BooleanOptionalAction, default=True, help="also run the fast path")
    ap.add_argument("--pipeline", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the whole pipeline through the notebooks (python -m analysis run)")
    ap.add_argument("--naive", action=argparse.BooleanOptionalAction, default=True, help="also run the baseline")
    ap.add_argument("--raw-baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the baseline on the file's texts as they stand (no cleaning), as the issue "
                    "measured it (speedup_vs_naive_raw, beside speedup_vs_naive on our cleaned texts)")
    ap.add_argument("--like-for-like", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the default without the targeted model (the kinds of work the baseline does)")
    ap.add_argument("--float32", action="store_true", help="also run the default pipeline in float32 "
                    "(shows what bfloat16 gains on a CPU that has it)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.fast:
        from analysis.embeddings import distill_model2vec, model2vec_path

        if not (model2vec_path() / "model.safetensors").exists():
            distill_model2vec()
    results: list[dict] = []
    for n in args.sizes:
        variants = (["default"] + (["like_for_like"] if args.like_for_like else [])
                    + (["float32"] if args.float32 else []) + (["fast"] if args.fast else []))
        for v in variants:
            r = _py("-m", "bench.stages", args.params, str(n), v)
            results.append({"variant": f"project/{v}", **r})
            print(f"n={n} project/{v}: {r['total_s']:.1f} s", flush=True)
        if args.pipeline:
            r = _py("-m", "bench.pipeline", args.params, str(n))
            results.append({"variant": "project/pipeline", **r})
            print(f"n={n} project/pipeline (notebooks): {r['total_s']:.1f} s", flush=True)
        wanted = {"naive": args.naive, "naive/raw": args.raw_baseline}
        for name, raw, key, _ in sorted(BASELINES, key=lambda b: b[1]):      # the cleaned texts' first, as before
            if not wanted[name]:
                continue
            f = texts_for(args.params, n, raw=raw)
            numba = tempfile.mkdtemp(prefix="naive-numba-")     # the baseline compiles UMAP, as a new user does
            r = _py("-m", "bench.naive", str(f), env={"NUMBA_CACHE_DIR": numba})
            f.unlink()
            shutil.rmtree(numba, ignore_errors=True)
            results.append({"variant": name, **r})
            print(f"n={n} {name}: {r['total_s']:.1f} s", flush=True)
            for res in results:
                if res["n"] == n and res["variant"].startswith("project/"):
                    res[key] = round(r["total_s"] / res["total_s"], 2)
    # written first: a failure while printing loses nothing measured
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"{machine()}-{dt.date.today().isoformat()}.json"
    if not args.out and out.exists():          # a second run on the same day keeps the first
        out = out.with_name(f"{out.stem}-{dt.datetime.now():%H%M}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": run_meta(args.params, argv), "results": results}, indent=2) + "\n")
    print()
    print(table(results))
    print()
    for r in results:
        if "npmi" in r:
            print(f"n={r['n']:>6} {r['variant']:<22} topics {r['n_topics']:>4}  npmi {r['npmi']:.3f}  "
                  f"diversity {r['diversity']:.3f}  outliers {r['outlier_share']:.1%}"
                  + _speedups(r)
                  + (f"  [{r['precision']}; encoder vs raw encode x{r['encode_vs_raw']}]"
                     if "encode_vs_raw" in r and r["model"] == "minilm" else "")
                  + (f"  [encoding alone: x{r['fast_vs_minilm']} our MiniLM, x{r['fast_vs_raw']} the raw encode]"
                     if "fast_vs_minilm" in r else ""))
        elif r["variant"] == "project/pipeline" and (speedups := _speedups(r)):
            print(f"n={r['n']:>6} {r['variant']:<22} through the notebooks: {r['total_s']:.1f} s," + speedups)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
