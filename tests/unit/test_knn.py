"""Exact kNN for UMAP: the same neighbours as scikit-learn's brute-force search, self first."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from analysis.topics import exact_knn


def test_exact_knn_matches_sklearn_across_chunks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    idx, dist = exact_knn(x, 7, chunk=64)
    ref_d, ref_i = NearestNeighbors(n_neighbors=7, metric="cosine", algorithm="brute").fit(x).kneighbors(x)
    assert (idx[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    assert (idx == ref_i).mean() > 0.99
    assert np.allclose(np.sort(dist, 1), np.sort(ref_d, 1), atol=1e-5)
    assert (np.diff(dist, axis=1) >= -1e-6).all()
