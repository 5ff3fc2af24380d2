"""Outlets and periods compared: planted differences found, the null left alone, documents resampled as wholes.

Synthetic tone units (one actor in one sentence) with a tone per document on top of the sentence's, so
that sentences of one document agree with each other as real articles do; no model, well under a
second per test.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis import compare

SOURCES = ["bbc.co.uk", "reuters.com", "rt.com", "tass.com"]


def _units(seed: int = 0, docs_per_source: int = 25, planted: float = 0.0, doc_sd: float = 0.3,
           actors=("NATO", "RUS", "UKR")) -> pd.DataFrame:
    """Units of ``docs_per_source`` documents per source; rt.com's sentences about NATO moved by ``planted``."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in SOURCES:
        for d in range(docs_per_source):
            doc = f"{s[:3]}{d:03d}"
            date = f"2022-{3 + d % 4:02d}-{1 + d % 28:02d}"
            for a in actors:
                offset = rng.normal(0, doc_sd)                 # the document's own register about the actor
                for k in range(int(rng.integers(1, 5))):
                    score = offset + rng.normal(0, 0.2) + (planted if (s == "rt.com" and a == "NATO") else 0.0)
                    score = float(np.clip(score, -1, 1))
                    pol = "negative" if score < -0.05 else "positive" if score > 0.05 else "neutral"
                    rows.append((a, f"{doc}:s{k:02d}", doc, 1, score, pol, score / 2, s, date))
    return pd.DataFrame(rows, columns=compare._UNIT_FIELDS)


