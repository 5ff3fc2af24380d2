"""AFINN through a trie pattern finds exactly what the library's own pattern finds."""

from __future__ import annotations

import random

from afinn import Afinn

from analysis.sentiment import AfinnScorer, _trie_regex


def test_trie_regex_prefers_the_longest_word_that_ends_on_a_boundary():
    import re

    pat = re.compile(r"(\b" + _trie_regex(["bad", "badly", "no fun", "no"]) + r"\b)")
    assert pat.findall("badly done, bad, badlyx, no fun, no funny, nothing") == ["badly", "bad", "no fun", "no"]


def test_afinn_trie_finds_what_the_library_pattern_finds():
    """Every AFINN entry (phrases, hyphens, apostrophes) inside, beside and glued to other text."""
    library, ours = Afinn(language="en"), AfinnScorer().afinn_
    words = sorted(library._dict)
    rng = random.Random(7)
    texts = []
    for w in words:
        other = rng.choice(words)
        texts += [f"The {w} was {other}.", f"un{w} {w}s {w}-{other}", f"{w.upper()}'s  {other} {w}"]
    assert library._pattern.pattern != ours._pattern.pattern           # a different pattern ...
    found = [library.find_all(t) for t in texts]
    assert [ours.find_all(t) for t in texts] == found                   # ... the same words
    assert sum(map(len, found)) > 3 * len(words)



def test_a_clause_without_a_scored_word_takes_the_sentences_score():
    from analysis.sentiment import score_targets

    s = "On Tuesday, the army killed civilians in a brutal attack."
    out = score_targets([s, s], [(3, 10), (16, 20)], method="clause")
    assert out.loc[0, "score"] == out.loc[1, "score"] < 0      # "On Tuesday" has no scored word
    assert out.loc[0, "polarity"] == "negative"
