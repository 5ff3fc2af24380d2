"""Topic-model pieces that need no model: the term pattern, the embedding backend."""

from __future__ import annotations

import re

import numpy as np

from analysis.topics import _TERM_PATTERN, _cached_backend


def test_terms_keep_inner_hyphens_and_leave_no_stubs_of_model_names():
    text = "A full-scale war: S-300 and F-16 jets, Pantsir-S1 guns, COVID-19, Euro-Atlantic pre- and post-war."
    assert re.findall(_TERM_PATTERN, text) == ["full-scale", "war", "and", "jets", "Pantsir", "guns", "COVID",
                                               "Euro-Atlantic", "pre", "and", "post-war"]


def test_backend_gives_fitted_units_their_own_vectors_and_encodes_only_the_rest():
    """Representative documents get the vectors the clustering used; words go to the encoder once."""
    calls = []

    class Enc:
        def encode(self, texts, persist=True):
            calls.append((list(texts), persist))
            return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    known = {"Unit one text.": np.array([9.0, 9.0], np.float32), "Unit two.": np.array([7.0, 7.0], np.float32)}
    got = _cached_backend(Enc(), known).embed(["Unit two.", "nato", "Unit one text.", "nato", "kyiv"])
    assert got.tolist() == [[7.0, 7.0], [4.0, 1.0], [9.0, 9.0], [4.0, 1.0], [4.0, 1.0]]
    assert calls == [(["nato", "kyiv"], False)]
    assert _cached_backend(Enc(), known).embed(["Unit two."]).tolist() == [[7.0, 7.0]] and len(calls) == 1


def test_npmi_of_several_term_sets_read_together_is_each_sets_own():
    from analysis.topics import npmi_coherence, npmi_coherences

    texts = ["nato summit in madrid", "russia shelled kharkiv", "nato and russia talks", "grain deal ports",
             "kharkiv shelled again", "madrid summit ends", "grain ports reopen"]
    a = [["nato", "summit", "madrid"], ["russia", "shelled", "kharkiv"]]
    b = [["grain deal", "ports"], ["nato", "russia", "talks"], ["kharkiv"]]
    got = npmi_coherences([a, b, []], texts)
    assert got[:2] == [npmi_coherence(a, texts), npmi_coherence(b, texts)]
    assert got[0] != got[1] and all(-1 <= v <= 1 for v in got[:2])
    assert np.isnan(got[2])                                     # no topics, no score


def test_mmr_asks_for_all_its_vectors_in_one_call_and_picks_the_same_terms():
    """The batched MMR embeds every word and joined topic string once, up front, then picks as BERTopic's."""
    import hashlib

    from bertopic import BERTopic
    from bertopic.representation import MaximalMarginalRelevance

    from analysis.topics import _batched_mmr

    class MemoEnc:
        """Like the Embedder with persist=False: new texts encoded, earlier ones kept in memory."""

        def __init__(self):
            self.memo, self.calls = {}, []

        def encode(self, texts, persist=True):
            new = [t for t in dict.fromkeys(texts) if t not in self.memo]
            if new:
                self.calls.append(new)
            for t in new:
                seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little")
                self.memo[t] = np.random.default_rng(seed).normal(size=8).astype(np.float32)
            return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, 8), np.float32)

    words = ["kyiv", "shelling", "missile", "strike", "city", "grain", "port", "odesa", "export", "ship"]
    topics = {0: [(w, 1.0 - i / 10) for i, w in enumerate(words[:5])],
              1: [(w, 1.0 - i / 10) for i, w in enumerate(words[5:])],
              2: [(w, 1.0 - i / 10) for i, w in enumerate(["strike", "port", "kyiv", "grain"])]}
    results = []
    for mmr in (MaximalMarginalRelevance(diversity=0.3, top_n_words=3), _batched_mmr(diversity=0.3, top_n_words=3)):
        enc = MemoEnc()
        results.append((mmr.extract_topics(BERTopic(embedding_model=_cached_backend(enc)), None, None, topics), enc))
    (stock, stock_enc), (batched, batched_enc) = results
    assert batched == stock
    # topic by topic: its words, then their joined string (topic 2's words were all seen before)
    assert len(stock_enc.calls) == 5
    assert len(batched_enc.calls) == 1                  # all of it at once
    assert set(batched_enc.calls[0]) == set(words) | {" ".join(w for w, _ in tw) for tw in topics.values()}
