"""Topic modelling with BERTopic, every part explicit, from five documents to a hundred thousand.

:class:`TopicModel` has scikit-learn's shape: ``__init__`` stores arguments, ``fit(units, embeddings)``
returns ``self``, fitted attributes end in ``_``, randomness only through ``random_state``.

Set-up, derived from the number of units ``n`` unless given:

* ``n < 3``: an error (no topic structure can be estimated).
* ``n <= small_corpus_max_units`` (default 60): **small-corpus fallback**. UMAP's spectral
  initialisation fails when there are fewer points than neighbours and HDBSCAN puts nearly everything
  in the outlier topic on tiny data, so embeddings are not reduced and KMeans clusters them, with
  ``k`` in ``2..min(8, n-1)`` chosen by the silhouette score (cosine). There are no outliers.
* otherwise UMAP (``n_neighbors = min(15, n - 1)``, 5 components, cosine, ``min_dist=0``,
  ``random_state``) then HDBSCAN with ``min_cluster_size = clip(sqrt(n) / 2, 5, 100)`` and
  ``min_samples = max(2, min_cluster_size // 4)``; outliers are then reassigned by embedding
  similarity when ``reduce_outliers`` is on, and the share before and after is reported. The topic
  terms still come from HDBSCAN's clusters (``terms_from="clusters"``): reassigned outliers join a
  topic without reshaping its description, as BERTopic's author advises ("outliers might actually hurt
  the topic representation"); measured under ``terms_from`` below.

Words: English stop words (plus news filler such as "said"), words (bigrams with ``ngram_max=2``)
occurring in at least ``min_df`` units (1 below 300 units, then one in a thousand within 2..20),
c-TF-IDF with frequent-word reduction; KeyBERTInspired then MMR give a second representation. By
default (``representation="ctfidf"``) the c-TF-IDF terms are the topic terms and the KeyBERTInspired +
MMR terms are kept beside them (``keybert_terms``): on RUWA the c-TF-IDF terms are both more coherent
and more diverse (16,351 documents: npmi 0.157 vs -0.040, diversity 0.920 vs 0.594), and KeyBERT's
embedding similarity tends to pick spelling variants of one name ("zaporizhzhia, zaporozhye,
zaporizhia"). ``representation="keybert_mmr"`` swaps them. Labels are the top three distinct terms.
``probability`` of a unit is the softmax (temperature 0.05) of its cosine similarity
to each topic centroid, taken at its assigned topic: comparable across all set-ups. ``clustered``
is true where HDBSCAN (or KMeans) put the unit in its topic itself, false for an outlier given its
nearest topic and for a unit outside the fitting sample (``fit_sample_limit``): filter on it to read
a topic's core.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import schema
from analysis.accel import cuda_available
from analysis.errors import AnalysisError, ParameterError

logging.getLogger("BERTopic").setLevel(logging.ERROR)

__all__ = [
    "TopicModel",
    "choose_unit",
    "build_units",
    "npmi_coherence",
    "npmi_coherences",
    "topic_diversity",
    "sentence_topics",
    "topics_over_time",
    "topics_per_source",
]

_NEWS_STOP = {"said", "says", "say", "told", "according", "also", "would", "could", "one", "two", "new",
              "year", "years", "week", "mr", "ms", "including", "like", "just", "us", "it’s", "s"}


def choose_unit(unit: str, n_documents: int, auto_sentence_max_documents: int = 200) -> tuple[str, str]:
    """Resolve ``auto`` and say why: sentences for small corpora, documents for large ones."""
    if unit != "auto":
        return unit, f"unit '{unit}' was set in the parameters"
    if n_documents <= auto_sentence_max_documents:
        return "sentence", (f"auto: {n_documents} documents <= {auto_sentence_max_documents}, so sentences are "
                            "the units (documents alone are too few to form topics)")
    return "document", (f"auto: {n_documents} documents > {auto_sentence_max_documents}, so whole documents "
                        "are the units")


def build_units(unit: str, documents: pd.DataFrame, segments: pd.DataFrame,
                sentence_vectors: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the units (segment_id, doc_id, text) and their embeddings.

    Paragraph and document embeddings are the mean of their sentences' embeddings, which are cached:
    no text is encoded twice and long documents are not truncated at the encoder's 256 tokens.
    """
    sents = segments[segments["unit"] == "sentence"].reset_index(drop=True)
    if len(sents) != len(sentence_vectors):
        raise AnalysisError("sentence embeddings do not match the sentences; rerun the corpus stage")
    if unit == "sentence":
        return sents[["segment_id", "doc_id", "text"]].copy(), sentence_vectors
    if unit == "paragraph":
        units = segments[segments["unit"] == "paragraph"][["segment_id", "doc_id", "text"]].reset_index(drop=True)
        key = sents["paragraph_id"]
    elif unit == "document":
        units = documents[["doc_id", "doc_id", "text"]].copy()
        units.columns = ["segment_id", "doc_id", "text"]
        key = sents["doc_id"]
    else:
        raise ParameterError(f"parameter 'topics.unit': allowed document, paragraph, sentence; got {unit!r}")
    codes = pd.Categorical(key, categories=units["segment_id"]).codes
    sums = np.zeros((len(units), sentence_vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, codes[codes >= 0], sentence_vectors[codes >= 0])
    counts = np.bincount(codes[codes >= 0], minlength=len(units))
    keep = counts > 0
    vecs = (sums[keep] / counts[keep, None]).astype(np.float32)
    return units[keep].reset_index(drop=True), vecs


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


KEYBERT_ASPECT = "KeyBERT_MMR"


def _cached_backend(embedder, known: dict[str, np.ndarray] | None = None):
    """A BERTopic embedding backend that embeds words and documents through our cached Embedder.

    ``known`` maps the fitted units' texts to their vectors: a representative document BERTopic asks
    for gets the vector the clustering used (for document and paragraph units the mean of their
    sentence vectors) instead of a second MiniLM pass over its whole text, cut at 256 tokens, which
    would cost a large share of the stage.
    """
    from bertopic.backend import BaseEmbedder

    known = known or {}

    class _CachedBackend(BaseEmbedder):
        def __init__(self, enc):
            super().__init__()
            self.enc = enc

        def embed(self, documents, verbose: bool = False) -> np.ndarray:
            documents = list(documents)
            if not documents:
                return self.enc.encode([], persist=False)
            todo = [d for d in dict.fromkeys(documents) if d not in known]
            # words and other texts: many small calls, kept in memory, not on disk
            new = dict(zip(todo, self.enc.encode(todo, persist=False))) if todo else {}
            return np.stack([known[d] if d in known else new[d] for d in documents]).astype(np.float32)

    return _CachedBackend(embedder)


def _batched_mmr(**kwargs):
    """BERTopic's ``MaximalMarginalRelevance`` with its vectors asked for in one call, not two per topic.

    MMR embeds each topic's words, then the topic's words joined into one string, topic by topic: two
    small MiniLM calls per topic. Here every word
    and every joined string goes to the backend in one call first; the backend keeps them in memory
    (:func:`_cached_backend`), so MMR's own calls find them there. A vector depends on its text alone
    (:func:`analysis.embeddings.encode_pretokenized`), so the terms are the ones MMR picks unbatched.
    """
    from bertopic.representation import MaximalMarginalRelevance

    class _BatchedMMR(MaximalMarginalRelevance):
        def extract_topics(self, topic_model, documents, c_tf_idf, topics):
            if topic_model.embedding_model is not None and topics:
                words = [[w for w, _ in tw] for tw in topics.values()]
                texts = [w for ws in words for w in ws] + [" ".join(ws) for ws in words]
                topic_model._extract_embeddings(list(dict.fromkeys(texts)), method="word", verbose=False)
            return super().extract_topics(topic_model, documents, c_tf_idf, topics)

    return _BatchedMMR(**kwargs)


# Topic terms, and the words npmi counts: one pattern. Two letters or more; a hyphen only between
# letters, so "full-scale" is one term while "S-300" and "F-16" leave no "s-" or "f-" behind.
_TERM_PATTERN = r"(?u)\b[A-Za-z](?:[A-Za-z]|-(?=[A-Za-z]))+(?<!-)\b"


def _stop_words() -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS | _NEWS_STOP)


