"""Figures. Every function takes result tables and returns a matplotlib Figure; the caller saves it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["document_lengths"]


def _short(label: str, n: int = 28) -> str:
    label = str(label)
    return label if len(label) <= n else label[: n - 1] + "…"


def document_lengths(documents: pd.DataFrame) -> plt.Figure:
    """Words per document: one bar per document for small corpora, a histogram otherwise."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if len(documents) <= 40:
        labels = [_short(f"{d}: {t}") for d, t in zip(documents["doc_id"].str[:8], documents["title"])]
        y = np.arange(len(documents))
        ax.barh(y, documents["n_words"], color="#4C72B0")
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        for yi, (w, s) in enumerate(zip(documents["n_words"], documents["n_sentences"])):
            ax.text(w, yi, f" {w} words, {s} sentences", va="center", fontsize=7)
        ax.set_xlim(0, documents["n_words"].max() * 1.45)
        ax.set_xlabel("words (after cleaning)")
    else:
        ax.hist(documents["n_words"], bins=min(60, max(10, len(documents) // 50)), color="#4C72B0")
        ax.set_xlabel("words per document (after cleaning)")
        ax.set_ylabel("documents")
        med = float(np.median(documents["n_words"]))
        ax.axvline(med, color="k", lw=1, ls="--")
        ax.text(med, ax.get_ylim()[1] * 0.95, f" median {med:.0f}", fontsize=8)
    ax.set_title(f"Document lengths ({len(documents):,} documents)")
    fig.tight_layout()
    return fig
