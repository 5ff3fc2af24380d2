"""Outlets and periods compared: tone toward each actor per source and per period, and what sets each apart.

The unit of tone is one actor in one sentence (:func:`tone_units`): the targeted score of the actor's
first mention in the sentence (``actor_mention_sentiment``, as ``actor_sentiment`` takes it), with the
sentence's lexicon tone beside it. A group's tone (one outlet, one month) is the mean over its units.

Mentions in one article are not independent: an article that names NATO twenty times in one register
would count as twenty observations if mentions were resampled. Every interval here resamples
*documents* (a cluster bootstrap: a document's units come and go together), and every test permutes
source labels across documents. Each interval and each test draws from a generator of its own, seeded
by the run's seed and its key (:func:`analysis.randomness.keyed_rng`), so a cell does not depend on the
others and two runs give byte-identical tables.

Which words and actors set a source (or a period) apart from the rest: weighted log-odds ratios with an
informative Dirichlet prior (Monroe, Colaresi and Quinn 2008, "Fightin' Words"), ranked by z-score, so
that neither frequent words (large differences by chance) nor rare ones (large ratios from a count of
two) dominate.

A corpus without sources gives empty source tables, one without dates empty period tables; the reason is
in :func:`reasons` (and the findings), never an error.

Example:
    >>> units = pd.DataFrame({"actor_id": ["NATO"] * 4, "segment_id": list("abcd"), "doc_id": ["d1", "d1", "d2", "d3"],
    ...                       "mentions": [1] * 4, "score": [0.5, 0.3, -0.2, 0.1], "polarity": ["positive"] * 4,
    ...                       "sentence_tone": [0.0] * 4, "source": ["x", "x", "y", "y"], "published": [""] * 4})
    >>> actor_source_sentiment(units, resamples=200, seed=1)[["source", "n_sentences", "target_tone"]].values.tolist()
    [['x', 2, 0.4], ['y', 2, -0.05]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import schema
from analysis.randomness import keyed_rng

__all__ = ["PERIODS", "ALL_OTHERS", "Q_LEVEL", "period_of", "tone_units", "actor_source_sentiment",
           "actor_period_sentiment", "source_contrasts", "bh_qvalues", "apart_from_the_rest", "log_odds", "WordCounts",
           "word_counts", "distinctive_terms", "pair_log_odds", "reasons", "contrast_findings", "distinctive_findings",
           "choose_log_odds_sources", "Comparison", "compare_run"]

#: summary.period -> the pandas period it groups by (weeks run Monday to Sunday)
PERIODS = {"month": "M", "week": "W-SUN", "quarter": "Q"}
#: ``source_b`` of a contrast between one source and every other source together
ALL_OTHERS = "(all others)"
#: a contrast is significant below this Benjamini-Hochberg q-value (the findings, the figures)
Q_LEVEL = 0.05
#: a finding compares outlets with at least this many documents each: a percentile interval resampling
#: three or four documents is too narrow to print beside a mean (RUWA's first 10,000 rows: bbc.co.uk's
#: three documents naming the EU gave [-0.46, -0.28])
FINDING_MIN_DOCUMENTS = 10

_UNIT_FIELDS = ["actor_id", "segment_id", "doc_id", "mentions", "score", "polarity", "sentence_tone", "source",
                 "published"]


def _frame(name: str, rows: list) -> pd.DataFrame:
    """``rows`` (tuples in column order) as table ``name`` of :mod:`analysis.schema`, with its declared types."""
    return schema.frame(name, rows).astype(schema.empty(name).dtypes.to_dict())


# ------------------------------------------------------------------------------------------ units


def period_of(published: pd.Series, period: str = "month") -> tuple[pd.Series, pd.Series]:
    """The period label and its first day for each date (``YYYY-MM-DD``; empty: undated, both empty).

    Labels: ``2022-03`` (month), ``2022-03-07`` (the week's Monday), ``2022Q1`` (quarter).

    Args:
        published: dates as ``documents.published`` holds them.
        period: ``month``, ``week`` or ``quarter`` (parameter ``summary.period``).

    Example:
        >>> label, start = period_of(pd.Series(["2022-03-09", ""]), "week")
        >>> label.tolist(), start.tolist()
        (['2022-03-07', ''], ['2022-03-07', ''])
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}; got {period!r}")
    ts = pd.to_datetime(published.astype(str), format="%Y-%m-%d", errors="coerce")
    p = ts.dt.to_period(PERIODS[period])
    start = p.dt.start_time.dt.strftime("%Y-%m-%d")
    label = {"month": lambda: p.dt.strftime("%Y-%m"), "week": lambda: start,
             "quarter": lambda: p.dt.strftime("%YQ%q")}[period]()
    return label.fillna("").astype(str), start.fillna("").astype(str)


