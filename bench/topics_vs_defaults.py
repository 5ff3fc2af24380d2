"""Topic quality of this project's TopicModel against BERTopic's defaults, on the same embeddings.

    python -m bench.topics_vs_defaults [--params notebooks/params/ruwa.yaml] [--limit N]

Both models get the same units (documents, for RUWA) and the same unit vectors (the cached MiniLM
sentence embeddings, averaged per document, exactly what the topics stage uses). npmi and diversity are
computed the same way for both (top-10 terms, co-occurrence per unit over the corpus itself); the
outlier share is the share of units in topic -1 after each model's own processing. Prints one JSON line
and a small table; writes ``bench/results/topics-vs-defaults-<run>-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.topics_vs_defaults")
    ap.add_argument("--params", default="notebooks/params/ruwa.yaml")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    from bertopic import BERTopic

    from analysis.corpus import build_corpus
    from analysis.embeddings import Embedder
    from analysis.params import load_params
    from analysis.topics import build_units, choose_unit, fit_topics, npmi_coherence, topic_diversity

    P = load_params(args.params)
    if args.limit:
        P = P.with_overrides({"corpus": {"limit": args.limit}})
    corpus = build_corpus(P)                     # embeds (cached) every sentence once
    docs, segs = corpus.documents, corpus.segments
    t = time.perf_counter()
    ours = fit_topics(P, docs, segs)
    ours_s = time.perf_counter() - t
    q = dict(zip(ours.quality["metric"], ours.quality["value"]))
    enc = Embedder(P.embeddings.model, show_progress_bar=False)
    vectors = enc.encode(segs.loc[segs["unit"] == "sentence", "text"].tolist())
    unit, _ = choose_unit(P.topics.unit, len(docs), P.topics.auto_sentence_max_documents)
    units, vecs = build_units(unit, docs, segs, vectors)
    texts = units["text"].tolist()
    t = time.perf_counter()
    default = BERTopic()                         # its own defaults: UMAP(15, 5), HDBSCAN(10), CountVectorizer()
    topics, _ = default.fit_transform(texts, embeddings=vecs)
    default_s = time.perf_counter() - t
    terms = [[w for w, _ in default.get_topic(k)][:10] for k in sorted(set(topics)) if k != -1]
    res = {"corpus": P.corpus.path, "units": len(texts), "unit": unit, "embeddings": enc.model_name,
           "project": {"n_topics": int(q["n_topics"]), "npmi": q["npmi"], "diversity": q["diversity"],
                       "npmi_ctfidf": q["npmi_ctfidf"], "diversity_ctfidf": q["diversity_ctfidf"],
                       "outlier_share_before": q["outlier_share_before"], "outlier_share": q["outlier_share_after"],
                       "seconds": round(ours_s, 1)},
           "bertopic_defaults": {"n_topics": len(terms), "npmi": round(npmi_coherence(terms, texts), 6),
                                 "diversity": round(topic_diversity(terms), 6),
                                 "outlier_share": round(float(np.mean(np.asarray(topics) == -1)), 6),
                                 "seconds": round(default_s, 1)}}
    print(json.dumps(res))
    print(f"\n{'':<20}{'topics':>8}{'npmi':>9}{'diversity':>11}{'outliers':>10}{'seconds':>9}")
    for name in ("project", "bertopic_defaults"):
        r = res[name]
        print(f"{name:<20}{r['n_topics']:>8}{r['npmi']:>9.3f}{r['diversity']:>11.3f}{r['outlier_share']:>10.1%}"
              f"{r['seconds']:>9.1f}")
    out = ROOT / "bench" / "results" / f"topics-vs-defaults-{P.run_name}-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