def _shuffle_sources(units: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same units with the documents' source labels shuffled across documents (the null)."""
    docs = units.drop_duplicates("doc_id")[["doc_id", "source"]]
    perm = np.random.default_rng(seed).permutation(docs["source"].to_numpy())
    return units.assign(source=units["doc_id"].map(dict(zip(docs["doc_id"], perm))))


def test_a_planted_difference_is_found_with_its_sign():
    units = _units(planted=-0.6)
    c = compare.source_contrasts(units, resamples=300, seed=1)
    row = c[(c["actor_id"] == "NATO") & (c["source_a"] == "bbc.co.uk") & (c["source_b"] == "rt.com")].iloc[0]
    assert row["difference"] > 0.4 and row["ci_low"] > 0 and row["q_value"] < 0.05      # bbc - rt: rt lower
    rest = c[(c["actor_id"] == "NATO") & (c["source_a"] == "rt.com") & (c["source_b"] == compare.ALL_OTHERS)].iloc[0]
    assert rest["difference"] < -0.4 and rest["ci_high"] < 0 and rest["q_value"] < 0.05
    nato_rt = c[(c["actor_id"] == "NATO") & ((c["source_a"] == "rt.com") | (c["source_b"] == "rt.com"))]
    assert len(nato_rt) == 4 and (nato_rt["q_value"] < 0.05).all()
    # the four planted contrasts are the four largest differences of the thirty
    assert set(c["difference"].abs().nlargest(4).index) == set(nato_rt.index)
    per_source = compare.actor_source_sentiment(units, resamples=300, seed=1)
    lines = compare.contrast_findings(c, per_source, pd.DataFrame({"actor_id": ["NATO"], "name": ["NATO (alliance)"]}))
    nato = [line for line in lines if line.startswith("Tone toward NATO (alliance): ")]
    assert len(nato) == 1 and ": rt.com -0.58 [-0.66, -0.48] (25 documents) vs " in nato[0], lines
    assert "; difference -0.5" in nato[0] and nato[0].endswith("q = 0.020."), lines


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_sources_give_no_more_discoveries_than_the_correction_allows(seed):
    units = _shuffle_sources(_units(seed=seed, planted=-0.6), seed)
    c = compare.source_contrasts(units, resamples=200, seed=seed)
    assert len(c) == 3 * (6 + 4)                      # three actors, six pairs and four against the rest
    assert (c["q_value"] < 0.05).mean() <= 0.05
    assert 0.2 < c["p_value"].mean() < 0.8            # p-values spread over (0, 1], not piled near 0


def test_one_long_article_counts_as_one_document_in_the_resampling():
    """Forty sentences of one article against six short ones: the interval spans both, not the forty."""
    long = [("NATO", f"long:s{k:02d}", "long", 1, -0.8, "negative", 0.0, "rt.com", "") for k in range(40)]
    short = [("NATO", f"d{i}:s00", f"d{i}", 1, 0.3 + 0.02 * i, "positive", 0.0, "rt.com", "") for i in range(6)]
    clustered = pd.DataFrame(long + short, columns=compare._UNIT_FIELDS)
    # the same 46 sentences, each its own document
    spread = clustered.assign(doc_id=[f"x{i}" for i in range(46)])
    a = compare.actor_source_sentiment(clustered, resamples=500, seed=3).iloc[0]
    b = compare.actor_source_sentiment(spread, resamples=500, seed=3).iloc[0]
    assert a["target_tone"] == b["target_tone"] and a["documents"] == 7 and b["documents"] == 46
    assert a["ci_high"] - a["ci_low"] > 0.6            # the long article in or out of a resample
    assert a["ci_high"] - a["ci_low"] > 4 * (b["ci_high"] - b["ci_low"])


def test_intervals_and_tests_are_keyed_deterministic_and_sorted():
    units = _units(seed=4)
    a = compare.source_contrasts(units, resamples=200, seed=9)
    assert a.equals(compare.source_contrasts(units.sample(frac=1, random_state=2), resamples=200, seed=9))
    assert a[["actor_id", "source_a", "source_b"]].equals(
        a[["actor_id", "source_a", "source_b"]].sort_values(["actor_id", "source_a", "source_b"]).reset_index(drop=True))
    # a cell's interval is its own: other actors and other sources do not move it
    per = compare.actor_source_sentiment(units, resamples=200, seed=9)
    fewer = compare.actor_source_sentiment(units[(units["actor_id"] == "RUS") & (units["source"] != "tass.com")],
                                           resamples=200, seed=9)
    key = ["actor_id", "source"]
    assert per.merge(fewer, on=key, suffixes=("", "_f")).eval("ci_low == ci_low_f and ci_high == ci_high_f").all()
    pair = a[(a["actor_id"] == "RUS") & (a["source_a"] == "bbc.co.uk") & (a["source_b"] == "rt.com")]
    alone = compare.source_contrasts(units[(units["actor_id"] == "RUS") & units["source"].isin(["bbc.co.uk", "rt.com"])],
                                     resamples=200, seed=9)
    alone = alone[alone["source_b"] == "rt.com"]
    assert pair[["difference", "ci_low", "ci_high", "p_value"]].to_numpy().tolist() == \
        alone[["difference", "ci_low", "ci_high", "p_value"]].to_numpy().tolist()


def test_periods_are_labelled_and_thin_ones_flagged():
    label, start = compare.period_of(pd.Series(["2022-02-24", "2022-03-06", "2022-03-07", ""]), "month")
    assert label.tolist() == ["2022-02", "2022-03", "2022-03", ""] and start.tolist()[0] == "2022-02-01"
    assert compare.period_of(pd.Series(["2022-03-06", "2022-03-07"]), "week")[0].tolist() == ["2022-02-28", "2022-03-07"]
    assert compare.period_of(pd.Series(["2022-05-06"]), "quarter")[0].tolist() == ["2022Q2"]
    with pytest.raises(ValueError, match="month, week, quarter.*'day'"):
        compare.period_of(pd.Series(["2022-05-06"]), "day")
    units = _units(seed=5, docs_per_source=6)
    units.loc[units.index[0], "published"] = "2022-09-01"        # one sentence alone in September
    t = compare.actor_period_sentiment(units, "month", min_sentences=3, resamples=100, seed=1)
    sept = t[(t["period"] == "2022-09")].iloc[0]
    assert sept["flagged"] and sept["n_sentences"] == 1 and np.isnan(sept["ci_low"])
    assert not t[t["period"] == "2022-03"]["flagged"].any()
    assert set(t["period_start"]) >= {"2022-03-01", "2022-09-01"}


def test_corpora_without_sources_or_dates_give_empty_tables_and_a_reason():
    units = _units(seed=6).assign(source="", published="")
    docs = pd.DataFrame({"doc_id": units["doc_id"].unique(), "source": "", "published": "", "text": "NATO said so."})
    for t in (compare.actor_source_sentiment(units), compare.actor_period_sentiment(units),
              compare.source_contrasts(units)):
        assert t.empty and len(t.columns) > 5
    assert t.dtypes["q_value"] == "float64"
    mentions = pd.DataFrame({"doc_id": docs["doc_id"], "actor_id": "NATO", "counted": True})
    assert compare.distinctive_terms(docs, mentions).empty
    assert set(compare.reasons(docs)) == {"source", "period"}
    assert compare.contrast_findings(compare.source_contrasts(units), compare.actor_source_sentiment(units),
                                     pd.DataFrame({"actor_id": [], "name": []})) == []


def test_tone_units_take_the_first_counted_mention_per_sentence():
    mentions = pd.DataFrame({"doc_id": ["d1"] * 4, "segment_id": ["d1:s0", "d1:s0", "d1:s1", "d1:s1"],
                             "actor_id": ["NATO", "NATO", "NATO", "RUS"], "start": [0, 20, 40, 60],
                             "end": [4, 24, 44, 66], "counted": [True, True, True, False]})
    targets = mentions[mentions["counted"]].assign(score=[0.5, -0.9, -0.2],
                                                  polarity=["positive", "negative", "negative"])
    ss = pd.DataFrame({"segment_id": ["d1:s0", "d1:s1", "d1:s0"], "method": ["vader", "vader", "afinn"],
                       "adjusted_compound": [0.1, -0.3, 0.9]})
    docs = pd.DataFrame({"doc_id": ["d1"], "source": ["rt.com"], "published": ["2022-03-01"]})
    u = compare.tone_units(mentions, targets.iloc[::-1], ss, docs, "vader")
    assert u[["actor_id", "segment_id", "mentions", "score", "sentence_tone", "source"]].values.tolist() == [
        ["NATO", "d1:s0", 2, 0.5, 0.1, "rt.com"], ["NATO", "d1:s1", 1, -0.2, -0.3, "rt.com"]]


def test_distinctive_terms_rank_a_planted_word_first_and_keep_common_words_down():
    rng = np.random.default_rng(0)
    common = ["troops", "city", "talks", "forces", "report", "region"]
    texts, sources, dates = [], [], []
    for i in range(120):
        s = SOURCES[i % 4]
        words = list(rng.choice(common, 12))
        if s == "rt.com":
            words += ["provocation"] * int(rng.integers(1, 3))
        texts.append(" ".join(words))
        sources.append(s)
        dates.append(f"2022-0{3 + i % 2}-10")
    docs = pd.DataFrame({"doc_id": [f"d{i:03d}" for i in range(120)], "text": texts, "source": sources,
                         "published": dates})
    mentions = pd.DataFrame({"doc_id": docs["doc_id"], "actor_id": np.where(docs["source"] == "tass.com", "RUS", "UKR"),
                             "counted": True})
    t = compare.distinctive_terms(docs, mentions, top_n=5)
    rt = t[(t["group_kind"] == "source") & (t["group"] == "rt.com") & (t["feature_kind"] == "word")]
    assert rt.iloc[0]["feature"] == "provocation" and rt.iloc[0]["z"] > 5 and rt.iloc[0]["count_rest"] == 0
    assert (rt.loc[rt["feature"].isin(common), "z"] < 2).all()
    assert t[(t["group"] == "tass.com") & (t["feature_kind"] == "actor")].iloc[0]["feature"] == "RUS"
    assert set(t.loc[t["group_kind"] == "period", "group"]) == {"2022-03", "2022-04"}
    assert t.equals(t.sort_values(["group_kind", "group", "feature_kind", "rank"]).reset_index(drop=True))
    pair = compare.pair_log_odds(docs, "rt.com", "bbc.co.uk")
    assert pair.iloc[-1]["feature"] == "provocation" and pair.iloc[-1]["count_b"] == 0


def test_log_odds_match_the_formula_by_hand():
    d, z = compare.log_odds(np.array([8, 2]), np.array([4, 6]), np.array([12, 8]))
    # word 0: log((8+12)/(10+20-8-12)) - log((4+12)/(10+20-4-12))
    assert d[0] == pytest.approx(np.log(20 / 10) - np.log(16 / 14))
    assert z[0] == pytest.approx(d[0] / np.sqrt(1 / 20 + 1 / 16))


@pytest.mark.parametrize(("prior", "got"), [([5], "got 1 feature(s), 0 not positive"),
                                           ([], "got 0 feature(s), 0 not positive"),
                                           ([5, 0], "got 2 feature(s), 1 not positive")])
def test_log_odds_refuse_a_prior_of_one_feature_or_a_zero(prior, got):
    """One feature has no other to take its odds against (a division by zero, then inf - inf)."""
    n = len(prior)
    with pytest.raises(ValueError, match=rf"prior must hold two features or more, each positive .*; {re.escape(got)}$"):
        compare.log_odds(np.ones(n), np.ones(n), np.array(prior))


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("column", ["log_odds", "z"])
def test_distinctive_terms_refuse_an_infinite_or_missing_value(column, value):
    from analysis import schema
    from analysis.errors import SchemaError

    with pytest.raises(SchemaError, match=rf"column {column} has 1 "):
        schema.validate(schema.example("distinctive_terms", **{column: [value]}), "distinctive_terms")


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    q = compare.bh_qvalues(p)
    # rejected at 5%: the largest k with p_(k) <= k/m * 0.05 is k=2
    assert ((q < 0.05) == (np.arange(10) < 2)).all()
    assert q[0] == pytest.approx(0.01) and (np.diff(q) >= 0).all()


def test_figures_name_actors_say_what_was_left_out_and_explain_empty_ones():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis import plots

    ids = [f"A{i:02d}" for i in range(5)]
    units = _units(seed=7, docs_per_source=4, actors=ids)
    actors = pd.DataFrame({"actor_id": ids, "name": [f"Actor number {i}" for i in range(5)]})
    per = compare.actor_source_sentiment(units, resamples=100, seed=1)
    apart = compare.apart_from_the_rest(compare.source_contrasts(units, resamples=100, seed=1))
    fig = plots.tone_by_outlet(per, actors, apart, max_actors=3, max_sources=2)
    assert ("the 3 most mentioned of the 5 actors named by two outlets or more (5 in all); per actor the 2 outlets "
            "naming it most") in fig._suptitle.get_text()
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()][0] == "Actor number 0"
    # an actor named by one outlet only is no comparison: left out of the panels
    one = per[(per["actor_id"] != "A00") | (per["source"] == "rt.com")]
    fig = plots.tone_by_outlet(one, actors, max_actors=3)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["Actor number 1", "Actor number 2", "Actor number 3"]
    fig = plots.tone_timelines(compare.actor_period_sentiment(units, resamples=100, seed=1), actors, max_actors=2)
    assert "the 2 most mentioned of 5 actors" in fig._suptitle.get_text() and "fewer than 3" in fig._suptitle.get_text()
    empty = compare.actor_source_sentiment(units.assign(source=""))
    fig = plots.tone_by_outlet(empty, actors, reason="the corpus has no sources (set corpus.source_column)")
    assert any("no sources" in t.get_text() for t in fig.axes[0].texts)
    assert "fewer than two words" in plots.log_odds_words(compare.pair_log_odds(pd.DataFrame(
        {"doc_id": [], "source": [], "text": []}), "a", "b"), "a", "b").axes[0].texts[0].get_text()
    plt.close("all")


