"""Actor extraction on the seeds against the hand-checked gold mentions."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def mentions(seeds_run):
    return pd.read_parquet(seeds_run / "tables" / "actor_mentions.parquet")


def test_precision_and_recall_against_gold(mentions):
    gold = pd.read_csv(ROOT / "tests/data/gold_actor_mentions.csv")
    key = ["doc_id", "start", "end", "actor_id"]
    got = set(map(tuple, mentions[key].astype(str).to_numpy()))
    want = set(map(tuple, gold[key].astype(str).to_numpy()))
    tp = len(got & want)
    precision, recall = tp / len(got), tp / len(want)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, sorted(got ^ want)[:10])


def test_issue_cases_resolve(mentions, seeds_run):
    docs = pd.read_parquet(seeds_run / "tables" / "documents.parquet").set_index("doc_id")["text"]
    assert all(docs[d][s:e] == t for d, s, e, t in zip(mentions["doc_id"], mentions["start"], mentions["end"],
                                                         mentions["surface"]))
    by = {(s.lower(), a) for s, a in zip(mentions["surface"], mentions["actor_id"])}
    assert ("kyiv", "UKR") in by and ("kremlin", "RUS") in by
    assert ("ursula von der leyen", "URSULA_VON_DER_LEYEN") in by
    assert ("alliance", "NATO") in by
    russian = mentions[mentions["surface"] == "Russian"]
    assert len(russian) and (russian["actor_id"] == "RUS").all() and russian["attributive"].all()
    amb = pd.read_parquet(seeds_run / "tables" / "actor_ambiguous.parquet")
    assert "Brussels" in set(amb["surface"])
    assert not mentions["surface"].eq("Brussels").any()


def test_tables_are_consistent(seeds_run, mentions):
    t = seeds_run / "tables"
    actors = pd.read_parquet(t / "actors.parquet")
    counted = mentions[mentions["counted"]]
    assert actors.set_index("actor_id")["mentions"].to_dict() == counted.groupby("actor_id").size().to_dict()
    kwic = pd.read_parquet(t / "kwic.parquet")
    assert len(kwic) == len(mentions)
    cooc = pd.read_parquet(t / "actor_cooccurrence.parquet")
    row = cooc[(cooc["actor_a"] == "NATO") & (cooc["actor_b"] == "RUS")]
    assert len(row) == 1 and row["documents"].iloc[0] == 5
    cands = pd.read_parquet(t / "actor_candidates.parquet")
    assert not cands["surface"].str.lower().isin({"nato", "kyiv", "russia"}).any()
