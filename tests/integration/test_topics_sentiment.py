"""Topics and sentiment on the seeds: tables, reproducibility across processes, persistence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli


def test_topic_tables(seeds_run):
    t = seeds_run / "tables"
    topics = pd.read_parquet(t / "topics.parquet")
    st = pd.read_parquet(t / "segment_topics.parquet")
    q = dict(pd.read_parquet(t / "topic_quality.parquet").values)
    assert len(topics) >= 2 and topics["size"].sum() == len(st) == q["units"]
    assert {"npmi", "diversity", "outlier_share_before", "outlier_share_after", "n_topics"} <= set(q)
    stop = {"the", "and", "of", "to", "in", "said"}
    for terms in topics["top_terms"]:
        words = [x["term"] for x in json.loads(terms)]
        assert len(words) == 10 and not stop & set(words)
    dt = pd.read_parquet(t / "document_topics.parquet")
    assert np.allclose(dt.groupby("doc_id")["share"].sum(), 1.0)


def test_saved_model_loads_back_without_pickle(seeds_run):
    from bertopic import BERTopic

    folder = seeds_run / "model" / "bertopic"
    assert not list(folder.glob("*.pkl")) and list(folder.glob("*.safetensors"))
    from analysis.embeddings import minilm_path

    model = BERTopic.load(str(folder), embedding_model=str(minilm_path()))
    topics = pd.read_parquet(seeds_run / "tables" / "topics.parquet")
    quality = dict(pd.read_parquet(seeds_run / "tables" / "topic_quality.parquet").values)
    # the saved model is HDBSCAN's: its topics, plus the outlier class when the fit left outliers (the
    # tables reassign them); its terms are the tables' terms
    outliers = {-1} if quality["outlier_share_before"] > 0 else set()
    assert set(model.get_topics()) == set(topics["topic"]) | outliers
    for t, terms in zip(topics["topic"], topics["top_terms"]):
        assert [w for w, _ in model.get_topic(t) if w][:len(terms)] == [x["term"] for x in json.loads(terms)]


def test_small_units_never_crash(tmp_path, seeds_run):
    for unit in ("document", "paragraph"):
        out = tmp_path / unit
        import shutil

        shutil.copytree(seeds_run, out)
        r = run_cli("run", "--out", str(out), "--until", "topics", "--set", f"topics.unit={unit}")
        assert r.returncode == 0, r.stderr
        q = dict(pd.read_parquet(out / "tables/topic_quality.parquet").values)
        assert q["n_topics"] >= 2 and q["units"] == {"document": 5, "paragraph": 60}[unit]


def test_two_processes_give_identical_tables(seeds_run, tmp_path):
    out = tmp_path / "again"
    r = run_cli("run", "--out", str(out), "--run-name", "seeds")
    assert r.returncode == 0, r.stderr
    m1 = json.loads((seeds_run / "manifest.json").read_text())["tables"]
    m2 = json.loads((out / "manifest.json").read_text())["tables"]
    assert m1 == m2


def test_sentiment_tables(seeds_run):
    t = seeds_run / "tables"
    ss = pd.read_parquet(t / "sentence_sentiment.parquet")
    assert set(ss["method"]) == {"vader", "afinn"} and ss["compound"].between(-1, 1).all()
    ds = pd.read_parquet(t / "document_sentiment.parquet")
    assert np.allclose(ds[["share_positive", "share_neutral", "share_negative"]].sum(1), 1)
    # whole-document VADER sits at 0.91-0.999 on the seeds; sentence means must spread below that
    assert ds[ds["method"] == "vader"]["mean_compound"].max() < 0.9
    ag = pd.read_parquet(t / "method_agreement.parquet")
    assert "ALL" in set(ag["doc_id"])
    act = pd.read_parquet(t / "actor_sentiment.parquet")
    row = act[(act["actor_id"] == "NATO") & (act["method"] == "vader_sentence")].iloc[0]
    assert row["ci_low"] <= row["mean"] <= row["ci_high"] and not row["flagged"]
    assert act[act["n_sentences"] < 3]["flagged"].all()
    assert (t / "topic_sentiment.parquet").exists()


@pytest.mark.slow
def test_target_function_separates_targets():
    from analysis.sentiment import score_targets

    s = "Russia shelled the city and killed civilians, while Ukraine welcomed the generous help."
    out = score_targets([s, s], [(0, 6), (51, 58)])          # the shipped model, by default
    assert list(out["polarity"]) == ["negative", "positive"]


def test_sample_fit_then_transform_covers_every_unit(seeds_run):
    from analysis.embeddings import Embedder
    from analysis.topics import TopicModel

    segs = pd.read_parquet(seeds_run / "tables/segments.parquet")
    units = segs[segs["unit"] == "sentence"][["segment_id", "doc_id", "text"]].reset_index(drop=True)
    vecs = Embedder(show_progress_bar=False).encode(units["text"].tolist())
    tm = TopicModel(small_corpus_max_units=10, min_cluster_size=5, fit_sample_limit=80, random_state=3).fit(units, vecs)
    assert "seeded sample of 80 of 118" in tm.setup_ and "exact cosine kNN" in tm.setup_
    assert len(tm.segment_topics_) == 118 and tm.n_fit_units_ == 80
    # units outside the fitting sample were assigned, not clustered
    assert 0 < tm.segment_topics_["clustered"].sum() <= 80
    assert (tm.transform(vecs) >= 0).all()
    again = TopicModel(small_corpus_max_units=10, min_cluster_size=5, fit_sample_limit=80, random_state=3).fit(units, vecs)
    assert again.segment_topics_.equals(tm.segment_topics_)
    # the hierarchy merges the fitted topics (it once read all 118 texts against the sample's 80 labels)
    assert len(tm.topics_table_) >= 4
    assert len(tm.hierarchy()) == len([t for t in tm.topics_table_["topic"] if t != -1]) - 1
    # the layout runs the epochs asked for (200 by default), or UMAP's own choice when None
    assert tm.model_.umap_model.n_epochs == 200
    own = TopicModel(small_corpus_max_units=10, min_cluster_size=5, umap_epochs=None, random_state=3).fit(units, vecs)
    assert own.model_.umap_model.n_epochs is None


def test_min_df_keeps_rare_words_out_of_topic_terms(seeds_run):
    from sklearn.feature_extraction.text import CountVectorizer

    from analysis.embeddings import Embedder
    from analysis.topics import TopicModel

    assert [TopicModel().min_df_for(n) for n in (118, 300, 4999, 10_000, 50_000)] == [1, 2, 4, 10, 20]
    assert TopicModel(min_df=3).min_df_for(10_000) == 3
    segs = pd.read_parquet(seeds_run / "tables/segments.parquet")
    units = segs[segs["unit"] == "sentence"][["segment_id", "doc_id", "text"]].reset_index(drop=True)
    vecs = Embedder(show_progress_bar=False).encode(units["text"].tolist())
    counts = CountVectorizer(token_pattern=r"(?u)\b[A-Za-z][A-Za-z\-]+\b").fit(units["text"])
    df = dict(zip(counts.get_feature_names_out(), np.asarray((counts.transform(units["text"]) > 0).sum(0)).ravel()))
    fitted = {}
    for reduce, terms_from in ((True, "clusters"), (False, "clusters"), (True, "assigned")):
        # the KeyBERT terms are there whether or not outliers are reassigned
        tm = TopicModel(min_df=3, reduce_outliers=reduce, terms_from=terms_from, random_state=42).fit(units, vecs)
        terms = [x["term"] for t in tm.topics_table_["top_terms"] for x in t]
        assert terms and min(df[w] for w in terms) >= 3
        assert all(len(k) > 0 for k in tm.topics_table_["keybert_terms"])
        # reduction reassigns every outlier; without it the labels keep HDBSCAN's outliers as they were
        assert tm.outlier_share_after_ == (0.0 if reduce else tm.outlier_share_before_)
        assert tm.outlier_share_after_ == float(np.mean(tm.labels_ == -1))
        # ``clustered`` marks the units HDBSCAN placed itself: the same units whatever happens after
        st = tm.segment_topics_
        assert np.isclose(st["clustered"].mean(), 1 - tm.outlier_share_before_)
        assert (st.loc[~st["clustered"], "topic"] == -1).all() != reduce
        fitted[reduce, terms_from] = tm

    def terms_of(tm):
        t = tm.topics_table_
        return {k: [x["term"] for x in v] for k, v in zip(t["topic"], t["top_terms"]) if k != -1}

    kept, bare, redone = fitted[True, "clusters"], fitted[False, "clusters"], fitted[True, "assigned"]
    assert kept.outlier_share_before_ > 0          # there were outliers to reassign
    # terms from the clusters: reassigned outliers change the assignment, not the topics' terms
    assert terms_of(kept) == terms_of(bare) and not np.array_equal(kept.labels_, bare.labels_)
    core = kept.segment_topics_["clustered"].to_numpy()
    assert np.array_equal(kept.labels_[core], bare.labels_[core])
    # terms from every assigned unit: extracted again after reassignment, on the same assignment
    assert np.array_equal(redone.labels_, kept.labels_) and terms_of(redone) != terms_of(kept)


@pytest.mark.slow
def test_umap_kernels_are_compiled_once_for_later_processes(tmp_path):
    """UMAP leaves its parallel kernels uncached; the topic stage turns numba's disk cache on for them."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np; from analysis.topics import cache_numba_kernels; from umap import UMAP; "
            "cache_numba_kernels(); X = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32); "
            "UMAP(n_neighbors=10, n_components=2, n_epochs=5, random_state=1).fit(X)")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    cached = {p.name.split("-")[0] for p in tmp_path.rglob("*.nbi")}
    assert {"umap_.smooth_knn_dist", "umap_.compute_membership_strengths"} <= cached
