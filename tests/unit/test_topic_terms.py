"""The word pattern behind topic terms and npmi."""

from __future__ import annotations

import re

from analysis.topics import _TERM_PATTERN


def test_terms_keep_inner_hyphens_and_leave_no_stubs_of_model_names():
    text = "A full-scale war: S-300 and F-16 jets, Pantsir-S1 guns, COVID-19, Euro-Atlantic pre- and post-war."
    assert re.findall(_TERM_PATTERN, text) == ["full-scale", "war", "and", "jets", "Pantsir", "guns", "COVID",
                                               "Euro-Atlantic", "pre", "and", "post-war"]
