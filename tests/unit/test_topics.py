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
