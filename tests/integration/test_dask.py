"""The per-document stages on a 2-worker Dask LocalCluster give the same tables as plain pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import config
from analysis.actors import analyse_actors
from analysis.corpus import build_corpus
from analysis.parallel import close_clients
from analysis.params import load_params
from analysis.sentiment import analyse_sentiment

pytest.importorskip("distributed")


def _stages(P):
    corpus = build_corpus(P, embed=False)
    actors = analyse_actors(P, corpus.documents, corpus.segments)
    sentiment = analyse_sentiment(P, corpus.documents, corpus.segments, actors.mentions, None)
    return corpus, actors, sentiment


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    P = load_params(config.DEFAULT_PARAMS_FILE)
    # Three partitions over five documents: slices of unequal size, one stage per process.
    Pd = P.with_overrides({"compute": {"scheduler": "local", "workers": 2, "partitions": 3}})
    try:
        # each path with an empty cache of its own: the workers score every mention themselves
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("ANALYSIS_CACHE_DIR", str(tmp_path_factory.mktemp("pandas-cache")))
            plain = _stages(P)
            dask_cache = tmp_path_factory.mktemp("dask-cache")
            mp.setenv("ANALYSIS_CACHE_DIR", str(dask_cache))
            dask = _stages(Pd)
        assert any((dask_cache / "targeted").rglob("*.vecs.npy"))     # scored by the workers, not read back
        yield plain, dask
    finally:
        close_clients()


def test_corpus_tables_identical(both):
    (c, _, _), (d, _, _) = both
    for name in ("documents", "segments", "removed_lines", "duplicates"):
        pd.testing.assert_frame_equal(getattr(c, name), getattr(d, name), check_exact=True, obj=name)


def test_actor_tables_identical(both):
    (_, a, _), (_, b, _) = both
    assert len(a.mentions) > 100
    for name in ("mentions", "actors", "cooccurrence", "candidates", "kwic", "ambiguous"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)


def test_sentiment_tables_identical(both):
    (_, _, a), (_, _, b) = both
    # The targeted model scores each slice on its own; unpadded batches make that exact too.
    assert len(a.targets) > 50
    for name in ("sentences", "documents", "agreement", "targets", "actors"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)


def test_unreachable_scheduler_is_a_clear_error():
    from analysis.errors import ParameterError
    from analysis.parallel import dask_client

    with pytest.raises(ParameterError, match="cannot reach Dask scheduler"):
        dask_client("tcp://127.0.0.1:9", 1)


def test_bad_scheduler_value_names_the_parameter():
    from analysis.errors import ParameterError

    with pytest.raises(ParameterError, match="compute.scheduler"):
        load_params(config.DEFAULT_PARAMS_FILE).with_overrides({"compute": {"scheduler": "my laptop"}})
