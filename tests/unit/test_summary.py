"""The actor x topic tone table against a plain pandas reference, on data with gaps and NaN tones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schema
from analysis.randomness import keyed_rng
from analysis.sentiment import mean_ci
from analysis.summary import actor_topic_sentiment


def _data(seed: int = 3):
    rng = np.random.default_rng(seed)
    n_sent = 60
    sids = [f"d{i // 3}-s{i}" for i in range(n_sent)]
    segments = pd.DataFrame({"segment_id": sids, "doc_id": [f"d{i // 3}" for i in range(n_sent)],
                             "paragraph_id": [f"d{i // 3}-p0" for i in range(n_sent)], "unit": "sentence",
                             "text": "x"})
    segment_topics = pd.DataFrame({"segment_id": sids, "topic": rng.integers(-1, 3, n_sent)})
    tone = rng.uniform(-1, 1, n_sent)
    tone[rng.random(n_sent) < 0.15] = np.nan                       # NaN tones are left out
    sentiment = pd.DataFrame({"segment_id": sids, "method": "vader", "adjusted_compound": tone})
    sentiment = pd.concat([sentiment.iloc[5:],                      # five sentences have no tone row
                           sentiment.assign(method="afinn", adjusted_compound=0.5)])   # another method's rows
    k = 150
    pick = rng.integers(0, n_sent, k)
    mentions = pd.DataFrame({"actor_id": rng.choice(["RUS", "UKR", "NATO"], k),
                             "segment_id": [sids[i] for i in pick], "doc_id": [f"d{i // 3}" for i in pick],
                             "counted": rng.random(k) < 0.9})
    t = mentions.sample(frac=0.7, random_state=1)[["actor_id", "segment_id"]]   # some mentions unscored
    t = pd.concat([t, t.head(10)])                                 # repeated (actor, sentence) pairs
    score = rng.uniform(-1, 1, len(t))
    score[rng.random(len(t)) < 0.1] = np.nan
    targets = t.assign(score=score, method="targeted_model").reset_index(drop=True)
    return mentions, segments, segment_topics, sentiment, targets


def _reference(mentions, segments, segment_topics, sentiment, method, resamples, seed, targets):
    """The table the straightforward pandas way: reindex per cell."""
    topic_of = segment_topics.set_index("segment_id")["topic"]
    tone = sentiment[sentiment["method"] == method].set_index("segment_id")["adjusted_compound"]
    m = mentions[mentions["counted"]].copy()
    m["topic"] = m["segment_id"].map(topic_of)
    m = m.dropna(subset=["topic"])
    t_score = targets.drop_duplicates(["actor_id", "segment_id"]).set_index(["actor_id", "segment_id"])["score"]
    rows = []
    for (actor, topic), g in m.groupby(["actor_id", "topic"], sort=True):
        segs = sorted(g["segment_id"].unique())
        vals = tone.reindex(segs).dropna().to_numpy()
        rng = keyed_rng(seed, "actor_topic_sentiment", actor, int(topic), "mean_tone")
        mean, lo, hi = (round(x, 6) for x in mean_ci(vals, resamples, rng))
        tv = t_score.reindex([(actor, x) for x in segs]).dropna().to_numpy()
        rng = keyed_rng(seed, "actor_topic_sentiment", actor, int(topic), "target_tone")
        tmean, tlo, thi = (round(x, 6) for x in mean_ci(tv, resamples, rng))
        rows.append((actor, int(topic), len(g), g["doc_id"].nunique(), mean, lo, hi, segs[:5], len(vals),
                     tmean, tlo, thi, "targeted_model"))
    return pd.DataFrame(rows, columns=schema.columns("actor_topic_sentiment"))


def test_actor_topic_tone_matches_the_pandas_reference():
    mentions, segments, segment_topics, sentiment, targets = _data()
    got = actor_topic_sentiment(mentions, segments, segment_topics, sentiment, "vader", 200, 7, targets)
    want = _reference(mentions, segments, segment_topics, sentiment, "vader", 200, 7, targets)
    assert len(got) >= 8 and got["n_sentences"].lt(got["mentions"]).any()     # gaps and NaNs were hit
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_a_cells_interval_does_not_depend_on_the_other_cells():
    mentions, segments, segment_topics, sentiment, targets = _data()
    full = actor_topic_sentiment(mentions, segments, segment_topics, sentiment, "vader", 200, 7, targets)
    # NATO's rows left out, mentions and tones shuffled: the RUS and UKR cells are drawn exactly as before
    # (targets keep their order: a sentence's first score toward an actor is the one taken)
    keep = mentions["actor_id"] != "NATO"
    part = actor_topic_sentiment(mentions[keep].sample(frac=1, random_state=5), segments, segment_topics,
                                 sentiment.sample(frac=1, random_state=6), "vader", 200, 7,
                                 targets[targets["actor_id"] != "NATO"])
    want = full[full["actor_id"] != "NATO"].reset_index(drop=True)
    assert len(part) >= 4 and want["ci_low"].lt(want["ci_high"]).any()
    pd.testing.assert_frame_equal(part, want, check_exact=True)


def test_findings_rank_tone_extremes_by_shrunk_mean_not_by_few_sentences():
    from analysis.summary import findings

    def row(actor, topic, mean, n, target=None):
        return {"actor_id": actor, "topic": topic, "mentions": n, "documents": n, "mean_tone": mean,
                "ci_low": mean - 0.05, "ci_high": mean + 0.05, "example_segment_ids": [], "n_sentences": n,
                "target_tone": target, "target_ci_low": None if target is None else target - 0.1,
                "target_ci_high": None if target is None else target + 0.1, "target_method": "targeted_model"}

    ats = pd.DataFrame([row("UN", 1, -0.92, 3, -0.9), row("UKR", 2, -0.68, 313, -0.5), row("RUS", 3, -0.1, 400, -0.7),
                        row("G7", 4, 0.60, 3, 0.9), row("EU", 5, 0.24, 51, 0.3), row("NATO", 6, 0.0, 2, 0.99)])
    actors = pd.DataFrame({"actor_id": ["RUS", "UKR"], "name": ["Russia", "Ukraine"], "mentions": [400, 313],
                           "documents": [300, 200]})
    topics = pd.DataFrame({"topic": range(1, 7), "label": [f"t{i}" for i in range(1, 7)]})
    out = findings(ats, actors, topics, min_sentences=3)
    # by the raw mean UN (-0.92, 3 sentences) and G7 (+0.60, 3 sentences) would be the extremes
    assert out[1].startswith("Most negative actor-topic pair") and ": Ukraine in topic 2 (t2)" in out[1]
    assert out[2].startswith("Most positive: EU in topic 5")
    # toward the actor itself: RUS (-0.7 over 400) before UN (-0.9 over 3); NATO (2 sentences) never counts
    # findings name actors by display name; an actor missing from the actors table keeps its id
    assert "most negative Russia in topic 3" in out[3] and "most positive EU in topic 5" in out[3]
    assert "RUS" not in out[3] and "UKR" not in out[1]
    # with equal numbers of sentences everywhere the ranking is the raw mean's again
    assert "UN in topic 1" in findings(ats.assign(n_sentences=300), actors, topics, 3)[1]