def tone_units(mentions: pd.DataFrame, targets: pd.DataFrame, sentence_sentiment: pd.DataFrame,
               documents: pd.DataFrame, method: str = "vader") -> pd.DataFrame:
    """One row per actor and sentence naming it: the tone toward the actor there, and the sentence's tone.

    Args:
        mentions: ``actor_mentions`` (only counted mentions are used).
        targets: ``actor_mention_sentiment``: ``score`` and ``polarity`` of the actor's first mention in
            the sentence become the unit's (the same choice as ``actor_sentiment``); empty: no target tone.
        sentence_sentiment: ``sentence_sentiment``; the ``adjusted_compound`` of ``method`` is
            ``sentence_tone``.
        documents: ``documents``, for each unit's ``source`` and ``published``.
        method: the lexicon of ``sentence_tone`` (parameter ``sentiment.method``).

    Returns:
        actor_id, segment_id, doc_id, mentions (counted mentions of the actor in the sentence), score and
        polarity (empty without a targeted score), sentence_tone, source, published; sorted by actor_id,
        segment_id.
    """
    m = mentions[mentions["counted"].astype(bool)]
    if m.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "mentions" else "float64"
                                          if c in ("score", "sentence_tone") else "str") for c in _UNIT_FIELDS})
    units = (m.groupby(["actor_id", "segment_id"], sort=True)
             .agg(doc_id=("doc_id", "first"), mentions=("start", "size")).reset_index())
    units["mentions"] = units["mentions"].astype("int64")
    if targets is not None and len(targets):
        t = (targets.sort_values(["doc_id", "start", "end", "actor_id"], kind="stable")
             .drop_duplicates(["actor_id", "segment_id"]).set_index(["actor_id", "segment_id"]))
        key = pd.MultiIndex.from_frame(units[["actor_id", "segment_id"]])
        units["score"] = t["score"].reindex(key).to_numpy(dtype=np.float64)
        units["polarity"] = t["polarity"].reindex(key).fillna("").astype(str).to_numpy()
    else:
        units["score"], units["polarity"] = np.nan, ""
    ss = sentence_sentiment[sentence_sentiment["method"] == method].set_index("segment_id")["adjusted_compound"]
    units["sentence_tone"] = units["segment_id"].map(ss).astype(np.float64)
    docs = documents.set_index("doc_id")
    for col in ("source", "published"):
        units[col] = units["doc_id"].map(docs[col].astype(str)).fillna("").astype(str)
    return units[_UNIT_FIELDS]


# ----------------------------------------------------------------------------- cluster statistics


def _doc_arrays(units: pd.DataFrame, by: str) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per actor and ``by`` value: its documents (sorted), the sum and the number of targeted scores in each.

    One groupby over the scored units, sorted by their content first, so the sums do not depend on the
    order the units came in.
    """
    s = units[units["score"].notna()].sort_values(["actor_id", by, "doc_id", "segment_id"], kind="stable")
    if s.empty:
        return {}
    agg = s.groupby(["actor_id", by, "doc_id"], sort=True)["score"].agg(["sum", "size"]).reset_index()
    cell = agg["actor_id"] + "\x00" + agg[by]
    bounds = np.flatnonzero(np.r_[True, cell.to_numpy()[1:] != cell.to_numpy()[:-1], True])
    docs, sums, counts = (agg["doc_id"].to_numpy(), agg["sum"].to_numpy(np.float64),
                          agg["size"].to_numpy(np.float64))
    actors, groups = agg["actor_id"].to_numpy(), agg[by].to_numpy()
    return {(actors[i], groups[i]): (docs[i:j], sums[i:j], counts[i:j]) for i, j in zip(bounds[:-1], bounds[1:])}


def _cluster_draws(sums: np.ndarray, counts: np.ndarray, resamples: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Resampled totals of ``sums`` and ``counts``: documents drawn with replacement, each with all its units."""
    if len(sums) == 0:
        return np.zeros(resamples), np.zeros(resamples)
    idx = rng.integers(0, len(sums), size=(resamples, len(sums)))
    return np.take(sums, idx).sum(1), np.take(counts, idx).sum(1)


