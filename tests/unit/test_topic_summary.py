"""The topics stage's summary line: what was fitted, and a hint when a document fit found almost nothing."""

from __future__ import annotations

import pandas as pd

from analysis.topics import TopicsResult


def _result(unit: str, n_topics: int, units: int) -> TopicsResult:
    quality = pd.DataFrame({"metric": ["n_topics", "units", "outlier_share_before", "outlier_share_after"],
                            "value": [n_topics, units, 0.3, 0.0]})
    empty = pd.DataFrame()
    return TopicsResult(None, unit, "", empty, empty, empty, quality, empty, empty, empty)


def test_few_topics_over_many_documents_suggests_paragraph_units():
    line = _result("document", 2, 1387).summary()
    assert line.startswith("2 topics over 1387 document units; outliers 30.0% before and 0.0% after reduction")
    assert "try topics.unit: paragraph" in line


def test_no_hint_where_the_fit_is_plausible_or_the_corpus_small():
    for unit, n_topics, units in [("document", 46, 9806), ("document", 2, 150), ("paragraph", 2, 5000),
                                  ("sentence", 3, 118)]:
        assert "topics.unit" not in _result(unit, n_topics, units).summary()