def test_log_odds_outlets_are_the_chosen_ones_or_the_two_largest():
    from analysis.errors import ParameterError

    docs = pd.DataFrame({"source": ["rt.com"] * 3 + ["bbc.co.uk"] * 2 + ["tass.com"] * 2 + [""] * 5})
    assert compare.choose_log_odds_sources(docs) == ("rt.com", "bbc.co.uk")     # ties by name
    assert compare.choose_log_odds_sources(docs, ("tass.com", "rt.com")) == ("tass.com", "rt.com")
    with pytest.raises(ParameterError, match=r"summary.log_odds_sources.*rt\.co is not a source.*bbc\.co\.uk, rt\.com"):
        compare.choose_log_odds_sources(docs, ("rt.co", "tass.com"))
    assert compare.choose_log_odds_sources(docs.assign(source="")) is None
    assert compare.choose_log_odds_sources(docs.assign(source="rt.com")) is None


@pytest.mark.parametrize(("sources", "unknown", "known"), [
    (["rt.com"] * 3 + [""], "rt.co", "rt.com"),
    ([""] * 4, "rt.co, rt.com", "none (set corpus.source_column)"),
], ids=["one outlet", "no outlet"])
def test_a_misspelled_log_odds_outlet_is_an_error_whatever_the_number_of_outlets(sources, unknown, known):
    from analysis.errors import ParameterError

    with pytest.raises(ParameterError) as err:
        compare.choose_log_odds_sources(pd.DataFrame({"source": sources}), ("rt.co", "rt.com"))
    assert str(err.value) == (f"parameter 'summary.log_odds_sources': {unknown} is not a source of this corpus; "
                              f"its sources: {known}; got ['rt.co', 'rt.com']")