def _interval(draws: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def _r(x: float) -> float:
    return round(float(x), 6)


_EMPTY = (np.array([], dtype=object), np.array([]), np.array([]))


def _cells(units: pd.DataFrame, by: str, table: str, min_sentences: int, resamples: int, seed: int) -> list:
    """Per actor and ``by`` value (sorted): ``(actor_id, group, *statistics)`` in the tables' column order."""
    if units.empty:
        return []
    u = units.sort_values(["actor_id", by, "doc_id", "segment_id"], kind="stable")
    scored = u["score"].notna()
    base = u.assign(_neg=(u["polarity"] == "negative") & scored, _pos=(u["polarity"] == "positive") & scored,
                    _scored=scored)
    g = base.groupby(["actor_id", by], sort=True)
    stats = pd.DataFrame({"mentions": g["mentions"].sum(), "documents": g["doc_id"].nunique(),
                          "n": g["_scored"].sum(), "neg": g["_neg"].sum(), "pos": g["_pos"].sum(),
                          "sentence_tone": g["sentence_tone"].mean()})
    arrays = _doc_arrays(u, by)
    rows = []
    for (actor, group), r in stats.iterrows():
        docs, sums, counts = arrays.get((actor, group), _EMPTY)
        n = int(r["n"])
        tone = lo = hi = np.nan
        if n:
            tone = sums.sum() / n
            # one document: resampling it gives its own mean every time, which says nothing of the spread
            if len(docs) >= 2:
                s_, c_ = _cluster_draws(sums, counts, resamples, keyed_rng(seed, table, actor, group))
                lo, hi = _interval(s_ / c_)
        rows.append((actor, group, int(r["mentions"]), int(r["documents"]), n, _r(tone), _r(lo), _r(hi),
                     _r(r["neg"] / n) if n else np.nan, _r(r["pos"] / n) if n else np.nan, _r(r["sentence_tone"]),
                     n < min_sentences))
    return rows


def actor_source_sentiment(units: pd.DataFrame, min_sentences: int = 3, resamples: int = 1000,
                           seed: int = 42) -> pd.DataFrame:
    """Tone toward each actor per source, with a 95% cluster-bootstrap interval over documents.

    Args:
        units: :func:`tone_units`; units without a source are left out.
        min_sentences: a row resting on fewer scored sentences is ``flagged`` (``sentiment.min_sentences``).
        resamples: bootstrap resamples (``sentiment.bootstrap_resamples``).
        seed: the run's seed; each row draws from ``keyed_rng(seed, "actor_source_sentiment", actor, source)``.

    Returns:
        actor_id, source, mentions, documents, n_sentences (scored units), target_tone (their mean) with
        ci_low and ci_high (empty with fewer than two documents), share_negative and share_positive (of the
        units, by the targeted polarity), sentence_tone (mean lexicon tone of those sentences), flagged;
        sorted by actor_id, source.
    """
    u = units[units["source"] != ""]
    return _frame("actor_source_sentiment", _cells(u, "source", "actor_source_sentiment", min_sentences,
                                                   resamples, seed))


def actor_period_sentiment(units: pd.DataFrame, period: str = "month", min_sentences: int = 3,
                           resamples: int = 1000, seed: int = 42) -> pd.DataFrame:
    """Tone toward each actor per period (``summary.period``), like :func:`actor_source_sentiment`.

    Rows are keyed by actor_id and period (:func:`period_of`'s label), with ``period_start`` (its first
    day) beside it; undated units are left out; a period resting on fewer than ``min_sentences`` scored
    sentences is ``flagged`` (the timelines shade it).
    """
    label, start = period_of(units["published"], period)
    u = units.assign(period=label.to_numpy())
    u = u[u["period"] != ""]
    first_day = dict(zip(label, start))
    rows = [(a, p, first_day[p], *rest) for a, p, *rest in _cells(u, "period", "actor_period_sentiment",
                                                                  min_sentences, resamples, seed)]
    return _frame("actor_period_sentiment", rows)


# ------------------------------------------------------------------------------------ contrasts


def bh_qvalues(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg q-values: the smallest false discovery rate at which each test is rejected.

    Example:
        >>> bh_qvalues([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
        [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


# Permutations are drawn in batches; a test stops once it has seen this many permuted differences as
# large as the observed one (Besag and Clifford 1991, "Sequential Monte Carlo p-values"): p = h / L after
# L permutations, valid as a p-value. A contrast far from significance then costs one batch instead of
# all the permutations (most contrasts of a corpus; the significant ones still draw all of them).
_PERMUTATION_BATCH = 100
_STOP_AFTER_EXTREME = 20


def _permutation_p(sums: np.ndarray, counts: np.ndarray, k_a: int, permutations: int,
                   rng: np.random.Generator) -> float:
    """Two-sided permutation p-value of the difference in mean tone between the first ``k_a`` documents and the rest.

    The documents' labels are shuffled, each document keeping all its units: a uniform random subset of
    the size of one side (the smaller) takes that side's label, the rest the other's. ``(1 + extreme) /
    (1 + permutations)``, or ``h / L`` when the sequential rule stops early (``_STOP_AFTER_EXTREME``).
    """
    n = len(sums)
    total_s, total_n = sums.sum(), counts.sum()
    sa, na = sums[:k_a].sum(), counts[:k_a].sum()
    obs = abs(sa / na - (total_s - sa) / (total_n - na))
    k = min(k_a, n - k_a)             # the smaller side is drawn; the statistic's size is the same either way
    extreme = drawn = 0
    while drawn < permutations:
        b = min(_PERMUTATION_BATCH, permutations - drawn)
        # the k smallest of n random keys: a uniform random k-subset in each row
        sub = np.argpartition(rng.random((b, n)), k - 1, axis=1)[:, :k]
        ps, pn = np.take(sums, sub).sum(1), np.take(counts, sub).sum(1)     # np.take: half the time of sums[sub]
        # a permuted difference equal to the observed one (up to rounding) counts as extreme
        hit = np.abs(ps / pn - (total_s - ps) / (total_n - pn)) >= obs - 1e-9
        cum = extreme + np.cumsum(hit)
        if cum[-1] >= _STOP_AFTER_EXTREME:
            return _STOP_AFTER_EXTREME / (drawn + int(np.searchsorted(cum, _STOP_AFTER_EXTREME)) + 1)
        extreme, drawn = int(cum[-1]), drawn + b
    return (1 + extreme) / (1 + drawn)


def source_contrasts(units: pd.DataFrame, actor_ids: Sequence[str] | None = None, min_sentences: int = 3,
                     resamples: int = 1000, seed: int = 42) -> pd.DataFrame:
    """Differences in tone toward each actor between sources: every pair, and each source against all others.

    A contrast is tested when both sides rest on at least ``min_sentences`` scored sentences. Its interval
    is a stratified cluster bootstrap: each source's documents are resampled on their own, with the same
    generators as :func:`actor_source_sentiment`'s intervals (``(all others)`` adds up the other sources'
    resamples). Its p-value is a permutation test: the source labels of the documents on the two sides are
    shuffled up to ``resamples`` times (generator keyed by actor and the two sources), each document keeping
    all its units; a test stops early once 20 permuted differences were as large as the observed one
    (Besag and Clifford's sequential p-value). The q-values are Benjamini-Hochberg over every contrast of the table.

    Args:
        units: :func:`tone_units`; units without a source are left out.
        actor_ids: the actors to compare (e.g. the most mentioned); ``None``: every actor.
        min_sentences: see above (``sentiment.min_sentences``).
        resamples: bootstrap resamples and permutations (``sentiment.bootstrap_resamples``).
        seed: the run's seed.

    Returns:
        actor_id, source_a, source_b (a source after source_a, or ``(all others)``), documents_a/_b,
        n_sentences_a/_b, tone_a, tone_b, difference (tone_a - tone_b) with ci_low, ci_high (95%), p_value,
        q_value; sorted by actor_id, source_a, source_b.
    """
    u = units[(units["source"] != "") & units["score"].notna()]
    if actor_ids is not None:
        u = u[u["actor_id"].isin(list(actor_ids))]
    arrays = _doc_arrays(u, "source")
    by_actor: dict[str, dict[str, tuple]] = {}
    for (actor, source), v in arrays.items():
        by_actor.setdefault(actor, {})[source] = v
    rows = []
    for actor in sorted(by_actor):
        cells = by_actor[actor]
        sources = sorted(cells)
        n_of = {s: int(cells[s][2].sum()) for s in sources}
        draws = {s: _cluster_draws(cells[s][1], cells[s][2], resamples,
                                   keyed_rng(seed, "actor_source_sentiment", actor, s)) for s in sources}
        enough = [s for s in sources if n_of[s] >= min_sentences]
        pairs = [(a, [b]) for i, a in enumerate(enough) for b in enough[i + 1:]]
        if len(sources) > 2:          # with two sources, "all others" is the other one
            pairs += [(a, [s for s in sources if s != a]) for a in enough
                      if sum(n_of[s] for s in sources if s != a) >= min_sentences]
        for a, others in pairs:
            b = others[0] if len(others) == 1 else ALL_OTHERS
            sums = np.concatenate([cells[a][1], *(cells[s][1] for s in others)])
            counts = np.concatenate([cells[a][2], *(cells[s][2] for s in others)])
            k_a = len(cells[a][1])
            tone_a = cells[a][1].sum() / n_of[a]
            tone_b = sums[k_a:].sum() / counts[k_a:].sum()
            diff_draws = (draws[a][0] / draws[a][1]
                          - sum(draws[s][0] for s in others) / sum(draws[s][1] for s in others))
            lo, hi = _interval(diff_draws)
            p = _permutation_p(sums, counts, k_a, resamples, keyed_rng(seed, "source_contrasts", actor, a, b))
            rows.append([actor, a, b, k_a, len(sums) - k_a, n_of[a], int(counts[k_a:].sum()), _r(tone_a), _r(tone_b),
                         _r(tone_a - tone_b), _r(lo), _r(hi), _r(p), np.nan])
    out = _frame("source_contrasts", rows)
    out["q_value"] = bh_qvalues(out["p_value"].to_numpy()).round(6)
    return out.sort_values(["actor_id", "source_a", "source_b"], kind="stable").reset_index(drop=True)


def apart_from_the_rest(contrasts: pd.DataFrame, level: float = Q_LEVEL) -> set[tuple[str, str]]:
    """The (actor_id, source) pairs whose tone differs from all other outlets together at q < ``level``."""
    c = contrasts[(contrasts["source_b"] == ALL_OTHERS) & (contrasts["q_value"] < level)]
    return set(zip(c["actor_id"], c["source_a"]))


# ------------------------------------------------------------------------------- distinctive terms


def log_odds(counts_a: np.ndarray, counts_b: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted log-odds ratio of each feature in a against b, and its z-score (Monroe et al. 2008, eq. 16-22).

    ``delta_w = log((y_aw + α_w) / (n_a + α0 - y_aw - α_w)) - log((y_bw + α_w) / (n_b + α0 - y_bw - α_w))``,
    ``var ≈ 1 / (y_aw + α_w) + 1 / (y_bw + α_w)``, ``z = delta / sqrt(var)``.

    Args:
        counts_a: each feature's count in group a.
        counts_b: the same features' counts in group b.
        prior: the Dirichlet prior α (informative: proportional to the features' counts in a background,
            here both groups together), all positive.

    Raises:
        ValueError: ``prior`` holds fewer than two features, or one that is not positive. A feature's odds
            are its count against the other features' (``n + α0 - y_w - α_w``): with one feature there is
            none, its share is 1 in both groups and nothing sets a group apart; a prior of zero leaves the
            log of a count of zero.

    Example:
        >>> d, z = log_odds(np.array([30, 5]), np.array([10, 25]), np.array([40, 30]))
        >>> (d > 0).tolist(), bool(z[0] > 2 and z[1] < -2)
        ([True, False], True)
    """
    a, b, alpha = (np.asarray(x, dtype=np.float64) for x in (counts_a, counts_b, prior))
    if len(alpha) < 2 or not (alpha > 0).all():
        raise ValueError("prior must hold two features or more, each positive (a feature's odds are against the "
                         f"other features'); got {len(alpha)} feature(s), {int((alpha <= 0).sum())} not positive")
    n_a, n_b, a0 = a.sum(), b.sum(), alpha.sum()
    delta = np.log((a + alpha) / (n_a + a0 - a - alpha)) - np.log((b + alpha) / (n_b + a0 - b - alpha))
    z = delta / np.sqrt(1.0 / (a + alpha) + 1.0 / (b + alpha))
    return delta, z


@dataclass(frozen=True)
class WordCounts:
    """Documents x words: ``counts`` (sparse) for ``doc_ids`` (sorted) over ``vocabulary``; see :func:`word_counts`."""

    doc_ids: np.ndarray
    counts: object
    vocabulary: np.ndarray


def word_counts(documents: pd.DataFrame) -> WordCounts:
    """Each document's words: the topic terms' tokens (letters, inner hyphens) in lower case, stop words out.

    Counted once for :func:`distinctive_terms` and :func:`pair_log_odds`, which take it as ``words``.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    from analysis.topics import _TERM_PATTERN, _stop_words

    docs = documents.sort_values("doc_id", kind="stable")
    ids = docs["doc_id"].astype(str).to_numpy()
    vec = CountVectorizer(token_pattern=_TERM_PATTERN, lowercase=True, dtype=np.int64)
    try:
        x = vec.fit_transform(docs["text"].astype(str).tolist())
    except ValueError:          # no word at all (empty documents)
        return WordCounts(ids, sparse.csr_matrix((len(ids), 0), dtype=np.int64), np.array([], dtype=object))
    vocab = vec.get_feature_names_out()
    # stop words dropped from the vocabulary afterwards: CountVectorizer tests each token against them as
    # a list (1.8 s instead of 0.3 s on 2,870 RUWA headlines)
    keep = np.flatnonzero(~np.isin(vocab, list(_stop_words())))
    return WordCounts(ids, x.tocsr()[:, keep], vocab[keep])


def _group_matrix(labels: np.ndarray, groups: list[str]):
    from scipy import sparse

    col = {g: i for i, g in enumerate(groups)}
    rows = np.array([col.get(v, -1) for v in labels])
    keep = rows >= 0
    return sparse.csr_matrix((np.ones(keep.sum()), (rows[keep], np.flatnonzero(keep))),
                             shape=(len(groups), len(labels)))


def _distinct(kind: str, feature_kind: str, groups: list[str], per_group: np.ndarray, names: np.ndarray,
              top_n: int) -> list:
    """Rows for each group against the others together, the ``top_n`` features of highest z (z > 0).

    None with fewer than two groups or fewer than two features counted in them (:func:`log_odds`;
    :func:`reasons` says why).
    """
    rows = []
    total = per_group.sum(0)
    keep = total > 0
    per_group, total, names = per_group[:, keep], total[keep], names[keep]
    if len(groups) < 2 or len(names) < 2:
        return rows
    for g, counts in zip(groups, per_group):
        rest = total - counts
        delta, z = log_odds(counts, rest, total)
        cand = np.flatnonzero((counts > 0) & (z > 0))
        # highest z first, ties by the feature's name
        order = cand[np.lexsort((names[cand], -np.round(z[cand], 9)))][:top_n]
        rows += [(kind, g, feature_kind, r + 1, str(names[i]), int(counts[i]), int(rest[i]), _r(delta[i]), _r(z[i]))
                 for r, i in enumerate(order)]
    return rows


def distinctive_terms(documents: pd.DataFrame, mentions: pd.DataFrame, period: str = "month",
                      top_n: int = 20, words: WordCounts | None = None) -> pd.DataFrame:
    """The words and the actors that most set each source, and each period, apart from the rest.

    For each source against all other sources together (and each period against all other periods):
    the weighted log-odds ratio of every word and every actor with an informative Dirichlet prior (the
    counts of all the compared documents together), and its z-score (:func:`log_odds`); the ``top_n``
    features of highest z are kept. Words are the topic terms' tokens (letters, inner hyphens) in
    lower case, English and news stop words left out; actors are counted mentions.

    Args:
        documents: ``documents`` (``text``, ``source``, ``published``).
        mentions: ``actor_mentions`` (counted mentions are the actors' counts).
        period: ``summary.period``.
        top_n: features kept per group and kind (``summary.distinctive_terms``).
        words: :func:`word_counts` of ``documents``, when the caller has it; counted here otherwise.

    Returns:
        group_kind (``source`` or ``period``), group, feature_kind (``word`` or ``actor``), rank (1: the
        highest z), feature (a word or an actor_id), count (in the group), count_rest (in the others),
        log_odds, z; sorted by group_kind, group, feature_kind, rank.
    """
    docs = documents.sort_values("doc_id", kind="stable").reset_index(drop=True)
    counted = mentions[mentions["counted"].astype(bool)]
    period_label, _ = period_of(docs["published"], period)
    labels = {"source": docs["source"].astype(str).to_numpy(), "period": period_label.to_numpy()}
    rows = []
    for kind, lab in labels.items():
        groups = sorted(set(lab) - {""})
        if len(groups) < 2:
            continue
        if words is None:
            words = word_counts(docs)
        gm = _group_matrix(lab, groups)
        if len(words.vocabulary):
            rows += _distinct(kind, "word", groups, np.asarray((gm @ words.counts).todense()), words.vocabulary, top_n)
        actor_names = np.array(sorted(counted["actor_id"].unique()), dtype=object)
        if len(actor_names):
            group_of = dict(zip(docs["doc_id"], lab))
            c = counted.assign(_g=counted["doc_id"].map(group_of).fillna(""))
            c = c[c["_g"] != ""]
            tab = pd.crosstab(c["_g"], c["actor_id"]).reindex(index=groups, columns=actor_names, fill_value=0)
            rows += _distinct(kind, "actor", groups, tab.to_numpy(np.int64), actor_names, top_n)
    out = _frame("distinctive_terms", rows)
    return out.sort_values(["group_kind", "group", "feature_kind", "rank"], kind="stable").reset_index(drop=True)


def pair_log_odds(documents: pd.DataFrame, source_a: str, source_b: str,
                  words: WordCounts | None = None) -> pd.DataFrame:
    """Every word's weighted log-odds of ``source_a`` against ``source_b`` (prior: both together), for a plot.

    Args:
        documents: ``documents``.
        source_a: one outlet.
        source_b: the other.
        words: :func:`word_counts` of ``documents``, when the caller has it; counted here otherwise.

    Returns:
        feature (the words of either outlet), count_a, count_b, log_odds, z (positive: more ``source_a``'s),
        sorted by z; empty when the two outlets have fewer than two words together (:func:`log_odds`).
    """
    if words is None:
        words = word_counts(documents[documents["source"].isin([source_a, source_b])])
    source = documents.set_index("doc_id")["source"].astype(str).reindex(words.doc_ids).fillna("").to_numpy()
    gm = _group_matrix(source, [source_a, source_b])
    ca, cb = np.asarray((gm @ words.counts).todense()).astype(np.int64).reshape(2, -1)
    used = (ca + cb) > 0
    if used.sum() < 2:
        return pd.DataFrame({"feature": pd.Series(dtype="str"), "count_a": pd.Series(dtype="int64"),
                             "count_b": pd.Series(dtype="int64"), "log_odds": pd.Series(dtype="float64"),
                             "z": pd.Series(dtype="float64")})
    ca, cb = ca[used], cb[used]
    delta, z = log_odds(ca, cb, ca + cb)
    out = pd.DataFrame({"feature": words.vocabulary[used].astype(str), "count_a": ca, "count_b": cb,
                        "log_odds": delta.round(6), "z": z.round(6)})
    return out.sort_values(["z", "feature"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------- reporting


def reasons(documents: pd.DataFrame, units: pd.DataFrame | None = None,
            words: WordCounts | None = None) -> dict[str, str]:
    """Why a comparison is empty, by kind; nothing for one that can be made.

    ``source``: no outlets to compare (every table by outlet is empty); ``period``: no dates (every table
    by period is empty); ``tone``: no counted actor mention in ``units``, or none with a targeted score
    (the tone tables are empty, the distinctive words are not). Where outlets or dates are compared:
    ``distinctive_actors``, the documents with an outlet or a date name one actor only in ``units``, and
    ``distinctive_words``, they have fewer than two words in ``words`` (:func:`word_counts`): a feature
    stands apart by its share of all the features (:func:`log_odds`), so ``distinctive_terms`` has no
    row of that kind.

    Example:
        >>> reasons(pd.DataFrame({"source": ["", ""], "published": ["2022-03-01", "2022-04-01"]}))
        {'source': 'the corpus has no sources (set corpus.source_column)'}
    """
    out = {}
    sources = set(documents["source"].astype(str)) - {""}
    dates = set(documents["published"].astype(str)) - {""}
    if not sources:
        out["source"] = "the corpus has no sources (set corpus.source_column)"
    elif len(sources) == 1:
        out["source"] = f"the corpus has one source only ({next(iter(sources))})"
    if not dates:
        out["period"] = "the corpus has no dates (set corpus.date_column)"
    if units is not None and not len(units):
        out["tone"] = "the corpus has no counted actor mention"
    elif units is not None and not units["score"].notna().any():
        out["tone"] = "no counted actor mention has a targeted score (table actor_mention_sentiment is missing or empty)"
    if "source" in out and "period" in out:
        return out
    if units is not None and len(units):
        named = sorted(set(units.loc[(units["source"] != "") | (units["published"] != ""), "actor_id"]))
        if len(named) == 1:
            out["distinctive_actors"] = (f"the corpus names one actor only ({named[0]}), and an actor stands apart "
                                         "only by its share of all the actors' mentions")
    if words is not None:
        docs = documents.set_index("doc_id").reindex(words.doc_ids)
        labelled = ((docs["source"].fillna("").astype(str) != "") | (docs["published"].fillna("").astype(str) != ""))
        used = words.vocabulary[np.asarray(words.counts[np.flatnonzero(labelled.to_numpy())].sum(0)).ravel() > 0]
        if not len(used):
            out["distinctive_words"] = "the documents have no word outside the stop words"
        elif len(used) == 1:
            out["distinctive_words"] = (f"the documents have one word only outside the stop words ({used[0]}), "
                                        "and a word stands apart only by its share of all the words")
    return out


def _q_text(q: float) -> str:
    return "q < 0.001" if q < 0.001 else f"q = {q:.3f}"


def contrast_findings(contrasts: pd.DataFrame, per_source: pd.DataFrame, actors: pd.DataFrame,
                      max_lines: int = 5, level: float = Q_LEVEL) -> list[str]:
    """Plain lines for the largest pairwise differences that survive the correction (q < ``level``).

    At most one line per actor (its largest difference), the ``max_lines`` largest; actors by display name,
    the outlet of lower tone first: "Tone toward NATO: rt.com -0.41 [-0.48, -0.34] vs bbc.co.uk -0.05 [-0.12, +0.02]; difference -0.36
    [-0.45, -0.27], q < 0.001."
    """
    n_tested, n_sig = len(contrasts), int((contrasts["q_value"] < level).sum())
    sig = contrasts[(contrasts["q_value"] < level) & (contrasts["source_b"] != ALL_OTHERS)
                    & (contrasts[["documents_a", "documents_b"]].min(axis=1) >= FINDING_MIN_DOCUMENTS)]
    if sig.empty:
        return ([f"Tone toward actors by outlet: no pair of outlets with {FINDING_MIN_DOCUMENTS} documents or more "
                 f"each differs at q < {level} ({n_sig} of {n_tested} contrasts, pairs and one-against-the-rest, "
                 "Benjamini-Hochberg over all of them)."] if n_tested else [])
    names = dict(zip(actors["actor_id"], actors["name"]))
    cell = per_source.set_index(["actor_id", "source"])
    # ranked by the end of the difference's interval nearest zero: the smallest difference the data support,
    # so a wide interval from a handful of documents does not outrank a well-measured one
    supported = np.minimum(sig["ci_low"].abs(), sig["ci_high"].abs())
    best = (sig.assign(_supported=supported)
            .sort_values(["_supported", "actor_id", "source_a", "source_b"], ascending=[False, True, True, True],
                         kind="stable")
            .drop_duplicates("actor_id").head(max_lines))

    def side(actor, source) -> str:
        r = cell.loc[(actor, source)]
        ci = f" [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]" if pd.notna(r["ci_low"]) else ""
        docs = int(r["documents"])
        return f"{source} {r['target_tone']:+.2f}{ci} ({docs:,} document{'s' if docs != 1 else ''})"

    out = [f"Tone toward actors by outlet: {n_sig} of {n_tested} pairwise and one-against-the-rest contrasts "
           f"differ at q < {level} (Benjamini-Hochberg); the largest between outlets of {FINDING_MIN_DOCUMENTS} documents or "
           "more, one per actor:"]
    for _, r in best.iterrows():
        a, b, d, lo, hi = r["source_a"], r["source_b"], r["difference"], r["ci_low"], r["ci_high"]
        if d > 0:            # the lower tone first, as a reader asks it: who is more negative, by how much
            a, b, d, lo, hi = b, a, -d, -hi, -lo
        out.append(f"Tone toward {names.get(r['actor_id'], r['actor_id'])}: {side(r['actor_id'], a)} vs "
                   f"{side(r['actor_id'], b)}; difference {d:+.2f} [{lo:+.2f}, {hi:+.2f}], {_q_text(r['q_value'])}.")
    return out


def distinctive_findings(terms: pd.DataFrame, per_group: int = 3, max_groups: int = 12) -> list[str]:
    """One line: the words that most set each outlet apart (highest z, at least 1.96), for up to ``max_groups`` outlets."""
    w = terms[(terms["group_kind"] == "source") & (terms["feature_kind"] == "word") & (terms["rank"] <= per_group)
              & (terms["z"] >= 1.96)]
    if w.empty:
        return []
    groups = sorted(w["group"].unique())
    shown = groups[:max_groups]
    more = f" ({len(groups) - len(shown)} more outlets in distinctive_terms)" if len(groups) > len(shown) else ""
    return ["Words that most set each outlet apart from the others (weighted log-odds z-scores): " + "; ".join(
        f"{g}: " + ", ".join(f"{f} ({z:.1f})" for f, z in zip(w.loc[w["group"] == g, "feature"], w.loc[w["group"] == g, "z"]))
        for g in shown) + more + "."]


def choose_log_odds_sources(documents: pd.DataFrame, chosen: Sequence[str] = ()) -> tuple[str, str] | None:
    """The two outlets of the log-odds figure: ``chosen`` (``summary.log_odds_sources``), else the two with most documents.

    ``None`` when the corpus has fewer than two outlets and none is chosen.

    Raises:
        ParameterError: an outlet of ``chosen`` is not a source of this corpus (names them), whatever the
            number of outlets, so that a misspelled outlet is never passed over.
    """
    from analysis.errors import ParameterError

    counts = documents.loc[documents["source"].astype(str) != "", "source"].astype(str).value_counts()
    if missing := [s for s in chosen if s not in counts.index]:
        known = (", ".join(sorted(counts.index)[:12]) + (", ..." if len(counts) > 12 else "")
                 or "none (set corpus.source_column)")
        raise ParameterError(f"parameter 'summary.log_odds_sources': {', '.join(missing)} is not a source of "
                             f"this corpus; its sources: {known}; got {list(chosen)!r}")
    if chosen:
        return chosen[0], chosen[1]
    if len(counts) < 2:
        return None
    top = counts.rename_axis("source").reset_index().sort_values(["count", "source"], ascending=[False, True],
                                                                 kind="stable")["source"].tolist()
    return top[0], top[1]


@dataclass
class Comparison:
    """What the summary stage writes about outlets and periods (:func:`compare_run`)."""

    actor_source_sentiment: pd.DataFrame
    actor_period_sentiment: pd.DataFrame
    source_contrasts: pd.DataFrame
    distinctive_terms: pd.DataFrame
    #: why a comparison is empty, by kind (``source``, ``period``, ``tone``, ``distinctive_actors``,
    #: ``distinctive_words``: :func:`reasons`)
    reasons: dict[str, str]
    findings: list[str]
    #: the two outlets of the log-odds figure and their words (:func:`pair_log_odds`); None: fewer than two
    log_odds_sources: tuple[str, str] | None
    log_odds: pd.DataFrame

    TABLES = ("actor_source_sentiment", "actor_period_sentiment", "source_contrasts", "distinctive_terms")

    def write(self, run) -> None:
        """Write the four tables into the run folder (empty ones too: every declared column)."""
        for name in self.TABLES:
            run.write_table(getattr(self, name), name)

    def why_empty(self, kind: str) -> str:
        """Why the tone by ``kind`` (``source`` or ``period``) is empty, for a figure; empty when it is not."""
        return self.reasons.get(kind) or self.reasons.get("tone", "")

    def apart(self) -> set[tuple[str, str]]:
        """The (actor_id, source) pairs whose tone differs from all other outlets together (:func:`apart_from_the_rest`)."""
        return apart_from_the_rest(self.source_contrasts)

    def summary(self) -> str:
        """One line: what was compared, how many contrasts survive the correction, or why nothing was."""
        parts = []
        c = self.source_contrasts
        if "source" in self.reasons or "tone" in self.reasons:
            parts.append(f"outlets not compared: {self.why_empty('source')}")
        else:
            parts.append(f"{self.actor_source_sentiment['source'].nunique()} outlets: "
                         f"{len(self.actor_source_sentiment):,} actor x outlet tones, {len(c):,} contrasts, "
                         f"{int((c['q_value'] < Q_LEVEL).sum()):,} at q < {Q_LEVEL}")
        if "period" in self.reasons or "tone" in self.reasons:
            parts.append(f"periods not compared: {self.why_empty('period')}")
        else:
            p = self.actor_period_sentiment
            parts.append(f"{p['period'].nunique()} periods: {len(p):,} actor x period tones, "
                         f"{int(p['flagged'].sum()):,} flagged (too few sentences)")
        return "; ".join(parts)


def compare_run(params, run) -> Comparison:
    """Compare outlets and periods from the tables of the earlier stages (parameters ``summary``, ``sentiment``).

    Without ``actor_mention_sentiment`` (or with none of its scores for a counted mention), as in
    :func:`analysis.summary.summarise`, no tone is compared: the tone tables are empty and ``reasons``
    says why; the distinctive words and the log-odds are computed as ever.
    """
    sp, cp = params.sentiment, params.summary
    documents, mentions, actors = run.read_table("documents"), run.read_table("actor_mentions"), run.read_table("actors")
    targets = run.read_table("actor_mention_sentiment") if run.has_table("actor_mention_sentiment") else None
    units = tone_units(mentions, targets, run.read_table("sentence_sentiment"), documents, sp.method)
    groups = reasons(documents)
    words = word_counts(documents) if "source" not in groups or "period" not in groups else None
    why = reasons(documents, units, words)
    if "tone" in why:
        units = units.iloc[:0]
    per_source = actor_source_sentiment(units, sp.min_sentences, sp.bootstrap_resamples, params.seed)
    per_period = actor_period_sentiment(units, cp.period, sp.min_sentences, sp.bootstrap_resamples, params.seed)
    compared = actors["actor_id"].tolist()[: cp.compare_actors] if cp.compare_actors else None
    contrasts = source_contrasts(units, compared, sp.min_sentences, sp.bootstrap_resamples, params.seed)
    terms = distinctive_terms(documents, mentions, cp.period, cp.distinctive_terms, words)
    pair = choose_log_odds_sources(documents, cp.log_odds_sources)
    pair_words = pair_log_odds(documents, *pair, words) if pair else pair_log_odds(documents.iloc[:0], "", "")
    titles = {"source": "Outlets not compared", "period": "Periods not compared",
              "tone": "Tone toward actors not compared by outlet or period",
              "distinctive_actors": "No actor set apart by outlet or period",
              "distinctive_words": "No word set apart by outlet or period"}
    lines = [f"{titles[kind]}: {text}." for kind, text in why.items()]
    lines += contrast_findings(contrasts, per_source, actors) + distinctive_findings(terms)
    return Comparison(per_source, per_period, contrasts, terms, why, lines, pair, pair_words)
