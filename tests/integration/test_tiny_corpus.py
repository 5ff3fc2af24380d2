"""A corpus too small for topics still gets every other table, and says why in one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_two_sentences_give_every_table_and_say_why_topics_are_empty(tmp_path):
    corpus = tmp_path / "tiny"
    corpus.mkdir()
    (corpus / "a.txt").write_text("NATO met in Brussels.\n\nRussia said no.\n", encoding="utf-8")
    out = tmp_path / "run"
    r = run_cli("run", "--corpus", str(corpus), "--out", str(out))
    assert r.returncode == 0, r.stderr
    reason = "no topics: the corpus has 2 sentence unit(s) and topic modelling needs at least 3"
    assert f"[topics] {reason}" in r.stdout and "Kernel died" not in r.stdout + r.stderr
    tables = out / "tables"
    topics = pd.read_parquet(tables / "topics.parquet")
    assert topics.empty and "label" in topics.columns
    assert len(pd.read_parquet(tables / "actor_mentions.parquet")) == 2
    assert len(pd.read_parquet(tables / "sentence_sentiment.parquet")) > 0
    assert (tables / "actor_topic_sentiment.parquet").exists()
    rec = json.loads((out / "manifest.json").read_text())["stage_records"]["topics"]
    assert rec["skipped"].startswith(reason)
    assert reason in (out / "report.html").read_text()
    assert run_cli("verify", str(out)).returncode == 0
