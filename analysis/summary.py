"""The joined view: which actors appear in which topics, how often, and in what tone.

``actor_topic_sentiment`` joins ``actor_mentions`` (counted mentions), the topic of each mention's
sentence, and that sentence's domain-adjusted tone. Findings are generated from the tables, so they are
always true to them. The same stage compares outlets and periods (:mod:`analysis.compare`); its tables
and findings join these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import schema
from analysis.compare import Comparison, compare_run
from analysis.randomness import keyed_rng
from analysis.sentiment import mean_ci
from analysis.topics import sentence_topics

__all__ = ["actor_topic_sentiment", "findings", "SummaryTables", "summarise"]


def actor_topic_sentiment(mentions: pd.DataFrame, segments: pd.DataFrame, segment_topics: pd.DataFrame,
                          sentence_sentiment: pd.DataFrame, method: str, resamples: int, seed: int,
                          targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mentions, documents and tone (95% bootstrap intervals) per actor and topic.

    Each interval is drawn from a generator seeded by ``seed`` and its cell (actor, topic, which tone):
    a cell's interval does not depend on the other cells.

    ``mean_tone`` is the tone of the sentences naming the actor; ``target_tone`` the tone toward the actor
    in them (``actor_mention_sentiment``, one score per sentence), when that table is given.
    """
    sents = segments[segments["unit"] == "sentence"].reset_index(drop=True)
    topic_of = pd.Series(sentence_topics(segment_topics, sents).to_numpy(), index=sents["segment_id"])
    tone = sentence_sentiment[sentence_sentiment["method"] == method].set_index("segment_id")["adjusted_compound"]
    m = mentions[mentions["counted"]].copy()
    m["topic"] = m["segment_id"].map(topic_of)
    m = m.dropna(subset=["topic"])
    m["topic"] = m["topic"].astype("int64")
    has_t = targets is not None and len(targets) > 0
    # plain dicts, not a pandas reindex per cell: a reindex per cell is slow with many cells
    tone_of = {k: v for k, v in zip(tone.index, tone.to_numpy(np.float64)) if v == v}      # NaN dropped
    if has_t:
        t = targets.drop_duplicates(["actor_id", "segment_id"])
        t_of = {k: v for k, v in zip(zip(t["actor_id"], t["segment_id"]), t["score"].to_numpy(np.float64)) if v == v}
        t_method = str(targets["method"].iloc[0])
    rows = []
    for (actor, topic), g in m.groupby(["actor_id", "topic"], sort=True):
        segs = sorted(g["segment_id"].unique())
        vals = np.array([tone_of[x] for x in segs if x in tone_of], dtype=np.float64)
        # each interval from a generator of its own: the same whatever other cells the table has
        rng = keyed_rng(seed, "actor_topic_sentiment", actor, int(topic), "mean_tone")
        mean, lo, hi = (round(x, 6) for x in mean_ci(vals, resamples, rng))
        tv = (np.array([t_of[(actor, x)] for x in segs if (actor, x) in t_of], dtype=np.float64) if has_t
              else np.array([]))
        rng = keyed_rng(seed, "actor_topic_sentiment", actor, int(topic), "target_tone")
        tmean, tlo, thi = (round(x, 6) for x in mean_ci(tv, resamples, rng))
        rows.append((actor, int(topic), len(g), g["doc_id"].nunique(), mean, lo, hi, segs[:5], len(vals),
                     tmean, tlo, thi, t_method if has_t else ""))
    return schema.frame("actor_topic_sentiment", rows)


# Prior weight, in sentences, of the corpus mean when ranking actor-topic tones (shrunk_tone).
SHRINK_SENTENCES = 10


def shrunk_tone(mean: pd.Series, n: pd.Series, prior_sentences: int = SHRINK_SENTENCES) -> pd.Series:
    """Each mean pulled toward the sentence-weighted mean of all: ``(n * mean + k * overall) / (n + k)``.

    As if ``prior_sentences`` (k) sentences of the overall mean were added to each pair.

    Used only to rank pairs for the findings: by the raw mean, the extremes were pairs resting on three
    sentences (RUWA's first 10,000 rows: UN in a prisoner-exchange topic, -0.92 from 3 sentences; a
    bootstrap interval from so few says little either: three copies of one sentence gave [+0.27, +0.27]).

    >>> shrunk_tone(pd.Series([-0.9, -0.3]), pd.Series([3, 300])).round(3).tolist()
    [-0.443, -0.3]
    """
    n = n.astype(float)
    overall = float((mean * n).sum() / n.sum())
    return (n * mean + prior_sentences * overall) / (n + prior_sentences)


def _extremes(df: pd.DataFrame, score: str) -> tuple[pd.Series, pd.Series]:
    """The rows of lowest and highest ``score`` (ties: actor_id, then topic)."""
    lo = df.sort_values([score, "actor_id", "topic"], kind="stable").iloc[0]
    hi = df.sort_values([score, "actor_id", "topic"], ascending=[False, True, True], kind="stable").iloc[0]
    return lo, hi


