"""This project's stages, timed one by one in a fresh process; prints one JSON object.

    python -m bench.stages PARAMS_FILE N [default|like_for_like|fast|float32]

``default`` is the pipeline as shipped (MiniLM, the targeted model for tone toward each mention, both
in ``embeddings.precision: auto``: bfloat16 on a CPU that has it); ``float32`` is the same in float32;
``like_for_like`` is the default without the targeted model (the lexicon clause score for targets):
the kinds of work the naive baseline does too (MiniLM vectors, BERTopic, spaCy NER, lexicon tone),
and more (sentence vectors, retold-story detection, the dictionary, tone toward each mention by
clause); ``fast`` is the fast path: the distilled model2vec encoder, the lexicon clause score for
targets and no NER.

After the stages it times encoding alone on the first 2,000 sentences, models loaded, no cache
(:func:`encode_rates`): the raw ``SentenceTransformer.encode`` call (float32, batch 64, the library's
own defaults otherwise), this project's MiniLM encoder (``encode_vs_raw``, target at least 0.8) and,
for ``fast``, the model2vec encoder (``fast_vs_minilm``, ``fast_vs_raw``, target at least 50).

The embedding cache starts empty (a temporary ``ANALYSIS_CACHE_DIR``), so embedding is measured, not
read back; the numba cache is the project's persistent one, as in normal use.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


VARIANTS = {"default": {},
            "like_for_like": {"sentiment": {"targeted_method": "clause"}},
            "fast": {"embeddings": {"model": "model2vec"}, "sentiment": {"targeted_method": "clause"},
                     "actors": {"ner_discovery": False}},
            "float32": {"embeddings": {"precision": "float32"}}}
RAW_SAMPLE = 2000


def main(params_file: str, n: int, variant: str) -> None:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    cache = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    atexit.register(shutil.rmtree, cache, ignore_errors=True)      # tens of MB of vectors per run
    (cache / "models").symlink_to(ROOT / ".cache" / "models", target_is_directory=True)
    os.environ["ANALYSIS_CACHE_DIR"] = str(cache)
    from analysis.actors import analyse_actors
    from analysis.corpus import build_corpus
    from analysis.embeddings import Embedder
    from analysis.params import load_params
    from analysis.sentiment import analyse_sentiment
    from analysis.topics import fit_topics

    P = load_params(params_file).with_overrides({"corpus": {"limit": n}, **VARIANTS[variant]})
    from analysis import accel

    out: dict = {"n": n, "model": P.embeddings.model, "targeted_method": P.sentiment.targeted_method,
                 "precision": accel.resolve(P.embeddings.device, P.embeddings.precision)[1]}
    from bench.memory import TreeRss

    mem = TreeRss().__enter__()        # this process and its workers (spaCy, MiniLM)
    t = time.perf_counter()
    corpus = build_corpus(P, embed=False)    # embedding is timed on its own below
    out["corpus_s"] = time.perf_counter() - t
    docs, segs = corpus.documents, corpus.segments
    out["documents"] = len(docs)
    out["sentences"] = int((segs["unit"] == "sentence").sum())
    out["words"] = int(docs["n_words"].sum())
    texts = segs.loc[segs["unit"] == "sentence", "text"].tolist()   # the pipeline embeds sentences once
    emb = Embedder(P.embeddings.model, P.embeddings.batch_size, P.embeddings.device, show_progress_bar=False,
                   precision=P.embeddings.precision)
    t0 = time.perf_counter()
    emb.encode(texts)
    out["embed_s"] = time.perf_counter() - t0
    out["embed_units"] = len(texts)
    from transformers import AutoTokenizer

    from analysis.embeddings import minilm_path

    tok = AutoTokenizer.from_pretrained(minilm_path())
    out["embed_tokens"] = int(sum(len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"]))
    t0 = time.perf_counter()
    topics = fit_topics(P, docs, segs)
    out["topics_s"] = time.perf_counter() - t0
    q = dict(zip(topics.quality["metric"], topics.quality["value"]))
    out.update(n_topics=int(q["n_topics"]), npmi=float(q["npmi"]), diversity=float(q["diversity"]),
               outlier_share_before=float(q["outlier_share_before"]), outlier_share=float(q["outlier_share_after"]))
    t0 = time.perf_counter()
    actors = analyse_actors(P, docs, segs)
    out["actors_s"] = time.perf_counter() - t0
    out["actor_mentions"] = int(actors.mentions["counted"].sum())
    t0 = time.perf_counter()
    sentiment = analyse_sentiment(P, docs, segs, actors.mentions, topics.segment_topics)
    out["sentiment_s"] = time.perf_counter() - t0
    out["targets_scored"] = len(sentiment.targets)
    out["total_s"] = time.perf_counter() - t
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mem.__exit__()
    out["peak_tree_rss_mb"] = mem.peak_mb
    # after the total: not part of the pipeline's time
    out.update(encode_rates(texts[:RAW_SAMPLE], P))
    print(json.dumps(out))


def encode_rates(sample: list[str], P) -> dict:
    """Encoding alone, models loaded and warm, no cache, on the same ``sample`` of sentences.

    Each side is timed as the best of at least two runs (more while they take under 2 s in all, at most
    20): noise only adds time, and one run of the fast encoder lasts a few tens of milliseconds.

    Times the raw sentence-transformers call (float32, batch 64), this project's MiniLM encoder, and with
    ``embeddings.model: model2vec`` the fast path's encoder too. ``encode_vs_raw``: our MiniLM against
    the raw call (target at least 0.8). ``fast_vs_minilm`` and ``fast_vs_raw``: the fast encoder against
    our MiniLM and against the raw call (target at least 50).
    """
    from sentence_transformers import SentenceTransformer

    from analysis.embeddings import Embedder, minilm_path

    def timed(encode) -> float:
        encode(sample[:64])                                                  # warm-up, every side
        runs: list[float] = []
        while len(runs) < 2 or (sum(runs) < 2.0 and len(runs) < 20):
            t0 = time.perf_counter()
            encode(sample)
            runs.append(time.perf_counter() - t0)
        return min(runs)

    raw = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    raw_s = timed(lambda x: raw.encode(x, batch_size=64, show_progress_bar=False))
    ours = Embedder("minilm", P.embeddings.batch_size, P.embeddings.device, cache=False, show_progress_bar=False,
                    precision=P.embeddings.precision)
    ours_s = timed(ours.encode)
    out = {"raw_sample": len(sample), "raw_encode_s": raw_s, "ours_sample_s": ours_s,
           "encode_vs_raw": round(raw_s / ours_s, 3)}
    if P.embeddings.model == "model2vec":
        fast = Embedder("model2vec", P.embeddings.batch_size, cache=False, show_progress_bar=False)
        fast_s = timed(fast.encode)
        out.update(fast_sample_s=fast_s, fast_vs_minilm=round(ours_s / fast_s, 1), fast_vs_raw=round(raw_s / fast_s, 1))
    return out


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "default")