def test_a_sourced_corpus_without_actor_mentions_still_lists_its_words_and_says_why_there_is_no_tone():
    from analysis.params import Params

    texts = ["Shelling hit the port again.", "Talks resumed in the capital.", "Shelling near the port.",
             "Talks stalled in the capital."]
    docs = pd.DataFrame({"doc_id": list("abcd"), "source": ["x", "y", "x", "y"],
                         "published": ["2022-01-02", "2022-02-03", "", "2022-02-05"], "text": texts})
    nothing = {"actor_mentions": pd.DataFrame({"doc_id": [], "segment_id": [], "actor_id": [], "start": [], "end": [],
                                               "counted": pd.Series(dtype=bool)}),
               "actor_mention_sentiment": pd.DataFrame({"doc_id": [], "segment_id": [], "actor_id": [], "start": [],
                                                        "end": [], "score": [], "polarity": []}),
               "sentence_sentiment": pd.DataFrame({"segment_id": [], "method": [], "adjusted_compound": []}),
               "actors": pd.DataFrame({"actor_id": pd.Series(dtype=str), "name": pd.Series(dtype=str)}),
               "documents": docs}

    class Run:
        def read_table(self, name):
            return nothing[name]

        def has_table(self, name):
            return name in nothing

    c = compare.compare_run(Params(), Run())
    assert c.actor_source_sentiment.empty and c.source_contrasts.empty and c.actor_period_sentiment.empty
    assert c.reasons == {"tone": "the corpus has no counted actor mention"}
    assert c.findings[0] == ("Tone toward actors not compared by outlet or period: the corpus has no counted "
                             "actor mention.")
    assert set(c.distinctive_terms["feature"]) >= {"shelling", "talks"} and c.log_odds_sources == ("x", "y")
    assert c.summary().startswith("outlets not compared: the corpus has no counted actor mention")
    # four documents make no word stand out at z >= 1.96: no line of distinctive words
    assert not any(f.startswith("Words that most set") for f in c.findings)


