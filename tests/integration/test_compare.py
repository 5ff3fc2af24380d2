"""Outlets and periods through the whole pipeline: a planted outlet difference reaches the tables, report and findings."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow          # every test here runs the pipeline's notebooks

TABLES = ("actor_source_sentiment", "actor_period_sentiment", "source_contrasts", "distinctive_terms")


def test_seeds_without_sources_or_dates_give_empty_tables_and_say_why(seeds_run):
    for name in TABLES:
        t = pd.read_parquet(seeds_run / "tables" / f"{name}.parquet")
        assert t.empty and len(t.columns) >= 9, name
    findings = pd.read_parquet(seeds_run / "tables/findings.parquet")["finding"].tolist()
    assert "Outlets not compared: the corpus has no sources (set corpus.source_column)." in findings
    assert "Periods not compared: the corpus has no dates (set corpus.date_column)." in findings
    report = (seeds_run / "report.html").read_text()
    assert 'id="outlets"' in report and "the corpus has no sources" in report


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Three outlets over three months; one of them writes of NATO as an aggressor, the others as a helper."""
    hostile = ["NATO launched a brutal and illegal attack that killed dozens of civilians.",
               "NATO is a dangerous aggressor that destroyed the region and lied about it.",
               "Residents accused NATO of a cruel, deadly provocation."]
    friendly = ["NATO delivered welcome aid and helped families rebuild their homes.",
                "NATO praised the peace talks and supported the ceasefire.",
                "Residents thanked NATO for the generous humanitarian help."]
    rows = []
    for i in range(36):
        site = ["wire-a", "paper-b", "tv-c"][i % 3]
        lines = hostile if site == "tv-c" else friendly
        text = " ".join([lines[i % 3], lines[(i + 1) % 3], f"Ukraine and Russia held talks on day {i}."])
        rows.append({"id": f"r{i:02d}", "text": text, "date": f"2022-0{3 + (i // 3) % 3}-{10 + i % 9}", "site": site})
    tmp = tmp_path_factory.mktemp("compare")
    f = tmp / "news.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    out = tmp / "out"
    r = run_cli("run", "--corpus", str(f), "--text-column", "text", "--out", str(out),
                "--set", "corpus.id_column=id", "--set", "corpus.date_column=date",
                "--set", "corpus.source_column=site", "--set", "summary.log_odds_sources=[tv-c, wire-a]")
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_a_planted_outlet_difference_reaches_tables_findings_figures_and_report(planted):
    per_source = pd.read_parquet(planted / "tables/actor_source_sentiment.parquet")
    nato = per_source[per_source["actor_id"] == "NATO"].set_index("source")
    assert nato.loc["tv-c", "target_tone"] < 0 < nato.loc["wire-a", "target_tone"]
    assert (nato["documents"] == 12).all() and not nato["flagged"].any()
    c = pd.read_parquet(planted / "tables/source_contrasts.parquet")
    row = c[(c["actor_id"] == "NATO") & (c["source_a"] == "tv-c") & (c["source_b"] == "wire-a")].iloc[0]
    assert row["difference"] < -0.5 and row["ci_high"] < 0 and row["q_value"] < 0.05
    assert c.equals(c.sort_values(["actor_id", "source_a", "source_b"]).reset_index(drop=True))
    periods = pd.read_parquet(planted / "tables/actor_period_sentiment.parquet")
    assert set(periods.loc[periods["actor_id"] == "NATO", "period"]) == {"2022-03", "2022-04", "2022-05"}
    terms = pd.read_parquet(planted / "tables/distinctive_terms.parquet")
    tv_words = terms[(terms["group"] == "tv-c") & (terms["feature_kind"] == "word")]["feature"].head(10).tolist()
    assert {"brutal", "aggressor"} & set(tv_words), tv_words
    findings = pd.read_parquet(planted / "tables/findings.parquet")["finding"].tolist()
    assert any(f.startswith("Tone toward NATO: tv-c -") for f in findings), findings
    for fig in ("tone_by_outlet", "tone_over_time", "log_odds_words"):
        assert (planted / "figures" / f"{fig}.png").stat().st_size > 5000, fig
    report = (planted / "report.html").read_text()
    assert 'id="outlets"' in report and "source_contrasts" in report and "tone_by_outlet.png" in report


def test_the_comparison_is_byte_identical_when_recomputed(planted):
    """compare_run again on the run's own tables: the same four tables, to the byte."""
    from analysis import compare
    from analysis.params import load_params
    from analysis.tables import write_table

    class Run:
        def read_table(self, name):
            return pd.read_parquet(planted / "tables" / f"{name}.parquet")

        def has_table(self, name):
            return (planted / "tables" / f"{name}.parquet").exists()

    params = load_params(planted / "params.json")
    again = compare.compare_run(params, Run())
    for name in TABLES:
        fresh = write_table(getattr(again, name), planted.parent / "again", name)
        assert fresh.read_bytes() == (planted / "tables" / f"{name}.parquet").read_bytes(), name
