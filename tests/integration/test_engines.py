"""pandas in one process and a Dask LocalCluster, with 2 and with 5 partitions, write the same table bytes.

The corpus is the seeds' sentences regrouped into 40 short dated, sourced documents whose ids ("0" to
"39", in file order) do not sort as the file is ordered: the case where each partition's own sort left
``actor_mentions``, ``kwic`` and ``actor_mention_sentiment`` in another row order, and the bootstrap
intervals, drawn from one generator for the whole table, in other places (first seen on RUWA's first
3,000 rows). Every stage whose work is split (corpus, actors, sentiment) runs on each engine, then the
summary's actor x topic table over a fixed topic assignment; each table is compared by the sha256 of
its Parquet and CSV files.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis import config
from analysis.actors import analyse_actors
from analysis.corpus import build_corpus
from analysis.parallel import close_clients
from analysis.params import load_params
from analysis.randomness import key_int
from analysis.sentiment import analyse_sentiment
from analysis.summary import actor_topic_sentiment
from analysis.tables import table_sha256, write_table

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

ENGINES = {
    "pandas": {},
    "dask, 2 partitions": {"scheduler": "local", "workers": 2, "partitions": 2},
    "dask, 5 partitions": {"scheduler": "local", "workers": 2, "partitions": 5},
}
N_DOCUMENTS = 40


def _write_corpus(path) -> None:
    """The seeds' sentences, three or so to a document, in 40 documents over 3 months and 3 outlets."""
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(config.SEEDS_DIR.glob("*.txt")))
    sentences = [s for para in text.split("\n\n") for s in re.split(r"(?<=[.!?])\s+", para.strip())
                 if len(s.split()) >= 5]
    per_doc = -(-len(sentences) // N_DOCUMENTS)
    rows = [{"id": str(i), "text": " ".join(sentences[i * per_doc:(i + 1) * per_doc]),
             "date": f"2022-0{3 + i % 3}-{1 + i % 28:02d}", "site": ["wire-a", "paper-b", "tv-c"][i % 3]}
            for i in range(N_DOCUMENTS) if sentences[i * per_doc:(i + 1) * per_doc]]
    rows.append({**rows[7], "id": "7-copy"})                   # a duplicate for the duplicates table
    pd.DataFrame(rows).to_csv(path, index=False)


class _Run:
    """What the stages' ``write`` needs of a run: a tables folder and the parameters."""

    def __init__(self, folder, params):
        self.tables, self.params = folder, params

    def write_table(self, df, name):
        return write_table(df, self.tables, name)

    def record(self, stage, **info):
        pass


def _run(params, folder) -> dict[str, str]:
    run = _Run(folder, params)
    corpus = build_corpus(params, embed=False)
    corpus.write(run)
    actors = analyse_actors(params, corpus.documents, corpus.segments)
    actors.write(run)
    docs = corpus.documents["doc_id"]
    # a fixed topic per document (as topics.unit: document would give), so that the intervals per topic
    # and per actor x topic are drawn too
    segment_topics = pd.DataFrame({"segment_id": docs, "doc_id": docs,
                                   "topic": [key_int(d) % 4 - 1 for d in docs], "probability": 1.0})
    sentiment = analyse_sentiment(params, corpus.documents, corpus.segments, actors.mentions, segment_topics)
    sentiment.write(run)
    sp = params.sentiment
    ats = actor_topic_sentiment(actors.mentions, corpus.segments, segment_topics, sentiment.sentences, sp.method,
                                sp.bootstrap_resamples, params.seed, sentiment.targets)
    write_table(ats, folder, "actor_topic_sentiment")
    return {p.name: table_sha256(p) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def hashes(tmp_path_factory):
    csv = tmp_path_factory.mktemp("corpus") / "news.csv"
    _write_corpus(csv)
    base = load_params(config.DEFAULT_PARAMS_FILE).with_overrides({"corpus": {
        "path": str(csv), "id_column": "id", "text_columns": ["text"], "date_column": "date",
        "source_column": "site"}})
    # pandas scores every mention in this process, into a cache of its own; the first Dask run scores them
    # again on the workers, into another cache that the second reads back (a cached score is the computed
    # one): the two Dask runs share one cluster, whose workers import torch and load the models once.
    caches = {"pandas": tmp_path_factory.mktemp("cache-pandas"), "dask": tmp_path_factory.mktemp("cache-dask")}
    out = {}
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, compute in ENGINES.items():
                mp.setenv("ANALYSIS_CACHE_DIR", str(caches["dask" if compute else "pandas"]))
                out[name] = _run(base.with_overrides({"compute": compute}), tmp_path_factory.mktemp("tables"))
    finally:
        close_clients()
    assert any((caches["dask"] / "targeted").rglob("*.vecs.npy"))     # scored by the workers, not read back
    return out, pd.read_csv(csv, dtype=str)


def test_the_corpus_is_one_that_splits_and_sorts_differently(hashes):
    _, corpus = hashes
    ids = corpus["id"].tolist()
    assert len(ids) > max(c.get("partitions", 1) for c in ENGINES.values()) and ids != sorted(ids)


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "pandas"])
def test_every_table_is_byte_identical_to_the_pandas_one(hashes, engine):
    out, _ = hashes
    plain, other = out["pandas"], out[engine]
    for table in ("actor_mentions", "kwic", "actor_mention_sentiment", "actor_sentiment", "topic_sentiment",
                  "actor_topic_sentiment", "actors_over_time", "actors_per_source", "duplicates"):
        assert f"{table}.parquet" in plain, table
    assert sorted(other) == sorted(plain)
    differ = [name for name in plain if other[name] != plain[name]]
    assert not differ, f"{engine}: {differ} differ from the pandas run's"
