"""The table declarations (analysis/schema.py): validation, empty tables, and the generated docs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import config, schema
from analysis.errors import AnalysisError, SchemaError
from analysis.tables import write_table


def _mentions(**cols) -> pd.DataFrame:
    base = dict(doc_id=["a", "a", "b"], start=[0, 10, 0], end=[4, 14, 4], actor_id=["RUS", "UKR", "RUS"])
    return schema.example("actor_mentions", **{**base, **cols})


def _error(df: pd.DataFrame, name: str) -> str:
    with pytest.raises(SchemaError) as err:
        schema.validate(df, name)
    msg = str(err.value)
    assert "\n" not in msg and isinstance(err.value, AnalysisError)
    return msg


def test_a_valid_table_passes_with_its_columns_in_the_declared_order():
    df = _mentions(surface=["Russia", "Kyiv", "Moscow"], kind=["alias", "metonym", "metonym"])
    got = schema.validate(df[list(reversed(df.columns))], "actor_mentions")
    assert list(got.columns) == schema.columns("actor_mentions")
    pd.testing.assert_frame_equal(got, df)


@pytest.mark.parametrize("name", list(schema.TABLES))
def test_every_declared_table_accepts_its_example(name):
    schema.validate(schema.example(name), name)


def test_a_null_names_table_column_and_count():
    msg = _error(_mentions(actor_id=[None, "UKR", None]), "actor_mentions")
    assert msg == "table actor_mentions: column actor_id has 2 null value(s); it may not be null"


def test_a_value_not_allowed_names_the_value_and_the_allowed_ones():
    msg = _error(_mentions(kind=["alias", "nickname", "alias"]), "actor_mentions")
    assert msg.startswith("table actor_mentions: column kind has 1 value(s) that fail ('nickname'); allowed: 'alias'")


def test_a_wrong_dtype_names_both_types():
    df = _mentions().assign(start=[0.0, 10.0, 0.0])
    assert _error(df, "actor_mentions") == "table actor_mentions: column start has dtype float64; it must be int64"


def test_a_value_out_of_range_names_the_range():
    df = schema.example("sentence_sentiment", segment_id=["a:s0000"], compound=[1.5])
    assert _error(df, "sentence_sentiment") == ("table sentence_sentiment: column compound has 1 value(s) that fail "
                                                "(1.5); it must lie in [-1, 1]")


def test_a_repeated_key_names_the_key_and_a_repeated_value():
    msg = _error(_mentions(start=[0, 0, 0], end=[4, 4, 4], doc_id=["a", "a", "a"], actor_id=["RUS"] * 3), "actor_mentions")
    assert msg.startswith("table actor_mentions: key (doc_id, start, end, actor_id) is not unique: 3 rows share a key, "
                          "e.g. doc_id='a', start=0, end=4, actor_id='RUS'")


def test_a_cell_that_is_not_a_list_is_named():
    df = schema.example("topics", topic=[0, 1], ctfidf_terms=[["war"], "war"])
    assert "column ctfidf_terms has 1 value(s) that fail ('war'); each cell must hold a list" in _error(df, "topics")


def test_missing_undeclared_and_unknown_are_errors():
    assert _error(_mentions().drop(columns="kind"), "actor_mentions").startswith(
        "table actor_mentions: column(s) kind missing")
    assert _error(_mentions().assign(extra=1), "actor_mentions").startswith(
        "table actor_mentions: column(s) extra not declared in analysis/schema.py")
    assert _error(pd.DataFrame({"x": [1]}), "actor_nicknames").startswith(
        "table actor_nicknames is not declared in analysis/schema.py")


def test_several_problems_stay_on_one_line():
    df = _mentions(actor_id=[None, "UKR", "RUS"], kind=["alias", "nickname", "alias"]).assign(start=[0.5, 1.5, 2.5])
    msg = _error(df, "actor_mentions")
    assert all(f"column {c}" in msg for c in ("actor_id", "kind", "start"))


@pytest.mark.parametrize("name", list(schema.TABLES))
def test_empty_gives_every_declared_column_with_its_type(name):
    df = schema.empty(name)
    assert len(df) == 0 and list(df.columns) == schema.columns(name)
    assert df.dtypes.to_dict() == schema.example(name).dtypes.to_dict()


def test_an_empty_table_is_written_with_its_declared_types(tmp_path):
    write_table(pd.DataFrame(columns=["source_file", "row"]), tmp_path, "skipped")
    back = pd.read_parquet(tmp_path / "skipped.parquet")
    assert list(back.columns) == ["source_file", "row", "reason"] and str(back["row"].dtype) == "int64"
    assert (tmp_path / "skipped.csv").read_text() == "source_file,row,reason\n"


def test_write_table_refuses_a_table_that_breaks_its_declaration(tmp_path):
    with pytest.raises(SchemaError, match="table actor_mentions: column actor_id has 2 null value"):
        write_table(_mentions(actor_id=[None, "UKR", None]), tmp_path, "actor_mentions")
    assert not list(tmp_path.iterdir())


def test_every_table_the_stages_write_is_declared_and_every_declared_table_is_written():
    from analysis.compare import Comparison

    written = set(Comparison.TABLES)              # written by name in a loop
    for path in config.PACKAGE_DIR.rglob("*.py"):
        written |= set(re.findall(r'write_table\([^,()]+(?:\([^()]*\))?,\s*"([a-z_0-9]+)"', path.read_text()))
    assert written == set(schema.TABLES)


def test_docs_tables_md_is_generated_from_the_schema():
    doc = Path(config.PROJECT_ROOT / "docs" / "tables.md")
    assert doc.read_text() == schema.markdown(), "docs/tables.md is stale: run make docs"
    for name in schema.TABLES:
        assert f"### `{name}`" in doc.read_text()


def test_the_finite_check_refuses_infinities_and_leaves_nulls_to_the_nullable_flag():
    import numpy as np

    got = schema.finite(pd.Series([1.5, np.nan, np.inf, -np.inf]))
    assert got.tolist() == [True, True, False, False]
    df = schema.example("distinctive_terms", feature=["war", "peace"], rank=[1, 2])
    assert _error(df.assign(log_odds=[0.5, np.nan]), "distinctive_terms") == (
        "table distinctive_terms: column log_odds has 1 null value(s); it may not be null")
    assert _error(df.assign(z=[1.0, np.inf]), "distinctive_terms") == (
        "table distinctive_terms: column z has 1 value(s) that fail (inf); it must be finite")
