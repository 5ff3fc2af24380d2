"""The GPU path's targets, measured in one command on a machine with CUDA: ``make bench-gpu``.

    python -m bench.gpu [--params notebooks/params/ruwa.yaml] [--n 10000] [--pipeline-n 20000]
                        [--device auto] [--out FILE]

Measures, on the document texts of the first ``--n`` rows of the corpus (RUWA titles + sub-headings,
the texts of the issue's figures):

- ``stock``: the stock ``SentenceTransformer.encode`` call (its defaults: float32, batch 32), texts/s
  and tokens/s. The issue measured about 3,600 texts/s (0.11M tokens/s) on an H100.
- ``ours``: this project's MiniLM encoder as the pipeline runs it on that device (:class:`Embedder`, no
  cache; on a GPU float16, unpadded same-length batches of up to 131,072 tokens). Target on a GPU: at
  least 2M tokens/s end to end. ``max_abs_diff`` is its largest difference from the stock vectors.
- ``targeted``: the targeted model on the marked targets of NewsMTSC (targets/s, tokens/s).
- ``pipeline`` (unless ``--pipeline-n 0``): the whole pipeline through the notebooks on the first
  ``--pipeline-n`` rows (:mod:`bench.pipeline`; RUWA has 16,545). The issue's target is 100,000
  documents in under 5 minutes: read the documents/s here against 333/s.

Each timing is the best of two runs after a warm-up. Runs on the CPU too (``--device cpu``, or no GPU),
which checks the harness; its figures are then the CPU's. Writes
``bench/results/<machine>-<device>-<date>.json`` and prints it. Benchmarks are not tests: CI skips them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEWSMTSC = ROOT.parent / "shared" / "data" / "newsmtsc" / "train.jsonl"


def best_of(fn, runs: int = 2) -> float:
    """Seconds of the fastest of ``runs`` calls of ``fn`` after one warm-up call (noise only adds time)."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def encoders(texts: list[str], device: str) -> dict:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from analysis import accel
    from analysis.embeddings import Embedder, minilm_path

    with accel.quiet_model_loading():
        stock = SentenceTransformer(str(minilm_path()), device=device, local_files_only=True)
    tokens = int(sum(len(x) for x in stock.tokenizer(texts, truncation=True, max_length=stock.max_seq_length)["input_ids"]))
    out: dict = {"texts": len(texts), "tokens": tokens}
    vec: dict = {}

    def run_stock():
        vec["stock"] = stock.encode(texts, show_progress_bar=False)

    s = best_of(run_stock)
    out["stock"] = {"seconds": round(s, 3), "texts_per_s": round(len(texts) / s), "tokens_per_s": round(tokens / s)}
    ours = Embedder("minilm", device=device, cache=False, show_progress_bar=False)

    def run_ours():
        vec["ours"] = ours.encode(texts)

    s = best_of(run_ours)
    out["ours"] = {"seconds": round(s, 3), "texts_per_s": round(len(texts) / s), "tokens_per_s": round(tokens / s),
                   "precision": ours.precision_,
                   "max_abs_diff": float(np.abs(vec["ours"] - vec["stock"]).max())}
    out["ours_vs_stock"] = round(out["stock"]["seconds"] / out["ours"]["seconds"], 2)
    out["device"], out["precision"] = accel.resolve(device, "auto")
    return out


def targeted(device: str, limit: int | None = None) -> dict:
    from analysis.targeted import TargetedScorer, mark_target
    from analysis.train_targeted import load_targets

    df = load_targets(NEWSMTSC)
    if limit:
        df = df.head(limit)
    scorer = TargetedScorer.load(device=device)
    texts = [mark_target(s, a, b, scorer.classifier.cfg.context_chars)
             for s, a, b in zip(df["sentence"], df["start"], df["end"])]
    tokens = int(sum(len(x) for x in scorer.classifier.tokenizer(texts, truncation=True, max_length=128)["input_ids"]))
    s = best_of(lambda: scorer.classifier.predict_proba(texts, scorer.batch_size, scorer.precision))
    return {"targets": len(texts), "tokens": tokens, "seconds": round(s, 3), "targets_per_s": round(len(texts) / s),
            "tokens_per_s": round(tokens / s), "precision": scorer.precision}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="notebooks/params/ruwa.yaml")
    ap.add_argument("--n", type=int, default=10_000, help="corpus rows whose texts are encoded")
    ap.add_argument("--targets", type=int, default=None, help="NewsMTSC targets to score (default: all 8,739)")
    ap.add_argument("--pipeline-n", type=int, default=20_000, help="rows for the whole pipeline (0: skip it)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import torch

    from analysis import accel
    from bench.run import _py, machine, run_meta, texts_for

    device = accel.resolve_device(args.device)
    f = texts_for(args.params, args.n)
    texts = json.loads(f.read_text())
    f.unlink()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    results = {"encode": encoders(texts, device), "targeted": targeted(device, args.targets)}
    print(json.dumps(results), flush=True)
    if args.pipeline_n:
        results["pipeline"] = _py("-m", "bench.pipeline", args.params, str(args.pipeline_n))
        docs, secs = results["pipeline"]["documents"], results["pipeline"]["total_s"]
        results["pipeline"]["documents_per_s"] = round(docs / secs, 1)
        results["pipeline"]["seconds_per_100k_documents_extrapolated"] = round(100_000 * secs / docs)
    meta = {**run_meta(args.params, argv), "device": device, "gpu": gpu}
    out = Path(args.out) if args.out else (ROOT / "bench" / "results"
                                           / f"{machine()}-{device}-{dt.datetime.now():%Y-%m-%d-%H%M}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    e = results["encode"]
    print(f"\nencode, {e['texts']:,} texts, {e['tokens']:,} tokens on {device} ({gpu or 'CPU'}):")
    print(f"  stock SentenceTransformer.encode: {e['stock']['texts_per_s']:>9,} texts/s  {e['stock']['tokens_per_s']:>11,} tokens/s")
    print(f"  this project ({e['ours']['precision']}):        {e['ours']['texts_per_s']:>9,} texts/s  "
          f"{e['ours']['tokens_per_s']:>11,} tokens/s  x{e['ours_vs_stock']}  (max |diff| {e['ours']['max_abs_diff']:.1e})")
    t = results["targeted"]
    print(f"targeted model ({t['precision']}): {t['targets_per_s']:,} targets/s, {t['tokens_per_s']:,} tokens/s")
    if "pipeline" in results:
        p = results["pipeline"]
        print(f"pipeline, {p['documents']:,} documents through the notebooks: {p['total_s']:.1f} s "
              f"({p['documents_per_s']}/s; 100k documents at this rate: {p['seconds_per_100k_documents_extrapolated']} s)")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
