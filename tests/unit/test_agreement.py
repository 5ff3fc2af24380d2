"""The vectorised per-document method agreement equals the direct per-document computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

from analysis.sentiment import _agreement


def test_vectorised_agreement_matches_scipy_per_document():
    rng = np.random.default_rng(0)
    sizes = {"d1": 2, "d2": 3, "d3": 7, "d4": 12, "d5": 4}
    rows = []
    for d, n in sizes.items():
        a = np.round(rng.uniform(-1, 1, n), 1)            # rounded: ties, as VADER scores have
        b = np.round(a * 0.5 + rng.normal(0, 0.3, n), 1)
        rows += [(d, x, y) for x, y in zip(a, b)]
    rows += [("d6", 0.3, 0.1), ("d6", 0.3, -0.2), ("d6", 0.3, 0.5)]   # no variation in a: undefined
    both = pd.DataFrame(rows, columns=["doc_id", "a", "b"])
    out = _agreement(both, 0.05, -0.05).set_index("doc_id")
    assert list(out.index) == ["d1", "d2", "d3", "d4", "d5", "d6", "ALL"]
    for d, g in [*both.groupby("doc_id"), ("ALL", both)]:
        row = out.loc[d]
        assert row["n_sentences"] == len(g)
        if len(g) < 3 or g["a"].std() == 0:
            assert np.isnan(row["pearson"]) and np.isnan(row["spearman"])
            continue
        assert abs(row["pearson"] - pearsonr(g["a"], g["b"])[0]) < 1e-6
        assert abs(row["spearman"] - spearmanr(g["a"], g["b"])[0]) < 1e-6
        cls = lambda v: np.where(v >= 0.05, 1, np.where(v <= -0.05, -1, 0))  # noqa: E731
        assert abs(row["sign_agreement"] - np.mean(cls(g["a"]) == cls(g["b"]))) < 1e-6