@dataclass
class _Setup:
    path: str
    n_neighbors: int | None
    min_cluster_size: int | None
    k: int | None
    reason: str


class TopicModel:
    """A reproducible BERTopic model over pre-computed unit embeddings.

    Args:
        n_neighbors: UMAP neighbours; derived from the unit count when ``None``.
        n_components: UMAP output dimensions.
        min_cluster_size: HDBSCAN minimum cluster size; derived when ``None``.
        nr_topics: merge topics down to this number (or ``"auto"``); ``None`` keeps them.
        representation: ``ctfidf`` (topic terms from c-TF-IDF; KeyBERTInspired + MMR as an aspect) or
            ``keybert_mmr`` (topic terms from KeyBERTInspired then MMR).
        mmr_diversity: MMR diversity, 0..1.
        reduce_outliers: reassign HDBSCAN outliers to topics by embedding similarity.
        terms_from: ``clusters`` (topic terms, c-TF-IDF and the saved BERTopic model describe HDBSCAN's
            clusters; the reassigned outliers do not reshape them) or ``assigned`` (terms extracted again
            from every unit of a topic after reassignment). On the first 10k RUWA rows ``clusters`` gave
            npmi 0.086 / 0.074 / 0.060 against 0.050 / 0.043 / 0.036 (seeds 42 / 1 / 2), the same
            diversity (0.92 / 0.91 / 0.91 against 0.92 / 0.91 / 0.92) and the same assignment.
        small_corpus_max_units: up to this many units, KMeans on unreduced embeddings is used.
        top_n_words: terms kept per topic.
        ngram_max: longest n-gram in the vectoriser (1: words; 2: words and bigrams). Words are the
            default: on 10k RUWA documents bigram terms rarely co-occur and npmi fell from -0.23 to -0.72.
        min_df: a term must occur in at least this many units to be a topic term; ``None`` derives it
            from the unit count (:meth:`min_df_for`). Rarer words (names, misspellings) describe a
            handful of documents, not a topic of hundreds, and rarely co-occur with the topic's other
            terms. On the first 10k RUWA rows (9,806 documents) npmi rose with it for every encoder,
            diversity unchanged: min_df 2 / 5 / 10 gave 0.014 / 0.023 / 0.046 (MiniLM bfloat16),
            0.035 / 0.045 / 0.056 (MiniLM float32), 0.083 / 0.084 / 0.095 (model2vec).
        knn: UMAP's nearest neighbours: ``exact`` (cosine by matrix products with torch, on the GPU when
            present), ``nndescent`` (UMAP's own approximate search), ``auto`` (exact up to
            ``EXACT_KNN_CPU_MAX`` units on CPU, always on a GPU).
        umap_epochs: epochs of UMAP's layout; ``None`` is UMAP's own choice (500 below 10,000 units, 200
            from there). A seeded UMAP optimises on one core, so epochs are most of the stage's time;
            topic quality moves between layouts as much at any epoch count (bench/README.md, "UMAP
            epochs"), so fewer epochs are worth setting on large corpora.
        random_state: seed of UMAP, KMeans, KeyBERTInspired and the fitting sample.
        fit_sample_limit: above this many units, fit on a seeded random sample of this size and assign
            the other units with :meth:`transform` (nearest topic centroid); ``None`` fits on all.
        embedder: an :class:`analysis.embeddings.Embedder` for word embeddings (KeyBERTInspired);
            ``None``: the project's default MiniLM embedder.

    Example:
        >>> tm = TopicModel(random_state=0).fit(units, vectors)   # doctest: +SKIP
        >>> tm.topics_table_.head()                                # doctest: +SKIP
    """

    def __init__(self, n_neighbors=None, n_components=5, min_cluster_size=None, nr_topics=None,
                 representation="ctfidf", mmr_diversity=0.3, reduce_outliers=True,
                 small_corpus_max_units=60, top_n_words=10, random_state=42, fit_sample_limit=None,
                 knn="auto", ngram_max=1, min_df=None, umap_epochs=200, terms_from="clusters", embedder=None):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.min_cluster_size = min_cluster_size
        self.nr_topics = nr_topics
        self.representation = representation
        self.mmr_diversity = mmr_diversity
        self.reduce_outliers = reduce_outliers
        self.terms_from = terms_from
        self.small_corpus_max_units = small_corpus_max_units
        self.top_n_words = top_n_words
        self.random_state = random_state
        self.fit_sample_limit = fit_sample_limit
        self.knn = knn
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.umap_epochs = umap_epochs
        self.embedder = embedder

    # ----------------------------------------------------------------------------- set-up
    def _setup(self, n: int, vecs: np.ndarray) -> _Setup:
        if n <= self.small_corpus_max_units:
            from sklearn.cluster import KMeans
            from sklearn.metrics import silhouette_score

            best, best_k = -2.0, 2
            for k in range(2, min(8, n - 1) + 1):
                labels = KMeans(k, n_init=10, random_state=self.random_state).fit_predict(vecs)
                if len(set(labels)) < 2:
                    continue
                s = silhouette_score(vecs, labels, metric="cosine")
                if s > best + 1e-9:
                    best, best_k = s, k
            return _Setup("kmeans", None, None, best_k,
                          f"{n} units <= small_corpus_max_units={self.small_corpus_max_units}: no UMAP, KMeans "
                          f"with k={best_k} (best silhouette {best:.3f} over k=2..{min(8, n - 1)})")
        nn = self.n_neighbors or min(15, n - 1)
        if nn >= n:
            raise ParameterError(f"parameter 'topics.n_neighbors' must be below the number of units ({n}); got {nn}")
        mcs = self.min_cluster_size or int(np.clip(round(math.sqrt(n) / 2), 5, 100))
        return _Setup("umap_hdbscan", nn, mcs, None,
                      f"{n} units: UMAP(n_neighbors={nn}, n_components={self.n_components}) + "
                      f"HDBSCAN(min_cluster_size={mcs})")

    def min_df_for(self, n: int) -> int:
        """Least number of units a topic term must occur in.

        ``min_df`` when given, else 1 below 300 units, then one in a thousand units, at least 2, at most 20.
        """
        if self.min_df is not None:
            return self.min_df
        return 1 if n < 300 else int(np.clip(n // 1000, 2, 20))

    def _vocabulary(self, docs: list[str]) -> list[str]:
        """Words (and n-grams) occurring in at least ``min_df_for(len(docs))`` units, stop words removed.

        Counted over the units here, because BERTopic fits its vectoriser on one joined text per topic,
        where ``min_df`` would count topics instead.
        """
        from sklearn.feature_extraction.text import CountVectorizer

        k = self.min_df_for(len(docs))
        try:
            cv = CountVectorizer(stop_words=_stop_words(), ngram_range=(1, self.ngram_max), min_df=k,
                                 token_pattern=_TERM_PATTERN).fit(docs)
        except ValueError:
            raise ParameterError(f"parameter 'topics.min_df' is {k}, but no word outside the stop words occurs in "
                                 f"that many of the {len(docs)} units; lower it") from None
        return cv.get_feature_names_out().tolist()

    def _vectorizer(self, vocabulary: list[str]):
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(stop_words=_stop_words(), ngram_range=(1, self.ngram_max), vocabulary=vocabulary,
                               token_pattern=_TERM_PATTERN)

    def _representation(self):
        from bertopic.representation import KeyBERTInspired

        keybert_mmr = [KeyBERTInspired(top_n_words=self.top_n_words, random_state=self.random_state),
                       _batched_mmr(diversity=self.mmr_diversity, top_n_words=self.top_n_words)]
        if self.representation == "ctfidf":
            # c-TF-IDF terms are the topic terms; KeyBERTInspired + MMR is kept beside them as an aspect
            return {KEYBERT_ASPECT: keybert_mmr}
        return keybert_mmr

    # ----------------------------------------------------------------------------- fit
    def fit(self, units: pd.DataFrame, embeddings: np.ndarray) -> TopicModel:
        """Fit topics on ``units`` (segment_id, doc_id, text) with their ``embeddings``."""
        from bertopic import BERTopic
        from bertopic.dimensionality import BaseDimensionalityReduction
        from bertopic.vectorizers import ClassTfidfTransformer

        n = len(units)
        if n < 3:
            raise AnalysisError(f"topic modelling needs at least 3 units, got {n}; use a smaller unit "
                                "(topics.unit: sentence) or a larger corpus")
        if len(embeddings) != n:
            raise AnalysisError(f"{len(embeddings)} embeddings for {n} units")
        all_units, all_vecs = units.reset_index(drop=True), np.asarray(embeddings, dtype=np.float32)
        sample = None
        if self.fit_sample_limit and n > self.fit_sample_limit:
            rng = np.random.default_rng(self.random_state)
            sample = np.sort(rng.choice(n, self.fit_sample_limit, replace=False))
            units, embeddings, n = all_units.iloc[sample].reset_index(drop=True), all_vecs[sample], len(sample)
        docs = units["text"].tolist()
        vecs = np.asarray(embeddings, dtype=np.float32)
        setup = self._setup(n, _normalise(vecs))
        self.setup_ = f"{setup.reason}; topic terms occur in at least {self.min_df_for(n)} units (min_df)"
        vocabulary = self._vocabulary(docs)
        if setup.path == "kmeans":
            from sklearn.cluster import KMeans

            reducer = BaseDimensionalityReduction()
            clusterer = KMeans(setup.k, n_init=10, random_state=self.random_state)
            fit_vecs = _normalise(vecs)
        else:
            from hdbscan import HDBSCAN
            from umap import UMAP

            cache_numba_kernels()
            knn = None
            if self.knn == "exact" or (self.knn == "auto" and (n <= EXACT_KNN_CPU_MAX or cuda_available())):
                knn = exact_knn(vecs, setup.n_neighbors)
                self.setup_ += "; exact cosine kNN by matrix products" + (" on the GPU" if cuda_available() else "")
            reducer = UMAP(n_neighbors=setup.n_neighbors, n_components=self.n_components, min_dist=0.0,
                           metric="cosine", random_state=self.random_state, low_memory=True, n_epochs=self.umap_epochs,
                           precomputed_knn=knn or (None, None, None))
            clusterer = HDBSCAN(min_cluster_size=setup.min_cluster_size,
                                min_samples=max(2, setup.min_cluster_size // 4), metric="euclidean",
                                cluster_selection_method="eom", prediction_data=False)
            fit_vecs = vecs
        if self.embedder is not None:
            embedder = self.embedder
        else:  # the project's default MiniLM; loaded only if a representation needs word vectors
            from analysis.embeddings import Embedder

            embedder = Embedder(show_progress_bar=False)
        backend = _cached_backend(embedder, dict(zip(docs, vecs)))
        # With terms from the assigned units, the terms are extracted again once outliers have joined their
        # topics, so the KeyBERTInspired representation (MiniLM over candidate words, costly on large
        # corpora) is computed only then, once, not also for the assignment that is about to change.
        later = self.reduce_outliers and self.terms_from == "assigned"
        model = BERTopic(embedding_model=backend, umap_model=reducer, hdbscan_model=clusterer,
                         vectorizer_model=self._vectorizer(vocabulary),
                         ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
                         representation_model=None if later else self._representation(),
                         top_n_words=self.top_n_words, nr_topics=self.nr_topics, calculate_probabilities=False,
                         verbose=False)
        topics, _ = model.fit_transform(docs, embeddings=fit_vecs)
        topics = np.asarray(topics)
        clustered = topics != -1
        self.outlier_share_before_ = float(np.mean(~clustered))
        if self.reduce_outliers and clustered.any() and not clustered.all():
            # the model (its topics_, c-TF-IDF and terms) keeps describing the clusters unless terms_from
            # is "assigned"; the tables carry the assignment after reduction
            topics = np.asarray(model.reduce_outliers(docs, topics.tolist(), strategy="embeddings",
                                                      embeddings=fit_vecs))
        if later:
            model.update_topics(docs, topics=topics.tolist(), vectorizer_model=self._vectorizer(vocabulary),
                                ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
                                representation_model=self._representation(), top_n_words=self.top_n_words)
            topics = np.asarray(model.topics_)
        self.model_ = model
        self.fit_texts_ = docs           # what the model was fitted on (the sample, above the limit)
        self.units_, self.embeddings_, self.labels_ = units.reset_index(drop=True), vecs, topics
        self.clustered_ = clustered
        self.n_fit_units_ = n
        if sample is not None:
            # The rest of the corpus joins the topics found on the sample.
            rest = np.setdiff1d(np.arange(len(all_units)), sample)
            labels = np.full(len(all_units), -1, dtype=np.int64)
            labels[sample] = topics
            labels[rest] = self.transform(all_vecs[rest])
            self.units_, self.embeddings_, self.labels_ = all_units, all_vecs, labels
            self.clustered_ = np.zeros(len(all_units), dtype=bool)
            self.clustered_[sample] = clustered
            self.setup_ += f"; fitted on a seeded sample of {n} of {len(all_units)} units, the rest assigned by transform"
        self.outlier_share_after_ = float(np.mean(self.labels_ == -1))
        self.reduced_ = self._reduced(model, fit_vecs) if sample is None else self._reduced(model, all_vecs, use_umap=False)
        self._tables()
        return self

    def transform(self, embeddings: np.ndarray, batch_size: int = 20_000) -> np.ndarray:
        """Topic of each new unit: the fitted topic whose centroid is nearest by cosine (in batches)."""
        topic_ids, cmat = _centroids(_normalise(self.embeddings_), self.labels_)
        if not topic_ids:
            return np.full(len(embeddings), -1, dtype=np.int64)
        out = np.empty(len(embeddings), dtype=np.int64)
        for i in range(0, len(embeddings), batch_size):
            out[i:i + batch_size] = np.asarray(topic_ids)[(_normalise(np.asarray(embeddings[i:i + batch_size], np.float32)) @ cmat.T).argmax(1)]
        return out

    def _reduced(self, model, fit_vecs, use_umap: bool = True) -> np.ndarray:
        """Unit coordinates for the 2-D map: PCA of the reduced (or raw) embeddings."""
        from sklearn.decomposition import PCA

        base = getattr(model.umap_model, "embedding_", None) if use_umap else None
        base = fit_vecs if base is None else base
        if len(base) < 3:
            return np.zeros((len(base), 2))
        return PCA(2, random_state=self.random_state).fit_transform(base)

    # ----------------------------------------------------------------------------- tables
    def _tables(self) -> None:
        units, vecs, labels = self.units_, _normalise(self.embeddings_), self.labels_
        topic_ids, cmat = _centroids(vecs, labels)
        centroids = dict(zip(topic_ids, cmat))
        if topic_ids:
            sims = vecs @ cmat.T
            soft = np.exp((sims - sims.max(1, keepdims=True)) / 0.05)
            soft /= soft.sum(1, keepdims=True)
            col = {t: i for i, t in enumerate(topic_ids)}
            prob = np.array([soft[i, col[t]] if t != -1 else 0.0 for i, t in enumerate(labels)])
        else:
            prob = np.zeros(len(units))
        self.segment_topics_ = pd.DataFrame({"segment_id": units["segment_id"], "doc_id": units["doc_id"],
                                             "topic": labels.astype("int64"),
                                             # float32 like the embeddings, whether or not outliers (0.0) are among them
                                             "probability": np.round(prob, 6).astype(np.float32),
                                             "clustered": self.clustered_})
        rows = []
        terms_all = self.model_.get_topics()
        for t in sorted(set(labels.tolist())):
            members = np.flatnonzero(labels == t)
            terms = [(w, round(float(s), 4)) for w, s in terms_all.get(t, []) if w][: self.top_n_words]
            if t != -1:
                order = members[np.argsort(-(vecs[members] @ centroids[t]), kind="stable")]
            else:
                order = members
            rows.append({"topic": int(t), "label": "outliers" if t == -1 else _label(terms),
                         "size": int(len(members)), "share": round(len(members) / len(labels), 6),
                         "top_terms": [{"term": w, "weight": s} for w, s in terms],
                         "representative_segment_ids": units["segment_id"].iloc[order[:3]].tolist()})
        self.topics_table_ = pd.DataFrame(rows)
        # Plain c-TF-IDF terms beside the final representation: the classic BERTopic view, for npmi.
        words = self.model_.vectorizer_model.get_feature_names_out()
        ctfidf = self.model_.c_tf_idf_.toarray() if self.model_.c_tf_idf_ is not None else np.zeros((0, 0))
        offset = 1 if -1 in self.model_.get_topics() else 0
        self.ctfidf_terms_ = {}
        for t in self.topics_table_["topic"]:
            row = ctfidf[t + offset] if t + offset < len(ctfidf) else np.zeros(len(words))
            order = np.argsort(-row, kind="stable")[: self.top_n_words]
            self.ctfidf_terms_[t] = [words[i] for i in order if row[i] > 0]
        self.topics_table_["ctfidf_terms"] = [self.ctfidf_terms_[t] for t in self.topics_table_["topic"]]
        # KeyBERTInspired + MMR terms: the topic terms in ``keybert_mmr`` mode, an aspect otherwise
        aspect = getattr(self.model_, "topic_aspects_", {}).get(KEYBERT_ASPECT, {})
        self.keybert_terms_ = {
            t: ([w for w, _ in aspect.get(t, []) if w][: self.top_n_words] if self.representation == "ctfidf"
                else [x["term"] for x in terms])
            for t, terms in zip(self.topics_table_["topic"], self.topics_table_["top_terms"])}
        self.topics_table_["keybert_terms"] = [self.keybert_terms_[t] for t in self.topics_table_["topic"]]
        d = self.segment_topics_.groupby(["doc_id", "topic"]).size().rename("n").reset_index()
        d["share"] = (d["n"] / d.groupby("doc_id")["n"].transform("sum")).round(6)
        self.document_topics_ = d[["doc_id", "topic", "share", "n"]].rename(columns={"n": "units"})

    def quality(self, texts: list[str] | None = None) -> pd.DataFrame:
        """Quality metrics: npmi and diversity of top-10 terms, outlier shares, topic and unit counts."""
        texts = texts if texts is not None else self.units_["text"].tolist()
        final = [[x["term"] for x in r] for t, r in zip(self.topics_table_["topic"], self.topics_table_["top_terms"])
                 if t != -1]
        ctf = [self.ctfidf_terms_[t] for t in self.topics_table_["topic"] if t != -1]
        kb = [self.keybert_terms_[t] for t in self.topics_table_["topic"] if t != -1]
        npmi, npmi_ctf, npmi_kb = npmi_coherences([final, ctf, kb], texts)      # the texts are read once
        rows = [("npmi", npmi), ("diversity", topic_diversity(final)),
                ("npmi_ctfidf", npmi_ctf), ("diversity_ctfidf", topic_diversity(ctf)),
                ("npmi_keybert_mmr", npmi_kb), ("diversity_keybert_mmr", topic_diversity(kb)),
                ("outlier_share_before", self.outlier_share_before_),
                ("outlier_share_after", self.outlier_share_after_),
                ("n_topics", float(len(final))), ("units", float(len(self.units_)))]
        return schema.frame("topic_quality", [(m, round(float(v), 6)) for m, v in rows])

    def hierarchy(self) -> pd.DataFrame:
        """Topic hierarchy from BERTopic (parent/child merges of c-TF-IDF topics); empty under 3 topics."""
        topics = [t for t in self.topics_table_["topic"] if t != -1]
        if len(topics) < 3:
            return schema.empty("topic_hierarchy")
        # BERTopic merges the c-TF-IDF of its own fit: the texts it was fitted on (the sample, when there is one)
        # its merge loop draws a progress bar that cannot be turned off (noise in the executed notebook)
        with contextlib.redirect_stderr(io.StringIO()):
            h = self.model_.hierarchical_topics(self.fit_texts_)
        cols = ["Parent_ID", "Parent_Name", "Child_Left_ID", "Child_Right_ID", "Distance"]
        out = h[cols].copy()
        out.columns = ["parent_id", "parent_name", "child_left_id", "child_right_id", "distance"]
        out["distance"] = out["distance"].round(6)
        return out.sort_values("distance", kind="stable").reset_index(drop=True)

    def save(self, folder: Path, embedding_model: str | None = None) -> Path:
        """Save with BERTopic's safetensors serialisation (never pickle)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.model_.save(str(folder), serialization="safetensors", save_ctfidf=True,
                         save_embedding_model=embedding_model or False)
        return folder


def _centroids(vecs: np.ndarray, labels: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Topic ids (outliers excluded) and their unit-length centroids of the normalised ``vecs``."""
    topic_ids = sorted(t for t in set(labels.tolist()) if t != -1)
    if not topic_ids:
        return [], np.zeros((0, vecs.shape[1]), np.float32)
    return topic_ids, _normalise(np.stack([vecs[labels == t].mean(0) for t in topic_ids]))


EXACT_KNN_CPU_MAX = 30_000


def cache_numba_kernels(modules: tuple[str, ...] = ("umap.umap_", "umap.layouts", "umap.utils", "umap.distances",
                                                      "pynndescent.utils", "pynndescent.distances")) -> int:
    """Let numba keep UMAP's kernels that their package compiles afresh in every process.

    ``smooth_knn_dist`` and ``compute_membership_strengths`` (``parallel=True``) and a few others are
    declared without ``cache=True``, so every new process (every notebook kernel) spent about 8 s
    compiling them again. Turned on here, their machine code goes to ``NUMBA_CACHE_DIR`` like the rest.
    Returns how many kernels it turned caching on for.
    """
    import importlib

    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    n = 0
    for name in modules:
        for obj in vars(importlib.import_module(name)).values():
            if isinstance(obj, CPUDispatcher) and isinstance(obj._cache, NullCache):
                obj.enable_caching()
                n += 1
    return n


def exact_knn(vectors: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine nearest neighbours (each point first, at distance 0) for UMAP's ``precomputed_knn``.

    Matrix products in chunks with torch: on a GPU in half precision, on CPU in float32. Returns
    (indices int64 (n, k), cosine distances float32 (n, k)).
    """
    import torch

    dev = "cuda" if cuda_available() else "cpu"
    x = torch.from_numpy(_normalise(np.asarray(vectors, np.float32))).to(dev)
    if dev == "cuda":
        x = x.half()
    n = len(x)
    idx, dist = np.empty((n, k), np.int64), np.empty((n, k), np.float32)
    with torch.inference_mode():
        for i in range(0, n, chunk):
            sims = (x[i:i + chunk] @ x.T).float()
            rows = torch.arange(sims.shape[0], device=dev)
            sims[rows, rows + i] = 2.0                   # self first, whatever the rounding
            top = sims.topk(k, dim=1)
            idx[i:i + chunk] = top.indices.cpu().numpy()
            d = (1.0 - top.values).clamp(min=0.0).cpu().numpy()
            d[:, 0] = 0.0
            dist[i:i + chunk] = d
    return idx, dist


def _label(terms: list[tuple[str, float]], k: int = 3) -> str:
    """Top ``k`` terms, skipping a term contained in one already chosen ("nato" after "nato allies")."""
    chosen: list[str] = []
    for w, _ in terms:
        if any(w in c.split() or c in w.split() for c in chosen):
            continue
        chosen.append(w)
        if len(chosen) == k:
            break
    return ", ".join(chosen) if chosen else "(no terms)"


def npmi_coherence(topics: list[list[str]], texts: list[str], top_n: int = 10) -> float:
    """Mean NPMI of each topic's top-``top_n`` term pairs, co-occurrence counted per text.

    Terms may be bigrams; they are matched with the same uni+bigram analyser as the topic model.
    A pair that never co-occurs scores -1. Topics with fewer than two terms are ignored.
    """
    return npmi_coherences([topics], texts, top_n)[0]


def npmi_coherences(term_sets: list[list[list[str]]], texts: list[str], top_n: int = 10) -> list[float]:
    """:func:`npmi_coherence` of several sets of topics over the same texts, which are read once.

    A term's column does not depend on the other terms asked for, so each set scores as it would alone.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    vocab = sorted({w for topics in term_sets for t in topics for w in t[:top_n]})
    if not vocab or not texts:
        return [float("nan")] * len(term_sets)
    cv = CountVectorizer(vocabulary=vocab, ngram_range=(1, 2), lowercase=True,
                         token_pattern=_TERM_PATTERN)
    x = (cv.transform(texts) > 0).astype(np.float64).tocsc()
    idx = {w: i for i, w in enumerate(vocab)}
    out = []
    for topics in term_sets:
        scores = [_topic_npmi(x[:, words]) for t in topics
                  if len(words := [idx[w] for w in t[:top_n] if w in idx]) >= 2]
        out.append(float(np.mean(scores)) if scores else float("nan"))
    return out


def _topic_npmi(sub) -> float:
    """Mean NPMI over the term pairs of one topic, from its binary text x term matrix ``sub``."""
    co = (sub.T @ sub).toarray() / sub.shape[0]
    p = np.diag(co)
    vals = []
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            pij = co[i, j]
            if pij <= 0 or p[i] <= 0 or p[j] <= 0:
                vals.append(-1.0)
            elif pij >= 1:
                vals.append(1.0)
            else:
                vals.append(math.log(pij / (p[i] * p[j])) / -math.log(pij))
    return float(np.mean(vals))


def topic_diversity(topics: list[list[str]], top_n: int = 10) -> float:
    """Share of unique terms among all topics' top-``top_n`` terms (1 = no term repeats)."""
    words = [w for t in topics for w in t[:top_n]]
    return len(set(words)) / len(words) if words else float("nan")


def sentence_topics(segment_topics: pd.DataFrame, sentences: pd.DataFrame) -> pd.Series:
    """Topic of each sentence, whatever the topic unit was (sentence, paragraph or document)."""
    t = segment_topics.set_index("segment_id")["topic"]
    for col in ("segment_id", "paragraph_id", "doc_id"):
        mapped = sentences[col].map(t)
        if mapped.notna().mean() > 0.5:
            return mapped
    return pd.Series(np.nan, index=sentences.index)


def topics_over_time(segment_topics: pd.DataFrame, documents: pd.DataFrame) -> pd.DataFrame:
    """Units per topic per period (month, or week when the corpus spans under 120 days)."""
    dated = documents[documents["published"].astype(str) != ""][["doc_id", "published"]]
    if dated.empty:
        return schema.empty("topics_over_time")
    df = segment_topics.merge(dated, on="doc_id")
    ts = pd.to_datetime(df["published"])
    span = (ts.max() - ts.min()).days
    df["period"] = ts.dt.to_period("W-MON" if span < 120 else "M").dt.start_time.dt.strftime("%Y-%m-%d")
    out = df.groupby(["period", "topic"]).size().rename("units").reset_index()
    out["share"] = (out["units"] / out.groupby("period")["units"].transform("sum")).round(6)
    return out


def topics_per_source(segment_topics: pd.DataFrame, documents: pd.DataFrame) -> pd.DataFrame:
    """Units per topic per source, with the topic's share of that source's units."""
    src = documents[documents["source"].astype(str) != ""][["doc_id", "source"]]
    if src.empty:
        return schema.empty("topics_per_source")
    df = segment_topics.merge(src, on="doc_id")
    out = df.groupby(["source", "topic"]).size().rename("units").reset_index()
    out["share"] = (out["units"] / out.groupby("source")["units"].transform("sum")).round(6)
    return out


# A document-level fit with this few topics over this many documents gets a hint in its summary line.
# Seen on RUWA's first 10,000 items joined into 1,387 daily digests per outlet: each digest's sentence
# vectors average out to "war news", and HDBSCAN found 2 topics; by paragraph, the same texts gave 52
# topics such as "mariupol, filtration, evacuation" and "bucha, atrocities, torture".
FEW_TOPICS = 3
FEW_TOPICS_MIN_DOCUMENTS = 200


@dataclass
class TopicsResult:
    """What the topics stage writes; ``model`` is None and ``skipped`` says why for a corpus too small."""

    model: TopicModel | None
    unit: str
    unit_reason: str
    topics: pd.DataFrame
    segment_topics: pd.DataFrame
    document_topics: pd.DataFrame
    quality: pd.DataFrame
    hierarchy: pd.DataFrame
    over_time: pd.DataFrame
    per_source: pd.DataFrame
    skipped: str = ""

    @property
    def setup(self) -> str:
        """The fitted model's set-up, or why there is none."""
        return self.model.setup_ if self.model is not None else self.skipped

    def write(self, run) -> None:
        """Write the tables and the safetensors model into the run folder."""
        run.write_table(self.topics, "topics")
        run.write_table(self.segment_topics, "segment_topics")
        run.write_table(self.document_topics, "document_topics")
        run.write_table(self.quality, "topic_quality")
        run.write_table(self.hierarchy, "topic_hierarchy")
        if len(self.over_time):
            run.write_table(self.over_time, "topics_over_time")
        if len(self.per_source):
            run.write_table(self.per_source, "topics_per_source")
        if self.model is not None:
            from analysis.embeddings import minilm_path

            self.model.save(run.dir / "model" / "bertopic", embedding_model=str(minilm_path()))
        else:                                   # no model: an earlier run's must not stand beside empty tables
            import shutil

            shutil.rmtree(run.dir / "model" / "bertopic", ignore_errors=True)
        run.record("topics", unit=self.unit, unit_reason=self.unit_reason, setup=self.setup,
                   summary=self.summary(), skipped=self.skipped)

    def summary(self) -> str:
        """One line for the notebook (compared by nbval on the seeds)."""
        if self.skipped:
            return self.skipped
        q = dict(zip(self.quality["metric"], self.quality["value"]))
        line = (f"{int(q['n_topics'])} topics over {int(q['units'])} {self.unit} units; outliers "
                f"{q['outlier_share_before']:.1%} before and {q['outlier_share_after']:.1%} after reduction")
        if self.unit == "document" and q["n_topics"] <= FEW_TOPICS and q["units"] >= FEW_TOPICS_MIN_DOCUMENTS:
            line += ("; few topics for this many documents: if each document covers several stories "
                     "(digests, live blogs, long reports), try topics.unit: paragraph")
        return line


# Fewer units than this and there is nothing to cluster: the stage writes its tables empty instead.
MIN_UNITS = 3


def _too_small(unit: str, why: str, n: int) -> TopicsResult:
    """The empty result of a corpus too small for topics: every table with its columns, and the reason."""
    from analysis import schema

    reason = (f"no topics: the corpus has {n} {unit} unit(s) and topic modelling needs at least {MIN_UNITS}; "
              "every other table is computed")
    return TopicsResult(None, unit, why, *(schema.empty(name) for name in (
        "topics", "segment_topics", "document_topics", "topic_quality", "topic_hierarchy", "topics_over_time",
        "topics_per_source")), skipped=reason)


def fit_topics(params, documents: pd.DataFrame, segments: pd.DataFrame) -> TopicsResult:
    """Run the topics stage for validated ``params`` on the corpus tables."""
    from analysis.embeddings import Embedder

    tp = params.topics
    enc = Embedder(params.embeddings.model, params.embeddings.batch_size, params.embeddings.device,
                   show_progress_bar=False, precision=params.embeddings.precision)
    sents = segments[segments["unit"] == "sentence"]
    vectors = enc.encode(sents["text"].tolist())
    unit, why = choose_unit(tp.unit, len(documents), tp.auto_sentence_max_documents)
    units, vecs = build_units(unit, documents, segments, vectors)
    if len(units) < MIN_UNITS:
        return _too_small(unit, why, len(units))
    model = TopicModel(n_neighbors=tp.n_neighbors, n_components=tp.n_components,
                       min_cluster_size=tp.min_cluster_size, nr_topics=tp.nr_topics,
                       representation=tp.representation, mmr_diversity=tp.mmr_diversity,
                       reduce_outliers=tp.reduce_outliers, small_corpus_max_units=tp.small_corpus_max_units,
                       top_n_words=tp.top_n_words, random_state=params.seed, fit_sample_limit=tp.fit_sample_limit,
                       knn=tp.knn, ngram_max=tp.ngram_max, min_df=tp.min_df, umap_epochs=tp.umap_epochs,
                       terms_from=tp.terms_from, embedder=enc).fit(units, vecs)
    st = model.segment_topics_
    return TopicsResult(model, unit, why, model.topics_table_, st, model.document_topics_, model.quality(),
                        model.hierarchy(), topics_over_time(st, documents), topics_per_source(st, documents))
