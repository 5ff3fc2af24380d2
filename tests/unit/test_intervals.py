"""Each bootstrap interval is drawn from a generator keyed by the seed and its own cell.

So a cell's interval does not change when other cells (actors, topics) are added, or when the rows
come in another order (a Dask partition, a sub-corpus).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import config
from analysis.params import load_params
from analysis.randomness import key_int, keyed_rng
from analysis.sentiment import analyse_sentiment, bootstrap_ci, mean_ci

_SENTENCES = [
    ("d1", "NATO condemned the brutal attack on the city.", 0),
    ("d1", "Russia denied any role in the deadly strike.", 0),
    ("d2", "NATO praised the brave defenders and welcomed the aid.", 0),
    ("d2", "Russia threatened new strikes on the capital.", 0),
    ("d3", "NATO leaders met in a calm and friendly mood.", 1),
    ("d3", "Russia lost many tanks in a terrible defeat.", 1),
    ("d5", "NATO warned of a long and costly war.", 1),
    ("d5", "Russia hailed a great victory in the east.", 1),
]
_MORE = [("d4", "Ukraine thanked its generous allies for the help.", 2),
         ("d4", "Ukraine mourned the victims of the horrible massacre.", 2)]
_ACTORS = {"NATO": "NATO", "Russia": "RUS", "Ukraine": "UKR"}


def _tables(sentences):
    """documents, segments, mentions and a topic per document, from (doc_id, sentence, topic) rows."""
    docs, segs, ments, topics = {}, [], [], {}
    for doc_id, text, topic in sentences:
        start = len(docs[doc_id]) + 1 if doc_id in docs else 0
        docs[doc_id] = f"{docs[doc_id]} {text}" if doc_id in docs else text
        sid = f"{doc_id}:s{sum(s[1] == doc_id for s in segs):04d}"
        segs.append((sid, doc_id, "sentence", start, start + len(text), text, f"{doc_id}:p000"))
        topics[doc_id] = topic
        for surface, actor in _ACTORS.items():
            for at in (i for i in range(len(text)) if text.startswith(surface, i)):
                ments.append((doc_id, sid, actor, surface, start + at, start + at + len(surface), True))
    documents = pd.DataFrame({"doc_id": list(docs), "text": list(docs.values())})
    segments = pd.DataFrame(segs, columns=["segment_id", "doc_id", "unit", "start", "end", "text", "paragraph_id"])
    mentions = pd.DataFrame(ments, columns=["doc_id", "segment_id", "actor_id", "surface", "start", "end", "counted"])
    segment_topics = pd.DataFrame({"segment_id": list(topics), "doc_id": list(topics), "topic": list(topics.values())})
    return documents, segments, mentions, segment_topics


def _params():
    return load_params(config.DEFAULT_PARAMS_FILE).with_overrides(
        {"sentiment": {"targeted_method": "clause", "bootstrap_resamples": 300}})


def test_an_interval_does_not_depend_on_the_order_of_its_values():
    v = np.array([0.4, -0.3, 0.1, 0.9, -0.7, 0.2])
    a = mean_ci(v, 500, keyed_rng(42, "t", "A"))
    assert a == mean_ci(v[::-1], 500, keyed_rng(42, "t", "A"))
    assert a[1] < a[0] < a[2]
    assert bootstrap_ci(v, 500, keyed_rng(42, "t", "B")) != a[1:]       # another key, other draws
    assert bootstrap_ci(v, 500, keyed_rng(43, "t", "A")) != a[1:]       # another seed, other draws


def test_keys_are_stable_numbers():
    # the sha256 of the key's parts as JSON strings: the same in any process, on any machine (hash() is
    # salted per process); a change here would move every interval of every run
    assert key_int("topic_sentiment", 1) == 0x7568F53F70AC3DBF4B7905EA411283DD96CCF04EDBB2F244515320E606E2444D
    assert key_int("topic_sentiment", 1) == key_int("topic_sentiment", "1") != key_int("topic_sentiment", 2)
    assert key_int("a", "bc") != key_int("ab", "c")


def test_actor_and_topic_intervals_do_not_change_when_other_keys_are_added_or_reordered():
    P = _params()
    base = analyse_sentiment(P, *_tables(_SENTENCES)[:3], _tables(_SENTENCES)[3])
    # another actor (UKR) and topic (2), and every table's rows in another order
    documents, segments, mentions, segment_topics = _tables(_MORE + _SENTENCES[::-1])
    more = analyse_sentiment(P, documents.sample(frac=1, random_state=1), segments.sample(frac=1, random_state=2),
                             mentions.sample(frac=1, random_state=3), segment_topics.sample(frac=1, random_state=4))
    assert set(more.actors["actor_id"]) == {"NATO", "RUS", "UKR"} and set(more.topics["topic"]) == {0, 1, 2}
    for table, key, kept in (("actors", "actor_id", {"NATO", "RUS"}), ("topics", "topic", {0, 1})):
        a, b = getattr(base, table), getattr(more, table)
        b = b[b[key].isin(kept)].reset_index(drop=True)
        assert len(a) == len(b) >= 2 and (a["ci_low"] < a["ci_high"]).any(), table
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=table)