class _Tables:
    """A run folder's tables in memory: ``read_table`` fails on a table it lacks, as a real folder's does."""

    def __init__(self, tables):
        self.tables = tables

    def read_table(self, name):
        if name not in self.tables:
            raise FileNotFoundError(f"tables/{name}.parquet")
        return self.tables[name]

    def has_table(self, name):
        return name in self.tables


@pytest.mark.parametrize("targets", ["missing", "empty"])
def test_without_targeted_scores_the_tone_is_not_compared_and_the_reason_is_given(targets):
    """As summary.summarise does, a missing (or empty) actor_mention_sentiment is no crash."""
    from analysis.params import Params

    texts = ["NATO shelled the port.", "Russia's talks resumed.", "NATO near the port.", "Russia's talks stalled."]
    docs = pd.DataFrame({"doc_id": list("abcd"), "source": ["x", "y", "x", "y"],
                         "published": ["2022-01-02", "2022-02-03", "2022-01-04", "2022-02-05"], "text": texts})
    tables = {"documents": docs,
              "actor_mentions": pd.DataFrame({"doc_id": list("abcd"), "segment_id": [f"{d}:s00" for d in "abcd"],
                                              "actor_id": ["NATO", "RUS"] * 2, "start": 0, "end": 4, "counted": True}),
              "sentence_sentiment": pd.DataFrame({"segment_id": [f"{d}:s00" for d in "abcd"], "method": "vader",
                                                  "adjusted_compound": [-0.5, 0.2, 0.0, -0.1]}),
              "actors": pd.DataFrame({"actor_id": ["NATO", "RUS"], "name": ["NATO", "Russia"]})}
    if targets == "empty":
        tables["actor_mention_sentiment"] = pd.DataFrame({c: [] for c in ("doc_id", "segment_id", "actor_id", "start",
                                                                          "end", "score", "polarity")})
    c = compare.compare_run(Params(), _Tables(tables))
    for t in (c.actor_source_sentiment, c.actor_period_sentiment, c.source_contrasts):
        assert t.empty and len(t.columns) > 5
    why = "no counted actor mention has a targeted score (table actor_mention_sentiment is missing or empty)"
    assert c.reasons == {"tone": why}
    assert c.why_empty("source") == c.why_empty("period") == why
    assert f"Tone toward actors not compared by outlet or period: {why}." in c.findings
    assert c.summary() == f"outlets not compared: {why}; periods not compared: {why}"
    assert c.log_odds_sources == ("x", "y") and not c.distinctive_terms.empty