def findings(ats: pd.DataFrame, actors: pd.DataFrame, topics: pd.DataFrame, min_sentences: int,
             per_source: pd.DataFrame | None = None) -> list[str]:
    """Plain-language findings, each computed from the tables passed in."""
    out = []
    top = actors.head(5)
    if len(top):
        out.append("Most mentioned actors: " + ", ".join(f"{n} ({m} mentions in {d} documents)" for n, m, d in
                                                          zip(top["name"], top["mentions"], top["documents"])) + ".")
    labels = dict(zip(topics["topic"], topics["label"]))
    names = dict(zip(actors["actor_id"], actors["name"]))     # findings name actors as people read them

    def who(row) -> str:
        return names.get(row["actor_id"], row["actor_id"])

    enough = ats[ats["n_sentences"] >= min_sentences]
    if len(enough):
        score = shrunk_tone(enough["mean_tone"], enough["n_sentences"])
        lo, hi = _extremes(enough.assign(_score=score), "_score")
        out.append(f"Most negative actor-topic pair (at least {min_sentences} sentences, ranked by tone shrunk toward "
                   f"the corpus mean): {who(lo)} in topic {lo['topic']} ({labels.get(lo['topic'], '')}), "
                   f"mean tone {lo['mean_tone']:+.2f} [{lo['ci_low']:+.2f}, {lo['ci_high']:+.2f}], {lo['n_sentences']} sentences.")
        out.append(f"Most positive: {who(hi)} in topic {hi['topic']} ({labels.get(hi['topic'], '')}), mean tone "
                   f"{hi['mean_tone']:+.2f} [{hi['ci_low']:+.2f}, {hi['ci_high']:+.2f}], {hi['n_sentences']} sentences.")
    else:
        out.append(f"No actor-topic pair has {min_sentences} or more sentences: tone comparisons would be noise.")
    tt = enough[enough["target_tone"].notna()]
    if len(tt):
        lo, hi = _extremes(tt.assign(_score=shrunk_tone(tt["target_tone"], tt["n_sentences"])), "_score")
        out.append(f"Tone toward the actor itself ({lo['target_method']}, ranked the same way): most negative "
                   f"{who(lo)} in topic {lo['topic']} ({labels.get(lo['topic'], '')}), {lo['target_tone']:+.2f} "
                   f"[{lo['target_ci_low']:+.2f}, {lo['target_ci_high']:+.2f}], {lo['n_sentences']} sentences; most "
                   f"positive {who(hi)} in topic {hi['topic']} ({labels.get(hi['topic'], '')}), "
                   f"{hi['target_tone']:+.2f} [{hi['target_ci_low']:+.2f}, {hi['target_ci_high']:+.2f}], "
                   f"{hi['n_sentences']} sentences.")
    if per_source is not None and len(per_source):
        dom = per_source.sort_values(["source", "share", "topic"], ascending=[True, False, True], kind="stable")
        dom = dom.groupby("source").head(1)
        out.append("Dominant topic per outlet: " + "; ".join(
            f"{s}: topic {t} ({labels.get(t, '')}, {sh:.0%})" for s, t, sh in zip(dom["source"], dom["topic"], dom["share"])) + ".")
    return out


@dataclass
class SummaryTables:
    """What the summary stage writes: the actor x topic table, outlets and periods compared, the findings."""

    actor_topic_sentiment: pd.DataFrame
    findings: list[str]
    #: outlets and periods (:func:`analysis.compare.compare_run`); its findings are in ``findings`` too
    comparison: Comparison | None = None

    def write(self, run) -> None:
        run.write_table(self.actor_topic_sentiment, "actor_topic_sentiment")
        if self.comparison is not None:
            self.comparison.write(run)
        run.write_table(pd.DataFrame({"finding": self.findings}), "findings")

    def evidence(self, segments: pd.DataFrame, actor_id: str | None = None, topic: int | None = None) -> str:
        """The example sentences behind one actor x topic cell, as text.

        Args:
            segments: the ``segments`` table.
            actor_id: the actor of the cell; ``None``: any.
            topic: the topic of the cell; ``None``: any. With both ``None``, the cell with the most mentions.
        """
        ats = self.actor_topic_sentiment
        if actor_id is not None:
            ats = ats[ats["actor_id"] == actor_id]
        if topic is not None:
            ats = ats[ats["topic"] == topic]
        if ats.empty:
            return ("no actor mentions in this corpus" if self.actor_topic_sentiment.empty
                    else f"no mentions of actor {actor_id!r} in topic {topic!r}")
        cell = ats.sort_values(["mentions", "actor_id", "topic"], ascending=[False, True, True], kind="stable").iloc[0]
        text = segments.set_index("segment_id")["text"]
        return "\n".join([f"{cell['actor_id']} in topic {cell['topic']}",
                           *(f"- {sid} {text.get(sid, '')}" for sid in cell["example_segment_ids"])])


def summarise(params, run) -> SummaryTables:
    """Run the summary stage from the tables of the earlier stages."""
    sp = params.sentiment
    ats = actor_topic_sentiment(run.read_table("actor_mentions"), run.read_table("segments"),
                                run.read_table("segment_topics"), run.read_table("sentence_sentiment"),
                                sp.method, sp.bootstrap_resamples, params.seed,
                                run.read_table("actor_mention_sentiment") if run.has_table("actor_mention_sentiment") else None)
    per_source = run.read_table("topics_per_source") if run.has_table("topics_per_source") else None
    f = findings(ats, run.read_table("actors"), run.read_table("topics"), sp.min_sentences, per_source)
    comparison = compare_run(params, run)
    return SummaryTables(ats, f + comparison.findings, comparison)
