"""actors suggest on small inline candidate tables: grouping, variants, surnames, ambiguity, the YAML (no models)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from analysis.actors import load_dictionary
from analysis.errors import ParameterError
from analysis.suggest import SurnameRule, skeleton, suggest_actors


def _cands(*rows):
    """(surface, label, mentions) rows as an actor_candidates table."""
    return pd.DataFrame([{"surface": s, "ner_label": lab, "mentions": n, "documents": n} for s, lab, n in rows],
                        columns=["surface", "ner_label", "mentions", "documents"])


def _docs(*texts):
    return pd.DataFrame({"doc_id": [f"d{i:02d}" for i in range(len(texts))], "text": list(texts)})


def _by_name(s):
    return {p.name: p for p in s.proposals}


def test_transliterations_share_a_skeleton():
    assert skeleton("Kyiv") == skeleton("Kiev")
    assert skeleton("Zaporizhzhia") == skeleton("Zaporozhye")
    assert skeleton("Zelenskyy") == skeleton("Zelensky") == skeleton("Zelenskiy")
    assert skeleton("Peskov") == skeleton("Pskov")   # why grouping also asks for the same kind of name
    assert skeleton("Biden") != skeleton("Boden")[:-1]


def test_full_name_surname_and_possessive_are_one_person_with_a_context_form():
    docs = _docs("Viktor Yanukovych fled. Yanukovych's aides stayed.", "Viktor Yanukovych spoke; Yanukovych left.",
                 "Viktor Yanukovych and Yanukovych again.")
    s = suggest_actors(_cands(("Viktor Yanukovych", "PERSON", 3), ("Yanukovych", "PERSON", 3)), docs)
    (p,) = s.proposals
    assert (p.actor_id, p.name, p.type) == ("VIKTOR_YANUKOVYCH", "Viktor Yanukovych", "person")
    assert p.aliases == ["Viktor Yanukovych"] and p.context == ["Yanukovych"] and p.exact == []
    assert p.mentions == 6 and p.documents == 3
    assert len(p.examples) == 2 and "[Viktor Yanukovych]" in p.examples[0]


def test_surname_used_alone_becomes_an_alias_only_when_the_evidence_agrees():
    docs = _docs("Viktor Yanukovych fled to Russia.", *[f"Yanukovych says item {i}." for i in range(6)])
    cands = _cands(("Viktor Yanukovych", "PERSON", 1), ("Yanukovych", "PERSON", 6))
    (auto,) = suggest_actors(cands, docs).proposals
    assert auto.exact == ["Yanukovych"] and auto.context == []
    assert any("counted everywhere" in n for n in auto.notes)
    (ctx,) = suggest_actors(cands, docs, surnames=SurnameRule("context")).proposals
    assert ctx.context == ["Yanukovych"] and ctx.exact == []
    with pytest.raises(ParameterError, match="surnames"):
        suggest_actors(cands, docs, surnames=SurnameRule("always"))


def test_a_surname_that_is_also_a_common_word_stays_a_context_form():
    docs = _docs("Ned Price spoke.", "Price said more.", "Price says no.", "the price of gas rose", "oil price up")
    (p,) = suggest_actors(_cands(("Ned Price", "PERSON", 1), ("Price", "PERSON", 2)), docs).proposals
    assert p.context == ["Price"] and "lower case" in " ".join(p.notes)


def test_transliterated_spellings_group_and_the_small_models_noise_on_surnames_is_overruled():
    docs = _docs("Volodymyr Zelenskyy spoke.", "Zelenskiy says yes.", "Zelenskiy says no.", "Zelensky says more.",
                 "President Zelenskyy thanks allies.")
    cands = _cands(("Volodymyr Zelenskyy", "PERSON", 1), ("Zelenskiy", "ORG", 2), ("Zelensky", "PERSON", 1),
                   ("Zelenskyy", "GPE", 1))
    (p,) = suggest_actors(cands, docs).proposals
    assert p.name == "Volodymyr Zelenskyy" and p.type == "person"
    assert set(p.exact) == {"Zelenskiy", "Zelensky", "Zelenskyy"}
    assert p.mentions == 5


def test_organisation_and_its_acronym_in_parentheses_are_one_actor():
    docs = _docs("The Organization for Security and Co-operation in Europe (OSCE) sent monitors.",
                 "OSCE monitors left.", "The OSCE said so.")
    (p,) = suggest_actors(_cands(("OSCE", "ORG", 2)), docs).proposals
    assert p.actor_id == "OSCE" and p.name == "Organization for Security and Co-operation in Europe"
    assert p.type == "international_organisation"
    assert p.aliases == ["Organization for Security and Co-operation in Europe"] and p.exact == ["OSCE"]


def test_acronym_and_name_with_the_same_initials_group_without_parentheses():
    docs = _docs("The European Union met.", "EU leaders met.", "EU says yes.", "European Union again.")
    (p,) = suggest_actors(_cands(("European Union", "ORG", 2), ("EU", "ORG", 2)), docs).proposals
    assert p.actor_id == "EU" and p.name == "European Union"


def test_places_inconsistent_labels_modifiers_and_generic_offices_go_under_ambiguous():
    docs = _docs(*["Shelling in Kramatorsk.", "Kramatorsk station hit."],
                 *["Zaporizhzhia talks", "Zaporizhzhia shelled", "Zaporizhzhia nuclear"],
                 *["Euro-Atlantic security", "Euro-Atlantic unity"],
                 *["The Defence Ministry said.", "Defence Ministry officials"],
                 *["Sri Lanka defaults.", "Sri Lanka talks."])
    s = suggest_actors(_cands(("Kramatorsk", "GPE", 2), ("Zaporizhzhia", "PERSON", 2), ("Zaporizhzhia", "GPE", 1),
                              ("Euro-Atlantic", "ORG", 2), ("Defence Ministry", "ORG", 2), ("Sri Lanka", "GPE", 2)),
                       docs)
    reasons = {a.text: a.reason for a in s.ambiguous}
    assert "place" in reasons["Kramatorsk"]
    assert "inconsistently" in reasons["Zaporizhzhia"] and "PERSON 2, GPE 1" in reasons["Zaporizhzhia"]
    assert "adjective" in reasons["Euro-Atlantic"]
    assert "without its country" in reasons["Defence Ministry"]
    # a state is no place: proposed, with its ISO code as id
    assert [(p.actor_id, p.type) for p in s.proposals] == [("LKA", "state")]


def test_headline_labels_and_rare_entities_are_not_proposed():
    docs = _docs("Explainer: what next", "Explainer: the war", "Explainer: the deal", "Gerry Connolly spoke.")
    s = suggest_actors(_cands(("Explainer", "PERSON", 3), ("Gerry Connolly", "PERSON", 1)), docs)
    assert s.proposals == []
    assert "headline label" in s.ambiguous[0].reason


def test_nothing_the_dictionary_counts_is_proposed_and_variants_of_its_actors_are_listed():
    d = load_dictionary()
    docs = _docs("Zelenskij spoke.", "Zelenskij said.", "NATO met.", "Hakeem Jeffries spoke.", "Hakeem Jeffries said.")
    s = suggest_actors(_cands(("Zelenskij", "PERSON", 2), ("NATO", "ORG", 1), ("Hakeem Jeffries", "PERSON", 2)), docs,
                       dictionary=d)
    assert [p.actor_id for p in s.proposals] == ["HAKEEM_JEFFRIES"]
    assert s.known_variants == [("Zelenskij", "VOLODYMYR_ZELENSKYY", 2)]


def test_ranked_by_mentions_and_top_limits(tmp_path):
    docs = _docs(*["Hakeem Jeffries spoke."] * 2, *["Nancy Pelosi spoke."] * 5, *["Chuck Schumer spoke."] * 3)
    cands = _cands(("Hakeem Jeffries", "PERSON", 2), ("Nancy Pelosi", "PERSON", 5), ("Chuck Schumer", "PERSON", 3))
    assert [p.name for p in suggest_actors(cands, docs).proposals] == ["Nancy Pelosi", "Chuck Schumer", "Hakeem Jeffries"]
    assert [p.name for p in suggest_actors(cands, docs, top=2).proposals] == ["Nancy Pelosi", "Chuck Schumer"]


def test_the_yaml_loads_as_a_user_dictionary_and_carries_the_evidence(tmp_path):
    docs = _docs("Viktor Yanukovych fled. Yanukovych's aides stayed.", "Viktor Yanukovych spoke; Yanukovych left.",
                 "The Organization for Security and Co-operation in Europe (OSCE) sent monitors.", "OSCE left.",
                 "Shelling in Kramatorsk.", "in Kramatorsk")
    s = suggest_actors(_cands(("Viktor Yanukovych", "PERSON", 2), ("Yanukovych", "PERSON", 2), ("OSCE", "ORG", 2),
                              ("Kramatorsk", "GPE", 2)), docs)
    out = s.write(tmp_path / "mine.yaml", run_name="test")
    text = out.read_text()
    assert "# 1. Viktor Yanukovych: 4 mentions in 2 documents; NER: PERSON 4" in text
    assert "[Viktor Yanukovych]" in text                       # an example context
    data = yaml.safe_load(text)
    assert {a["id"] for a in data["actors"]} == {"VIKTOR_YANUKOVYCH", "OSCE"}
    assert data["ambiguous"][0]["text"] == "Kramatorsk"
    d = load_dictionary(out, "replace")
    assert set(d.actors["actor_id"]) == {"VIKTOR_YANUKOVYCH", "OSCE"}
    assert {f.kind for f in d.forms} == {"alias", "context", "ambiguous"}
    with pytest.raises(ParameterError, match="--force"):
        s.write(out)
    s.write(out, force=True)


def test_empty_candidates_give_an_empty_loadable_file(tmp_path):
    s = suggest_actors(_cands(), _docs("nothing here"))
    out = s.write(tmp_path / "none.yaml")
    assert load_dictionary(out).actors is not None and s.proposals == [] and s.ambiguous == []
