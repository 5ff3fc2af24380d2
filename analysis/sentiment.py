"""Sentence, document and actor-level tone with uncertainty, and a second method to check the first.

Scorers share one interface, ``score(texts) -> DataFrame`` with columns compound (-1..1), pos, neu,
neg. Documented thresholds: a sentence is positive when its compound is >= ``positive_threshold``
(default 0.05), negative when <= ``negative_threshold`` (default -0.05), neutral otherwise (VADER's own
convention). A document's tone is the mean of its sentences' compounds plus the shares of positive,
neutral and negative sentences, never one whole-document compound (which piles up near +1 for news).

Example:
    >>> VaderScorer().score(["NATO condemned the attack."])["compound"].round(2).tolist()
    [-0.72]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import schema
from analysis.errors import DictionaryError
from analysis.parallel import map_documents
from analysis.params import read_yaml_mapping
from analysis.randomness import keyed_rng
from analysis.tables import sort_rows
from analysis.topics import sentence_topics

__all__ = [
    "Scorer",
    "VaderScorer",
    "AfinnScorer",
    "make_scorer",
    "load_adjustments",
    "score_targets",
    "bootstrap_ci",
    "mean_ci",
    "SentimentTables",
    "analyse_sentiment",
]


class Scorer:
    """Base class: ``score(texts)`` returns compound, pos, neu, neg per text."""

    name = "base"

    def score(self, texts: list[str]) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError


class VaderScorer(Scorer):
    """VADER (lexicon + rules) at sentence level, optionally with domain valence adjustments."""

    name = "vader"

    def __init__(self, adjustments: dict[str, float] | None = None):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.adjustments = adjustments or {}
        self.analyzer_ = SentimentIntensityAnalyzer()
        self.analyzer_.lexicon = {**self.analyzer_.lexicon, **self.adjustments}

    def score(self, texts: list[str]) -> pd.DataFrame:
        rows = [self.analyzer_.polarity_scores(t) for t in texts]
        return pd.DataFrame(rows, columns=["compound", "pos", "neu", "neg"]).astype(float)


class AfinnScorer(Scorer):
    """AFINN word list (Nielsen 2011), an independent lexicon.

    Summed valence normalised like VADER's compound (``x / sqrt(x^2 + 15)``); pos/neg are the shares of
    positive/negative words.
    """

    name = "afinn"

    def __init__(self, adjustments: dict[str, float] | None = None):
        from afinn import Afinn

        self.adjustments = adjustments or {}
        self.afinn_ = Afinn(language="en")
        # The library's pattern is one alternation of its 3,382 entries, longest first, tried one by one at
        # every word boundary (12 s for 29k sentences). The same entries as a character trie find the same
        # words (at each boundary the longest entry that ends on a boundary; a test compares them).
        self.afinn_._pattern = re.compile(r"(\b" + _trie_regex(sorted(self.afinn_._dict)) + r"\b)")
        self.afinn_._dict = {**self.afinn_._dict, **{w: round(v * 5 / 4) for w, v in self.adjustments.items()}}

    def score(self, texts: list[str]) -> pd.DataFrame:
        rows = []
        for t in texts:
            vals = self.afinn_.scores_with_pattern(t)
            n = max(len(re.findall(r"\w+", t)), 1)
            total = float(sum(vals))
            pos = sum(v > 0 for v in vals) / n
            neg = sum(v < 0 for v in vals) / n
            rows.append((total / math.sqrt(total * total + 15), pos, 1 - pos - neg, neg))
        return pd.DataFrame(rows, columns=["compound", "pos", "neu", "neg"]).astype(float)


def _trie_regex(words: list[str]) -> str:
    """A regular expression matching exactly ``words``, as a character trie that prefers longer words.

    Example:
        >>> _trie_regex(["bad", "badly", "good"])
        '(?:bad(?:ly)?|good)'
    """
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = []
        for ch, sub in sorted(node.items()):
            if ch:
                rest, tail = re.escape(ch), sub
                while len(tail) == 1 and "" not in tail:          # fold a chain of single children
                    (c2, tail), = tail.items()
                    rest += re.escape(c2)
                alts.append(rest + emit(tail))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    out = emit(trie)
    return out if out.startswith("(?:") else f"(?:{out})"


def load_adjustments(path: Path | None) -> dict[str, float]:
    """Read the domain lexicon adjustment YAML: every entry needs word, valence (-4..4) and reason."""
    if path is None:
        return {}
    data = read_yaml_mapping(path, DictionaryError, "lexicon adjustment file", "parameter sentiment.lexicon_adjustments")
    out = {}
    for n, e in enumerate(data.get("adjustments", []), start=1):
        if not isinstance(e, dict) or not isinstance(e.get("word"), str) or not e.get("reason"):
            raise DictionaryError(f"{path}: entry #{n} {e!r} needs word, valence and a one-line reason")
        v = e.get("valence")
        if not isinstance(v, (int, float)) or not -4 <= v <= 4:
            raise DictionaryError(f"{path}: entry '{e['word']}' has valence {v!r}; allowed: a number in -4..4")
        out[e["word"].lower()] = float(v)
    return out


def make_scorer(method: str, adjustments: dict[str, float] | None = None) -> Scorer:
    """Scorer by name: ``vader`` or ``afinn``."""
    if method == "vader":
        return VaderScorer(adjustments)
    if method == "afinn":
        return AfinnScorer(adjustments)
    from analysis.errors import ParameterError

    raise ParameterError(f"parameter 'sentiment.method': allowed vader, afinn; got {method!r}")


_CLAUSE = re.compile(r"\s*(?:[,;:()—–]|\bbut\b|\bwhile\b|\bwhereas\b|\balthough\b|\bhowever\b)\s*", re.I)


def score_targets(sentences: list[str], spans: list[tuple[int, int]], method: str = "model",
                  scorer: Scorer | None = None, positive_threshold: float = 0.05, negative_threshold: float = -0.05,
                  model_path: Path | None = None, device: str = "auto", precision: str = "auto") -> pd.DataFrame:
    """Tone toward a target span (start, end character offsets) in each sentence.

    ``method="model"`` (default) uses the shipped target-dependent classifier
    (:mod:`analysis.targeted`, macro-F1 on held-out NewsMTSC in its model card): ``score`` is
    p(positive) - p(negative) and ``polarity`` the most probable class, with the three probabilities.
    ``method="clause"`` is the lexicon baseline: the compound of the clause holding the target (clauses
    split at commas, semicolons, dashes, brackets and contrastive conjunctions), or of the whole sentence
    when that clause has no scored word, classed with the thresholds.

    Returns:
        DataFrame with polarity (negative | neutral | positive) and score, one row per target.

    Raises:
        ValueError: a span lies outside its sentence. ParameterError: unknown ``method``.
    """
    if len(sentences) != len(spans):
        raise ValueError(f"{len(sentences)} sentences but {len(spans)} spans")
    for text, (start, end) in zip(sentences, spans):
        if not 0 <= start < end <= len(text):
            raise ValueError(f"target span ({start}, {end}) is outside its sentence of {len(text)} characters")
    if method == "model":
        from analysis.targeted import MODEL_FILE, TargetedScorer

        return TargetedScorer.load(model_path or MODEL_FILE, device, precision).score(list(sentences), list(spans))
    if method != "clause":
        from analysis.errors import ParameterError

        raise ParameterError(f"parameter 'sentiment.targeted_method': allowed model, clause; got {method!r}")
    scorer = scorer or VaderScorer()
    clauses = []
    for text, (start, end) in zip(sentences, spans):
        cuts = [0] + [m.end() for m in _CLAUSE.finditer(text)] + [len(text) + 1]
        a = max(c for c in cuts if c <= start)
        b = min(c for c in cuts if c >= end)
        clauses.append(text[a:b])
    score = _score_unique(scorer, clauses)
    # fall back to the whole sentence only where the clause has no scored word
    empty = np.flatnonzero(score == 0)
    if len(empty):
        score[empty] = _score_unique(scorer, [sentences[i] for i in empty])
    pol = np.where(score >= positive_threshold, "positive", np.where(score <= negative_threshold, "negative", "neutral"))
    return pd.DataFrame({"polarity": pol, "score": np.round(score, 6)})


def _holding_any(texts: list[str], words: dict[str, float]) -> np.ndarray:
    """Indices of the texts in which one of ``words`` occurs as a whole word (case-insensitive)."""
    if not words:
        return np.array([], dtype=int)
    pat = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")(?!\w)",
                     re.IGNORECASE)
    return np.array([i for i, t in enumerate(texts) if pat.search(t)], dtype=int)


def _score_frame_unique(scorer: Scorer, texts: list[str]) -> pd.DataFrame:
    """``scorer.score(texts)`` with each distinct text scored once (news repeats boilerplate sentences)."""
    uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    return scorer.score(uniq.tolist()).iloc[inverse].reset_index(drop=True)


def _score_unique(scorer: Scorer, texts: list[str]) -> np.ndarray:
    """Compound per text, each distinct text scored once (mentions share clauses and sentences)."""
    return _score_frame_unique(scorer, texts)["compound"].to_numpy(dtype=float, copy=True)


def bootstrap_ci(values: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean.

    The values are sorted first, so the interval depends on which values there are, not on the order
    they came in (a Dask partition, a sub-corpus). ``rng`` should serve this interval alone
    (:func:`analysis.randomness.keyed_rng` with the cell's key): drawn from a generator shared with other
    cells, an interval would depend on how many numbers the cells before it drew.

    Example:
        >>> from analysis.randomness import keyed_rng
        >>> a = bootstrap_ci(np.array([0.1, 0.5, -0.2, 0.3]), 1000, keyed_rng(42, "example"))
        >>> a == bootstrap_ci(np.array([0.3, -0.2, 0.5, 0.1]), 1000, keyed_rng(42, "example"))
        True
    """
    values = np.sort(np.asarray(values, dtype=float))
    if len(values) == 0:
        return (float("nan"), float("nan"))
    if len(values) == 1:
        return (float(values[0]), float(values[0]))
    idx = rng.integers(0, len(values), size=(resamples, len(values)))
    means = values[idx].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def mean_ci(values: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Mean (NaN when empty) and its percentile bootstrap 95% interval (see :func:`bootstrap_ci`).

    The mean is taken over the sorted values, so it does not depend on their order either (a float sum
    in another order can differ in its last bit, and then in its sixth decimal after rounding).
    """
    values = np.sort(np.asarray(values, dtype=float))
    lo, hi = bootstrap_ci(values, resamples, rng)
    return (float(np.mean(values)) if len(values) else float("nan")), lo, hi


@dataclass
class SentimentTables:
    """Everything the sentiment stage writes."""

    sentences: pd.DataFrame
    documents: pd.DataFrame
    agreement: pd.DataFrame
    actors: pd.DataFrame
    topics: pd.DataFrame
    targets: pd.DataFrame

    def write(self, run) -> None:
        """Write every table into the run folder."""
        run.write_table(self.sentences, "sentence_sentiment")
        run.write_table(self.documents, "document_sentiment")
        run.write_table(self.agreement, "method_agreement")
        run.write_table(self.actors, "actor_sentiment")
        run.write_table(self.targets, "actor_mention_sentiment")
        if len(self.topics):
            run.write_table(self.topics, "topic_sentiment")
        info = {}
        if run.params.sentiment.targeted_method == "model":
            from analysis import accel

            dev, prec = accel.resolve(run.params.embeddings.device, run.params.embeddings.precision)
            info["targeted_model"] = {"device": dev, "precision": prec}
            if run.params.embeddings.precision == "auto":
                info["targeted_model"]["calibration"] = accel.measured_precision(dev)
        run.record("sentiment", summary=self.summary(run.params.sentiment.method), **info)

    def summary(self, method: str) -> str:
        """One line: tone spread and method agreement."""
        d = self.documents[self.documents["method"] == method]
        overall = self.agreement[self.agreement["doc_id"] == "ALL"].iloc[0]
        line = (f"{int(d['n_sentences'].sum())} sentences; document mean compound {d['mean_compound'].min():.2f} "
                f"to {d['mean_compound'].max():.2f}; methods agree on the sign of "
                f"{overall['sign_agreement']:.0%} of sentences (pearson {overall['pearson']:.2f})")
        if len(self.targets):
            share = self.targets["polarity"].value_counts(normalize=True)
            line += (f"; tone toward {len(self.targets)} actor mentions ({self.targets['method'].iloc[0]}): "
                     f"{share.get('negative', 0):.0%} negative, {share.get('neutral', 0):.0%} neutral, "
                     f"{share.get('positive', 0):.0%} positive")
        return line


def _classes(x: np.ndarray, pos: float, neg: float) -> np.ndarray:
    return np.where(x >= pos, 1, np.where(x <= neg, -1, 0))


def _group_pearson(x: pd.Series, y: pd.Series, groups: pd.Series) -> pd.Series:
    """Pearson correlation of x and y within each group, vectorised; NaN under 3 values or no variation."""
    g = pd.DataFrame({"x": x.to_numpy(), "y": y.to_numpy(), "k": groups.to_numpy()}).groupby("k", sort=True)
    dx = x.to_numpy() - g["x"].transform("mean").to_numpy()
    dy = y.to_numpy() - g["y"].transform("mean").to_numpy()
    sums = pd.DataFrame({"xy": dx * dy, "xx": dx * dx, "yy": dy * dy, "k": groups.to_numpy()}).groupby("k", sort=True).sum()
    n = g.size()
    ok = (n >= 3) & (sums["xx"] > 1e-24) & (sums["yy"] > 1e-24)
    r = sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])
    return r.where(ok).clip(-1, 1)


def _agreement(both: pd.DataFrame, pos: float, neg: float) -> pd.DataFrame:
    """Per-document and overall (``ALL``) agreement of the two methods' adjusted compounds."""
    both = both.dropna(subset=["doc_id"])
    same = pd.Series(_classes(both["a"].to_numpy(), pos, neg) == _classes(both["b"].to_numpy(), pos, neg))

    def per_group(keys: pd.Series) -> pd.DataFrame:
        k = keys.to_numpy()
        return pd.DataFrame({
            "pearson": _group_pearson(both["a"], both["b"], keys),
            # Spearman: Pearson of the ranks (ties averaged) within each group
            "spearman": _group_pearson(both["a"].groupby(k).rank(), both["b"].groupby(k).rank(), keys),
            "sign_agreement": same.groupby(k).mean(),
            "n_sentences": keys.value_counts().sort_index(),
        })

    # the ALL row is always there (NaN, 0 sentences, when there is nothing to compare)
    overall = per_group(pd.Series("ALL", index=both.index)).reindex(["ALL"]).fillna({"n_sentences": 0})
    out = pd.concat([per_group(both["doc_id"].astype(str)), overall]).rename_axis("doc_id").reset_index()
    for c in ("pearson", "spearman", "sign_agreement"):
        out[c] = out[c].astype(float).round(6)
    out["n_sentences"] = out["n_sentences"].astype("int64")
    return out[schema.columns("method_agreement")]


class _ScoreDocuments:
    """Sentence scores and tone toward each mention for a slice of documents (a Dask partition or all)."""

    def __init__(self, params, adjustments: dict[str, float], sentences: pd.DataFrame,
                 counted: pd.DataFrame | None, target_method: str):
        self.params, self.adj, self.sents, self.counted, self.target_method = (
            params, adjustments, sentences, counted, target_method)

    def __call__(self, docs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        sp = self.params.sentiment
        sents = self.sents[self.sents["doc_id"].isin(docs["doc_id"])].reset_index(drop=True)
        texts = sents["text"].tolist()
        frames = []
        # Only a sentence holding an adjusted word can score differently with the adjustments.
        touched = _holding_any(texts, self.adj)
        for method in dict.fromkeys([sp.method, sp.second_method]):
            raw = _score_frame_unique(make_scorer(method), texts)
            adjusted = raw["compound"].to_numpy(dtype=float).copy()
            if len(touched):
                adjusted[touched] = _score_unique(make_scorer(method, self.adj), [texts[i] for i in touched])
            f = pd.concat([sents[["segment_id", "doc_id"]], raw], axis=1)
            f["method"] = method
            f["adjusted_compound"] = adjusted
            frames.append(f)
        ss = pd.concat(frames, ignore_index=True)
        for c in ("compound", "pos", "neu", "neg", "adjusted_compound"):
            ss[c] = ss[c].astype(float).round(6)
        ss = ss[schema.columns("sentence_sentiment")]
        targets = schema.empty("actor_mention_sentiment")
        if self.counted is not None:
            sent_text = sents.set_index("segment_id")
            cm = self.counted[self.counted["segment_id"].isin(sent_text.index)].reset_index(drop=True)
            if len(cm):
                s_start = cm["segment_id"].map(sent_text["start"]).to_numpy()
                s_len = cm["segment_id"].map(sent_text["end"]).to_numpy() - s_start
                # A mention can run past its sentence when the splitter cut inside a name
                # ("Censor. NET"): score the part inside the sentence.
                spans = list(zip(cm["start"].to_numpy() - s_start, np.minimum(cm["end"].to_numpy() - s_start, s_len)))
                lexicon = make_scorer(sp.method, self.adj) if sp.targeted_method == "clause" else None
                tscore = score_targets(cm["segment_id"].map(sent_text["text"]).tolist(), spans, sp.targeted_method,
                                       lexicon, sp.positive_threshold, sp.negative_threshold,
                                       self.params.resolve(sp.targeted_model) if sp.targeted_model else None,
                                       self.params.embeddings.device, self.params.embeddings.precision)
                targets = pd.concat([cm[["doc_id", "segment_id", "actor_id", "surface", "start", "end"]], tscore], axis=1)
                targets["method"] = self.target_method
                # the class probabilities are the model's: empty (NaN) with the clause method
                targets = targets.reindex(columns=schema.columns("actor_mention_sentiment"))
        return ss, targets


def analyse_sentiment(params, documents: pd.DataFrame, segments: pd.DataFrame, mentions: pd.DataFrame | None,
                      segment_topics: pd.DataFrame | None) -> SentimentTables:
    """Run the sentiment stage for validated ``params``."""
    sp = params.sentiment
    adj = load_adjustments(params.resolve(sp.lexicon_adjustments))
    sents = segments[segments["unit"] == "sentence"].reset_index(drop=True)
    counted = mentions[mentions["counted"]] if mentions is not None and len(mentions) else None
    target_method = "targeted_model" if sp.targeted_method == "model" else f"{sp.method}_clause"
    ss, targets = map_documents(_ScoreDocuments(params, adj, sents, counted, target_method), documents, params.compute)
    # in the mentions' order (actors.MENTION_KEY), however the documents were split
    targets = sort_rows(targets, ["doc_id", "start", "end", "actor_id"])
    # One block per method, sentences in corpus order (identical whichever way the slices ran).
    rank = {m: i for i, m in enumerate(dict.fromkeys([sp.method, sp.second_method]))}
    ss = ss.sort_values("method", key=lambda m: m.map(rank), kind="stable").reset_index(drop=True)
    cls = _classes(ss["compound"].to_numpy(), sp.positive_threshold, sp.negative_threshold)
    ss_c = ss.assign(_pos=cls == 1, _neu=cls == 0, _neg=cls == -1)
    g = ss_c.groupby(["doc_id", "method"], sort=True)
    docs = pd.DataFrame({"mean_compound": g["compound"].mean().round(6), "share_positive": g["_pos"].mean().round(6),
                         "share_neutral": g["_neu"].mean().round(6), "share_negative": g["_neg"].mean().round(6),
                         "n_sentences": g.size(), "mean_adjusted_compound": g["adjusted_compound"].mean().round(6)}
                        ).reset_index()[schema.columns("document_sentiment")]
    # Agreement between the two methods, per document and overall.
    primary = ss[ss["method"] == sp.method].set_index("segment_id")["adjusted_compound"]
    second = ss[ss["method"] == sp.second_method].set_index("segment_id")["adjusted_compound"]
    both = pd.DataFrame({"a": primary, "b": second, "doc_id": sents.set_index("segment_id")["doc_id"]})
    agreement = _agreement(both, sp.positive_threshold, sp.negative_threshold)
    actor_rows = []
    if counted is not None:
        for actor_id, grp in counted.groupby("actor_id", sort=True):
            vals = primary.reindex(grp["segment_id"].unique()).dropna().to_numpy()
            tv = targets.loc[targets["actor_id"] == actor_id].drop_duplicates(["segment_id"])["score"].to_numpy()
            for v, method in ((vals, f"{sp.method}_sentence"), (tv, target_method)):
                # each interval from a generator of its own: the same whatever other actors there are
                rng = keyed_rng(params.seed, "actor_sentiment", actor_id, method)
                actor_rows.append((actor_id, len(v), *mean_ci(v, sp.bootstrap_resamples, rng), method,
                                   len(v) < sp.min_sentences))
    # explicit dtypes: with no actor mentions the (empty) table must still filter and sort like a full one
    actors = schema.frame("actor_sentiment", actor_rows).astype(
        {"n_sentences": "int64", "mean": "float64", "ci_low": "float64", "ci_high": "float64", "flagged": "bool"})
    for c in ("mean", "ci_low", "ci_high"):
        actors[c] = actors[c].round(6)
    topics = schema.empty("topic_sentiment")
    if segment_topics is not None and len(segment_topics):
        key = sentence_topics(segment_topics, sents)
        st = pd.DataFrame({"topic": key, "v": primary.reindex(sents["segment_id"]).to_numpy()}).dropna()
        trows = []
        for t, grp in st.groupby("topic", sort=True):
            rng = keyed_rng(params.seed, "topic_sentiment", int(t), sp.method)
            mean, lo, hi = mean_ci(grp["v"].to_numpy(), sp.bootstrap_resamples, rng)
            trows.append((int(t), len(grp), round(mean, 6), round(lo, 6), round(hi, 6), sp.method))
        topics = schema.frame("topic_sentiment", trows)
    return SentimentTables(ss, docs, agreement, actors.sort_values(["method", "actor_id"], kind="stable").reset_index(drop=True),
                           topics, targets)

