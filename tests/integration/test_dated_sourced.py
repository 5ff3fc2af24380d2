"""A CSV with dates and outlets goes through every stage: the over-time and per-source tables and figures."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow          # every test here runs the pipeline's notebooks


def test_dated_sourced_csv_gives_over_time_and_per_source_outputs(tmp_path):
    stories = ["NATO allies pledged more air defence for Ukraine after talks in Brussels. ",
               "The Kremlin said Russian forces would continue the operation in the east. ",
               "The European Union agreed new sanctions on Russia and more aid for Kyiv. "]
    rows = [{"id": f"r{i}", "text": stories[i % 3] * 3 + f"Report number {i} from the desk.",
             "date": f"2022-0{3 + i % 3}-1{i % 9}", "site": ["wire-a", "paper-b", "tv-c"][i % 3]}
            for i in range(18)]
    f = tmp_path / "news.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    r = run_cli("run", "--corpus", str(f), "--text-column", "text", "--out", str(tmp_path / "out"),
                "--set", "corpus.id_column=id", "--set", "corpus.date_column=date",
                "--set", "corpus.source_column=site")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    per_source = pd.read_parquet(out / "tables/actors_per_source.parquet")
    assert set(per_source["source"]) == {"wire-a", "paper-b", "tv-c"}
    assert per_source.loc[per_source["source"] == "paper-b", "actor_id"].eq("RUS").any()
    over_time = pd.read_parquet(out / "tables/actors_over_time.parquet")
    assert set(over_time["month"]) == {"2022-03", "2022-04", "2022-05"}
    docs = pd.read_parquet(out / "tables/documents.parquet")
    words = docs.groupby(docs["published"].astype(str).str[:7])["n_words"].sum()
    assert (over_time["words_in_month"] == over_time["month"].map(words)).all()
    assert (over_time["per_1k_words"] - over_time["mentions"] * 1000 / over_time["words_in_month"]).abs().max() < 1e-4
    assert (out / "tables/topics_per_source.parquet").exists() and (out / "tables/topics_over_time.parquet").exists()
    for fig in ("actors_per_source", "actors_over_time", "topics_over_time"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 5000, fig
