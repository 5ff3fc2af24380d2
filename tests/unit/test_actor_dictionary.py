"""Actor dictionary validation: clear errors for conflicting, unknown or malformed entries."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.actors import load_dictionary
from analysis.errors import DictionaryError


def _write(tmp_path, body: str):
    f = tmp_path / "mine.yaml"
    f.write_text(body, encoding="utf-8")
    return f


def test_default_dictionary_is_valid_and_covers_the_issue_cases():
    d = load_dictionary()
    by_text = {(f.text, f.kind): f.actor_id for f in d.forms}
    assert by_text[("Kremlin", "metonym")] == "RUS" and by_text[("Kyiv", "metonym")] == "UKR"
    assert by_text[("Downing Street", "metonym")] == "GBR" and by_text[("Beijing", "metonym")] == "CHN"
    assert by_text[("Russian", "demonym")] == "RUS"
    assert by_text[("Ursula von der Leyen", "alias")] == "URSULA_VON_DER_LEYEN"
    assert set(d.actors["type"]) <= {"state", "international_organisation", "person", "government_body",
                                     "armed_forces", "media", "other"}


def test_user_dictionary_extends(tmp_path):
    f = _write(tmp_path, "actors:\n  - {id: OAG, name: Open Access Government, type: media, aliases: [Open Access Government]}\n")
    d = load_dictionary(f, "extend")
    assert "OAG" in set(d.actors["actor_id"]) and "RUS" in set(d.actors["actor_id"])
    only = load_dictionary(f, "replace")
    assert list(only.actors["actor_id"]) == ["OAG"]


def test_alias_claimed_by_two_actors(tmp_path):
    f = _write(tmp_path, "actors:\n  - {id: MOSCOW_CITY, name: Moscow city, type: other, aliases: [Moscow]}\n")
    with pytest.raises(DictionaryError, match="alias 'Moscow' is already claimed by actor RUS"):
        load_dictionary(f)


def test_unknown_type_and_malformed_pattern(tmp_path):
    f = _write(tmp_path, "actors:\n  - {id: X, name: X, type: planet, aliases: [X]}\n")
    with pytest.raises(DictionaryError, match="actor X: unknown type 'planet'; allowed: state"):
        load_dictionary(f)
    f = _write(tmp_path, "actors:\n  - {id: X, name: X, type: other, aliases: [{case: exact}]}\n")
    with pytest.raises(DictionaryError, match="malformed aliases entry"):
        load_dictionary(f)
    f = _write(tmp_path, "actors:\n  - {id: X, name: X, type: other, aliases: [{text: X, case: upper}]}\n")
    with pytest.raises(DictionaryError, match="case 'upper'; allowed: exact, ignore"):
        load_dictionary(f)
    f = _write(tmp_path, "actors:\n  - {id: lower, name: X, type: other}\n")
    with pytest.raises(DictionaryError, match="UPPER_SNAKE_CASE"):
        load_dictionary(f)


def test_malformed_yaml_is_a_clear_error_for_every_yaml_input(tmp_path):
    from analysis.sentiment import load_adjustments

    f = _write(tmp_path, "actors: [unclosed\n")
    with pytest.raises(DictionaryError, match="actor dictionary .*mine.yaml is not valid YAML"):
        load_dictionary(f)
    with pytest.raises(DictionaryError, match="lexicon adjustment file .*mine.yaml is not valid YAML"):
        load_adjustments(f)
    with pytest.raises(DictionaryError, match="lexicon adjustment file not found: .*nope.yaml"):
        load_adjustments(tmp_path / "nope.yaml")


def test_candidates_keep_one_surface_s_labels_together():
    from analysis.actors import _candidates

    rows = ([("Mariupol", "ORG")] * 9 + [("Mariupol", "GPE")] * 2 + [("Zelenska", "PERSON")] * 10
            + [("Azov", "ORG")] * 3)
    ner = pd.DataFrame([{"doc_id": f"d{i}", "start": 0, "end": 1, "surface": s, "ner_label": lab,
                         "segment_id": f"d{i}:s0000"} for i, (s, lab) in enumerate(rows)])
    segments = pd.DataFrame({"segment_id": ner["segment_id"], "text": "x"})
    mentions = pd.DataFrame({"surface": ["Russia"]})
    out = _candidates(ner, mentions, segments)
    assert out[["surface", "ner_label", "mentions"]].values.tolist() == [
        ["Mariupol", "ORG", 9], ["Mariupol", "GPE", 2], ["Zelenska", "PERSON", 10], ["Azov", "ORG", 3]]
    assert out["surface_mentions"].tolist() == [11, 11, 10, 3]
    assert out["surface_labels"].tolist()[:2] == ["ORG 9, GPE 2"] * 2