@pytest.mark.parametrize(("texts", "actor_ids", "kind", "kept", "why"), [
    (["NATO shelled the port.", "NATO talks resumed.", "NATO near the port.", "NATO talks stalled."], ["NATO"] * 4,
     "distinctive_actors", "word", "No actor set apart by outlet or period: the corpus names one actor only (NATO), "
     "and an actor stands apart only by its share of all the actors' mentions."),
    (["Shelling.", "Shelling, shelling.", "Shelling!", "Shelling."], ["NATO", "RUS"] * 2,
     "distinctive_words", "actor", "No word set apart by outlet or period: the documents have one word only outside "
     "the stop words (shelling), and a word stands apart only by its share of all the words."),
], ids=["one actor", "one word"])
def test_one_actor_or_one_word_sets_nothing_apart_and_the_findings_say_why(texts, actor_ids, kind, kept, why):
    """A feature's log-odds are against the other features: with one, no rows of its kind, no division by zero."""
    import warnings

    from analysis import schema
    from analysis.params import Params

    segs = [f"{d}:s00" for d in "abcd"]
    mentions = pd.DataFrame({"doc_id": list("abcd"), "segment_id": segs, "actor_id": actor_ids, "start": 0, "end": 4,
                             "counted": True})
    tables = {"documents": pd.DataFrame({"doc_id": list("abcd"), "source": ["x", "y", "x", "y"], "text": texts,
                                         "published": ["2022-01-02", "2022-02-03", "2022-01-04", "2022-02-05"]}),
              "actor_mentions": mentions,
              "actor_mention_sentiment": mentions.drop(columns="counted").assign(
                  score=[-0.5, 0.2, -0.4, 0.1], polarity=["negative", "positive", "negative", "positive"]),
              "sentence_sentiment": pd.DataFrame({"segment_id": segs, "method": "vader",
                                                  "adjusted_compound": [-0.5, 0.2, 0.0, -0.1]}),
              "actors": pd.DataFrame({"actor_id": sorted(set(actor_ids)), "name": sorted(set(actor_ids))})}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        c = compare.compare_run(Params(), _Tables(tables))
    t = schema.validate(c.distinctive_terms, "distinctive_terms")
    assert set(t["feature_kind"]) == {kept} and set(t["group_kind"]) == {"source", "period"}
    assert list(c.reasons) == [kind] and why in c.findings
    assert c.log_odds_sources == ("x", "y") and c.log_odds.empty == (kind == "distinctive_words")
    assert np.isfinite(c.log_odds[["log_odds", "z"]].to_numpy()).all()
