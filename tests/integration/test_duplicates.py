"""Retold sentences at the size where the duplicate search takes its bfloat16 path (5,000 sentences and more)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import accel
from analysis.corpus import _close_pairs


# 0.8485 lies between two bfloat16 values (0.84766 and 0.85156), where the candidates' rounding bites.
# Slow: 6,000 x 6,000 products, in bfloat16 emulated where the CPU has none (about a minute on 2 cores).
@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0.85, 0.8485])
def test_close_sentence_pairs_are_the_same_with_bfloat16_candidates(monkeypatch, threshold):
    """Retold sentences: bfloat16 products only propose candidates; float32 decides, so nothing changes."""
    rng = np.random.default_rng(7)
    base = rng.normal(size=(3000, 384)).astype(np.float32)
    # rewrites at cosines of about 0.74-0.93 to their originals: many pairs close to the 0.85 threshold
    noisy = base + rng.normal(size=base.shape).astype(np.float32) * rng.uniform(0.4, 0.9, size=(3000, 1)).astype(np.float32)
    sv = np.vstack([base, noisy])
    sv /= np.linalg.norm(sv, axis=1, keepdims=True)
    found = {}
    for fast in (False, True):
        monkeypatch.setattr(accel, "cpu_has_bf16", lambda fast=fast: fast)
        found[fast] = [(lo + i, j, v) for lo, ii, jj, vv in _close_pairs(sv, threshold)
                       for i, j, v in zip(ii.tolist(), jj.tolist(), vv.tolist())]
    assert found[True] == found[False]
    truth = sv.astype(np.float64) @ sv.astype(np.float64).T
    pairs = {(i, j) for i, j, _ in found[True]}
    near = np.abs(truth - threshold) < 1e-5                       # float32 may fall either side of these
    assert pairs >= {(i, j) for i, j in zip(*np.nonzero((truth >= threshold) & ~near))}
    assert all(truth[i, j] >= threshold - 1e-5 for i, j in pairs)
    assert ((truth > 0.83) & (truth < 0.87)).sum() > 200      # the threshold is really put to the test
