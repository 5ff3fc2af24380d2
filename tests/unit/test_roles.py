"""Roles across time: holders by date, undated documents, titles after "former" (no models)."""

from __future__ import annotations

from analysis.actors import load_dictionary
from analysis.roles import corpus_span, find_role_mentions, resolve_holder

CHANCELLOR = {"role": "Chancellor of Germany", "patterns": ["German Chancellor", "Chancellor of Germany"],
              "holders": [{"actor": "ANGELA_MERKEL", "until": "2021-12-08"},
                          {"actor": "OLAF_SCHOLZ", "from": "2021-12-08", "until": "2025-05-06"},
                          {"actor": "FRIEDRICH_MERZ", "from": "2025-05-06"}]}


def test_dated_documents_get_the_holder_of_the_day():
    assert resolve_holder(CHANCELLOR, "2021-12-07", None) == ("ANGELA_MERKEL", "")
    assert resolve_holder(CHANCELLOR, "2021-12-08", None) == ("OLAF_SCHOLZ", "")
    assert resolve_holder(CHANCELLOR, "2026-01-01", None) == ("FRIEDRICH_MERZ", "")


def test_undated_documents_resolve_only_when_one_holder_spans_the_corpus():
    assert resolve_holder(CHANCELLOR, "", ("2022-02-24", "2022-09-30")) == ("OLAF_SCHOLZ", "")
    holder, why = resolve_holder(CHANCELLOR, "", ("2021-06-01", "2022-06-01"))
    assert holder is None and "ANGELA_MERKEL, OLAF_SCHOLZ" in why and "2021-06-01 to 2022-06-01" in why
    holder, why = resolve_holder(CHANCELLOR, "", None)
    assert holder is None and "no dates" in why


def test_corpus_span_ignores_empty_dates():
    assert corpus_span(["", "2022-03-01", "nan", "2022-02-24T10:00"]) == ("2022-02-24", "2022-03-01")
    assert corpus_span(["", ""]) is None


def test_find_role_mentions():
    texts = {"a": "The German chancellor said no. Former German Chancellor spoke.",
             "b": "German Chancellor Olaf Scholz arrived.", "c": "the German chancellor's plan"}
    dates = {"a": "2022-03-01", "b": "2022-03-01", "c": ""}
    rows, amb = find_role_mentions([CHANCELLOR], texts, dates, ("2022-01-01", "2022-12-31"),
                                   person_starts={("b", 18)})
    assert rows == [("a", "OLAF_SCHOLZ", "German chancellor", 4, 21), ("c", "OLAF_SCHOLZ", "German chancellor", 4, 21)]
    assert len(amb) == 1 and amb[0][0] == "a" and "after 'former'" in amb[0][4]
    # the undated document of a corpus spanning two chancellors: listed, not counted
    rows, amb = find_role_mentions([CHANCELLOR], {"c": texts["c"]}, {"c": ""}, ("2021-01-01", "2022-12-31"), set())
    assert rows == [] and "span holders ANGELA_MERKEL, OLAF_SCHOLZ" in amb[0][4]


def test_shipped_roles_cover_the_offices_since_2010_and_their_holders_are_actors():
    d = load_dictionary()
    roles = {r["role"]: r for r in d.roles}
    assert set(roles) == {"President of the United States", "President of Russia", "President of Ukraine",
                          "President of France", "President of Turkey", "Prime Minister of the United Kingdom",
                          "Chancellor of Germany", "NATO Secretary General", "UN Secretary-General",
                          "President of the European Commission", "President of the European Council"}
    for r in roles.values():
        first = r["holders"][0]
        assert "from" not in first or first["from"] <= "2010-01-01", r["role"]
        # holders follow each other without gaps
        for a, b in zip(r["holders"], r["holders"][1:]):
            assert a["until"] == b["from"], r["role"]
        assert r["holders"][-1].get("until") is None
    assert resolve_holder(roles["President of the United States"], "2022-05-01", None)[0] == "JOE_BIDEN"
    assert resolve_holder(roles["Prime Minister of the United Kingdom"], "2022-10-01", None)[0] == "LIZ_TRUSS"
    assert resolve_holder(roles["NATO Secretary General"], "2024-10-01", None)[0] == "MARK_RUTTE"
