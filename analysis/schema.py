"""Every table a stage writes, declared once: its columns, their types, nulls, allowed values, key and meaning.

Each table is a pandera :class:`~pandera.api.pandas.model.DataFrameModel`: one annotated attribute per
column, in the order the files hold them, with a one-line ``description``; the class docstring says what
one row is, ``Config.unique`` is the table's key and ``Config.metadata`` the stage that writes it (and,
for a table written only for some corpora, when). :func:`analysis.tables.write_table` validates every
table against its declaration before it writes it, so a table on disk is what this module says;
``docs/tables.md`` is generated from here (``python -m analysis.schema --markdown``, ``make docs``).

Types are checked as they are, never converted: a stage that makes an ``int64`` column ``float64`` is
told so. Lists inside a cell (``top_terms``, ``example_segment_ids``) are Python lists in memory and JSON
text in the files. An empty table is written with every declared column and its type (:func:`empty`).

Example:
    >>> columns("duplicates")
    ['doc_a', 'doc_b', 'similarity', 'kind', 'evidence_a', 'evidence_b']
    >>> empty("skipped").dtypes["row"]
    dtype('int64')
    >>> validate(pd.DataFrame({"finding": [None]}), "findings")
    Traceback (most recent call last):
    ...
    analysis.errors.SchemaError: table findings: column finding has 1 null value(s); it may not be null
"""

from __future__ import annotations

import sys
import typing

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import extensions
from pandera.errors import SchemaErrors
from pandera.typing import Series

from analysis import config
from analysis.errors import SchemaError

__all__ = ["TABLES", "columns", "empty", "frame", "example", "validate", "markdown", "main"]

ACTOR_TYPES = ("state", "international_organisation", "person", "government_body", "armed_forces", "media", "other")
SENTIMENT_METHODS = ("vader", "afinn")
TARGET_METHODS = ("targeted_model", "vader_clause", "afinn_clause")
POLARITIES = ("negative", "neutral", "positive")
# sha256 in hex, as every digest the project records
_SHA256 = r"^[0-9a-f]{64}$"


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def cell_is_list(series: pd.Series) -> pd.Series:
    return series.map(_is_list).astype(bool)


def finite(series: pd.Series) -> pd.Series:
    return pd.Series(~np.isinf(series.to_numpy(dtype=np.float64)), index=series.index)


# a cell holding a list (of ids, terms; JSON text in the files): a check pandera's Field can name
if not hasattr(pa.Check, "cell_is_list"):
    extensions.register_check_method(cell_is_list, statistics=[], supported_types=pd.Series)
# a number that is neither inf nor -inf; a null passes it (pandera skips nulls in checks anyway), so the
# column's nullable flag alone decides whether a null is allowed
if not hasattr(pa.Check, "finite"):
    extensions.register_check_method(finite, statistics=[], supported_types=pd.Series)


def _list(description: str, of: str = "string"):
    """A column whose cells are lists; ``of`` names what the list holds (for the docs)."""
    return pa.Field(description=description, metadata={"type": f"list of {of}"}, cell_is_list=())


def _stage(stage: str, when: str | None = None) -> dict:
    return {"stage": stage, "when": when}


# ----------------------------------------------------------------------------------------- corpus


class Documents(pa.DataFrameModel):
    """One row per document that survived loading and cleaning."""

    doc_id: Series[str] = pa.Field(description="the document's id, stable across runs of the same corpus")
    title: Series[str] = pa.Field(description="the title column or metadata.csv's title, else the text's first non-empty line")
    source: Series[str] = pa.Field(description="the outlet; empty when unknown")
    published: Series[str] = pa.Field(description="publication date, YYYY-MM-DD; empty when undated",
                                      str_matches=r"^(\d{4}-\d\d-\d\d)?$")
    url: Series[str] = pa.Field(description="the document's address; empty when unknown")
    n_words: Series[int] = pa.Field(ge=0, description="words in the cleaned text")
    n_sentences: Series[int] = pa.Field(ge=0, description="sentences in segments")
    n_paragraphs: Series[int] = pa.Field(ge=0, description="paragraphs in segments")
    text_sha256: Series[str] = pa.Field(str_matches=_SHA256, description="sha256 of text (hex)",
                                        metadata={"example": "0" * 64})
    text: Series[str] = pa.Field(description="the cleaned text; every start/end offset of every table points into it")
    source_file: Series[str] = pa.Field(description="the file the document came from")
    encoding: Series[str] = pa.Field(isin=["utf-8", "cp1252", "latin-1", "utf-16-le", "utf-16-be", "utf-32-le",
                                           "utf-32-be"],
                                     description="how a .txt file was decoded; utf-8 for a CSV or JSONL corpus")
    english_score: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1},
                                            description="share of the words that are common English function words")
    non_english: Series[bool] = pa.Field(description="true for 20 words or more scoring under 0.08 (kept, only flagged)")

    class Config:
        name = "documents"
        unique = ["doc_id"]
        metadata = _stage("corpus")


class Segments(pa.DataFrameModel):
    """Paragraphs and sentences: documents.text[start:end] == text."""

    segment_id: Series[str] = pa.Field(description="`<doc_id>:p003` for a paragraph, `<doc_id>:s0012` for a sentence")
    doc_id: Series[str] = pa.Field(description="the document")
    unit: Series[str] = pa.Field(isin=["paragraph", "sentence"], description="paragraph or sentence")
    position: Series[int] = pa.Field(ge=0, description="order within the document, counted per unit from 0")
    start: Series[int] = pa.Field(ge=0, description="character offset of the first character in documents.text")
    end: Series[int] = pa.Field(ge=0, description="character offset after the last character")
    text: Series[str] = pa.Field(description="the segment's text")
    paragraph_id: Series[str] = pa.Field(description="the paragraph a sentence belongs to (a paragraph's own id on its row)")

    class Config:
        name = "segments"
        unique = ["segment_id"]
        metadata = _stage("corpus")


class RemovedLines(pa.DataFrameModel):
    """Every line, or piece of a line, that cleaning removed; nothing is dropped silently."""

    doc_id: Series[str] = pa.Field(description="the document")
    line: Series[str] = pa.Field(description="the removed text; for strip_pattern and repeated_line the piece cut out")
    reason: Series[str] = pa.Field(isin=["comment_form", "navigation", "image_credit", "photo_caption",
                                         "trailing_widget", "strip_pattern", "repeated_line"],
                                   description="which cleaning rule removed it")
    line_no: Series[int] = pa.Field(ge=1, description="the line's number in the document's raw text (1-based)")

    class Config:
        name = "removed_lines"
        metadata = _stage("corpus")


class Skipped(pa.DataFrameModel):
    """Every input row or file that did not become a document, and why."""

    source_file: Series[str] = pa.Field(description="the file read")
    row: Series[int] = pa.Field(ge=-1, description="the line of a JSONL record or the line a CSV record ends on; -1 for a whole file")
    reason: Series[str] = pa.Field(description="why: empty text, malformed row, invalid JSON, binary file, only boilerplate lines, ...")

    class Config:
        name = "skipped"
        metadata = _stage("corpus")


class Duplicates(pa.DataFrameModel):
    """Pairs of documents that repeat or retell each other."""

    doc_a: Series[str] = pa.Field(description="the first document (doc_a < doc_b)")
    doc_b: Series[str] = pa.Field(description="the second document")
    similarity: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1},
                                         description="1.0 for exact, the 5-shingle Jaccard for near, the sentence cosine for similar")
    kind: Series[str] = pa.Field(isin=["exact", "near", "similar"],
                                 description="exact (same cleaned text), near (shingle Jaccard), similar (a retold sentence)")
    evidence_a: Series[str] = pa.Field(description="for similar: the segment_id of the retold sentence in doc_a; empty otherwise")
    evidence_b: Series[str] = pa.Field(description="for similar: the segment_id of its match in doc_b; empty otherwise")

    class Config:
        name = "duplicates"
        unique = ["doc_a", "doc_b"]
        metadata = _stage("corpus")


# ----------------------------------------------------------------------------------------- topics


class Topics(pa.DataFrameModel):
    """One row per topic; -1 is the outlier topic, present only when outliers are left unassigned."""

    topic: Series[int] = pa.Field(ge=-1, description="the topic's number")
    label: Series[str] = pa.Field(description="its top three distinct terms; 'outliers' for -1")
    size: Series[int] = pa.Field(ge=1, description="units in the topic")
    share: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1}, description="its share of all units")
    top_terms: Series[object] = _list("the topic terms with their weights: [{\"term\": ..., \"weight\": ...}]",
                                      of="{term, weight}")
    representative_segment_ids: Series[object] = _list("units that typify the topic (segment_ids, or doc_ids when "
                                                       "the unit is document)")
    ctfidf_terms: Series[object] = _list("the c-TF-IDF terms")
    keybert_terms: Series[object] = _list("the KeyBERTInspired + MMR terms")

    class Config:
        name = "topics"
        unique = ["topic"]
        metadata = _stage("topics")


class SegmentTopics(pa.DataFrameModel):
    """The topic of every unit the topics were fitted on (sentence, paragraph or document)."""

    segment_id: Series[str] = pa.Field(description="the unit: a segment_id, or a doc_id when the unit is document")
    doc_id: Series[str] = pa.Field(description="its document")
    topic: Series[int] = pa.Field(ge=-1, description="its topic")
    probability: Series[np.float32] = pa.Field(in_range={"min_value": 0, "max_value": 1},
                                               description="softmax (temperature 0.05) of its cosine to each topic centroid, at its topic")
    clustered: Series[bool] = pa.Field(description="true where the clustering itself put the unit in its topic; "
                                                   "false for a reassigned outlier or a unit outside the fitting sample")

    class Config:
        name = "segment_topics"
        unique = ["segment_id"]
        metadata = _stage("topics")


class DocumentTopics(pa.DataFrameModel):
    """Each document's mix of topics."""

    doc_id: Series[str] = pa.Field(description="the document")
    topic: Series[int] = pa.Field(ge=-1, description="a topic of its units")
    share: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1},
                                    description="share of the document's units in the topic")
    units: Series[int] = pa.Field(ge=1, description="the document's units in the topic")

    class Config:
        name = "document_topics"
        unique = ["doc_id", "topic"]
        metadata = _stage("topics")


class TopicQuality(pa.DataFrameModel):
    """One quality metric of the topic model per row."""

    metric: Series[str] = pa.Field(isin=["npmi", "diversity", "npmi_ctfidf", "diversity_ctfidf", "npmi_keybert_mmr",
                                         "diversity_keybert_mmr", "outlier_share_before", "outlier_share_after",
                                         "n_topics", "units"],
                                   description="npmi (-1..1) and diversity (0..1) of each representation's terms, "
                                               "outlier shares, counts")
    value: Series[float] = pa.Field(nullable=True, description="its value; empty where it cannot be computed (no topic terms)")

    class Config:
        name = "topic_quality"
        unique = ["metric"]
        metadata = _stage("topics")


class TopicHierarchy(pa.DataFrameModel):
    """BERTopic's hierarchical merges of the topics; empty under 3 topics."""

    parent_id: Series[str] = pa.Field(description="the merged topic's id")
    parent_name: Series[str] = pa.Field(description="the merged topic's terms, joined by _")
    child_left_id: Series[str] = pa.Field(description="one topic (or merge) merged")
    child_right_id: Series[str] = pa.Field(description="the other")
    distance: Series[float] = pa.Field(ge=0, description="the distance at which they merge")

    class Config:
        name = "topic_hierarchy"
        unique = ["parent_id"]
        metadata = _stage("topics")


class TopicsOverTime(pa.DataFrameModel):
    """Units per topic per period."""

    period: Series[str] = pa.Field(str_matches=r"^\d{4}-\d\d-\d\d$", metadata={"example": "2022-02-21"},
                                   description="start date of a week when the corpus spans under 120 days, of a month otherwise")
    topic: Series[int] = pa.Field(ge=-1, description="the topic")
    units: Series[int] = pa.Field(ge=1, description="its units in the period")
    share: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1}, description="its share of the period's units")

    class Config:
        name = "topics_over_time"
        unique = ["period", "topic"]
        metadata = _stage("topics", "the corpus has dates")


class TopicsPerSource(pa.DataFrameModel):
    """Units per topic per source."""

    source: Series[str] = pa.Field(description="the outlet")
    topic: Series[int] = pa.Field(ge=-1, description="the topic")
    units: Series[int] = pa.Field(ge=1, description="its units from the source")
    share: Series[float] = pa.Field(in_range={"min_value": 0, "max_value": 1}, description="its share of the source's units")

    class Config:
        name = "topics_per_source"
        unique = ["source", "topic"]
        metadata = _stage("topics", "the corpus has sources")


# ----------------------------------------------------------------------------------------- actors


class ActorMentions(pa.DataFrameModel):
    """Every mention of a dictionary actor."""

    doc_id: Series[str] = pa.Field(description="the document")
    segment_id: Series[str] = pa.Field(description="the sentence holding the mention")
    actor_id: Series[str] = pa.Field(description="the dictionary's id of the actor (RUS, CHARLES_MICHEL)")
    surface: Series[str] = pa.Field(description="the text as it stands")
    start: Series[int] = pa.Field(ge=0, description="character offset in documents.text")
    end: Series[int] = pa.Field(ge=0, description="character offset after the mention")
    source: Series[str] = pa.Field(isin=["dictionary"], description="what found it")
    attributive: Series[bool] = pa.Field(description="true for a demonym (\"Russian aggression\")")
    kind: Series[str] = pa.Field(isin=["alias", "metonym", "demonym", "context", "role"],
                                 description="the dictionary form that matched: alias, metonym, demonym, context or role")
    counted: Series[bool] = pa.Field(description="whether it enters the counts (attributive ones only with actors.count_attributive)")

    class Config:
        name = "actor_mentions"
        unique = ["doc_id", "start", "end", "actor_id"]
        metadata = _stage("actors")


class Actors(pa.DataFrameModel):
    """One row per actor with at least actors.min_mentions counted mentions, most mentioned first."""

    actor_id: Series[str] = pa.Field(description="the dictionary's id")
    name: Series[str] = pa.Field(description="its display name")
    type: Series[str] = pa.Field(isin=list(ACTOR_TYPES), description="its type in the dictionary")
    mentions: Series[int] = pa.Field(ge=1, description="counted mentions")
    documents: Series[int] = pa.Field(ge=1, description="documents with a counted mention")
    per_1k_words: Series[float] = pa.Field(ge=0, description="counted mentions per 1,000 words of the corpus")
    first_seen: Series[str] = pa.Field(description="date of the first dated document naming it; empty when none is dated")
    last_seen: Series[str] = pa.Field(description="date of the last dated document naming it; empty when none is dated")
    country: Series[str] = pa.Field(description="ISO 3166 alpha-3 code of its country, from the dictionary (a state's own; a "
                                                 "person's, body's or outlet's); empty where none applies (NATO, EU)")
    attributive_mentions: Series[int] = pa.Field(ge=0, description="how many of its mentions are demonyms")

    class Config:
        name = "actors"
        unique = ["actor_id"]
        metadata = _stage("actors")


class ActorDocumentCounts(pa.DataFrameModel):
    """Counted mentions per document and actor."""

    doc_id: Series[str] = pa.Field(description="the document")
    actor_id: Series[str] = pa.Field(description="the actor")
    mentions: Series[int] = pa.Field(ge=1, description="its counted mentions in the document")

    class Config:
        name = "actor_document_counts"
        unique = ["doc_id", "actor_id"]
        metadata = _stage("actors")


class ActorCooccurrence(pa.DataFrameModel):
    """Pairs of actors named in one document."""

    actor_a: Series[str] = pa.Field(description="one actor (actor_a < actor_b)")
    actor_b: Series[str] = pa.Field(description="the other")
    sentences: Series[int] = pa.Field(ge=0, description="sentences naming both")
    documents: Series[int] = pa.Field(ge=1, description="documents naming both")
    pmi: Series[float] = pa.Field(nullable=True, description="sentence-level pointwise mutual information; "
                                                              "empty when they never share a sentence")

    class Config:
        name = "actor_cooccurrence"
        unique = ["actor_a", "actor_b"]
        metadata = _stage("actors")


class ActorCandidates(pa.DataFrameModel):
    """Names spaCy's NER found that the dictionary does not know: to review, never counted."""

    surface: Series[str] = pa.Field(description="the name")
    ner_label: Series[str] = pa.Field(isin=["PERSON", "ORG", "GPE", "NORP"], description="spaCy's label")
    mentions: Series[int] = pa.Field(ge=1, description="occurrences with this label")
    documents: Series[int] = pa.Field(ge=1, description="documents with one")
    example: Series[str] = pa.Field(description="the first sentence it occurs in (up to 200 characters)")
    surface_mentions: Series[int] = pa.Field(ge=1, description="occurrences of the surface under all its labels")
    surface_labels: Series[str] = pa.Field(description="its labels with their counts (\"PERSON 480, GPE 230\")")

    class Config:
        name = "actor_candidates"
        unique = ["surface", "ner_label"]
        metadata = _stage("actors")


class Kwic(pa.DataFrameModel):
    """Every mention in context, in the order of actor_mentions."""

    actor_id: Series[str] = pa.Field(description="the actor")
    doc_id: Series[str] = pa.Field(description="the document")
    left: Series[str] = pa.Field(description="up to actors.kwic_window characters before the mention, line breaks as spaces")
    match: Series[str] = pa.Field(description="the mention")
    right: Series[str] = pa.Field(description="up to actors.kwic_window characters after it")
    segment_id: Series[str] = pa.Field(description="the sentence holding it")
    start: Series[int] = pa.Field(ge=0, description="its character offset in documents.text")

    class Config:
        name = "kwic"
        metadata = _stage("actors")


class ActorAmbiguous(pa.DataFrameModel):
    """Surfaces found but never counted, with the reason."""

    doc_id: Series[str] = pa.Field(description="the document")
    segment_id: Series[str] = pa.Field(description="the sentence holding it")
    surface: Series[str] = pa.Field(description="the text as it stands")
    start: Series[int] = pa.Field(ge=0, description="character offset in documents.text")
    end: Series[int] = pa.Field(ge=0, description="character offset after it")
    reason: Series[str] = pa.Field(description="why it is not counted (an ambiguous surface, a context form "
                                               "without its actor, an undated role)")

    class Config:
        name = "actor_ambiguous"
        metadata = _stage("actors")


class ActorsOverTime(pa.DataFrameModel):
    """Counted mentions per month and actor."""

    month: Series[str] = pa.Field(str_matches=r"^\d{4}-\d\d$", description="YYYY-MM", metadata={"example": "2022-02"})
    actor_id: Series[str] = pa.Field(description="the actor")
    mentions: Series[int] = pa.Field(ge=1, description="its counted mentions that month")
    per_1k_words: Series[float] = pa.Field(ge=0, description="per 1,000 words of that month's documents")
    words_in_month: Series[int] = pa.Field(ge=1, description="the words of that month's dated documents")

    class Config:
        name = "actors_over_time"
        unique = ["month", "actor_id"]
        metadata = _stage("actors", "the corpus has dates")


class ActorsPerSource(pa.DataFrameModel):
    """Counted mentions per source and actor."""

    source: Series[str] = pa.Field(description="the outlet")
    actor_id: Series[str] = pa.Field(description="the actor")
    mentions: Series[int] = pa.Field(ge=1, description="its counted mentions from the source")
    per_1k_words: Series[float] = pa.Field(ge=0, description="per 1,000 words of the source's documents")

    class Config:
        name = "actors_per_source"
        unique = ["source", "actor_id"]
        metadata = _stage("actors", "the corpus has sources")


class ActorGoldEvaluation(pa.DataFrameModel):
    """The extracted mentions scored against a hand annotation (exact span and actor)."""

    metric: Series[str] = pa.Field(isin=["precision", "recall", "f1", "gold_mentions", "found_mentions",
                                         "true_positives", "documents"],
                                   description="precision, recall, f1, or a count they rest on")
    value: Series[float] = pa.Field(ge=0, description="its value")

    class Config:
        name = "actor_gold_evaluation"
        unique = ["metric"]
        metadata = _stage("actors", "actors.gold names documents of the corpus")


class ActorGoldDisagreements(pa.DataFrameModel):
    """Every mention the annotation has that the extraction missed, and every extra one it found."""

    doc_id: Series[str] = pa.Field(description="the document")
    start: Series[int] = pa.Field(ge=0, description="character offset in documents.text")
    end: Series[int] = pa.Field(ge=0, description="character offset after the mention")
    actor_id: Series[str] = pa.Field(description="the actor")
    surface: Series[str] = pa.Field(description="the text of the span")
    kind: Series[str] = pa.Field(isin=["missed", "extra"], description="missed (in the annotation only) or extra (found only)")

    class Config:
        name = "actor_gold_disagreements"
        unique = ["doc_id", "start", "end", "actor_id"]
        metadata = _stage("actors", "actors.gold names documents of the corpus")


# -------------------------------------------------------------------------------------- sentiment

_COMPOUND = {"min_value": -1, "max_value": 1}
_SHARE = {"min_value": 0, "max_value": 1}


class SentenceSentiment(pa.DataFrameModel):
    """Every sentence scored by sentiment.method and sentiment.second_method."""

    segment_id: Series[str] = pa.Field(description="the sentence")
    doc_id: Series[str] = pa.Field(description="its document")
    method: Series[str] = pa.Field(isin=list(SENTIMENT_METHODS), description="the lexicon: vader or afinn")
    compound: Series[float] = pa.Field(in_range=_COMPOUND, description="tone from -1 to 1")
    pos: Series[float] = pa.Field(in_range=_SHARE, description="VADER's positive proportion; AFINN's share of positive words")
    neu: Series[float] = pa.Field(in_range=_SHARE, description="VADER's neutral proportion; 0 for AFINN")
    neg: Series[float] = pa.Field(in_range=_SHARE, description="VADER's negative proportion; AFINN's share of negative words")
    adjusted_compound: Series[float] = pa.Field(in_range=_COMPOUND, description="compound with the domain valence "
                                                "adjustments (sentiment.lexicon_adjustments); later tables use it")

    class Config:
        name = "sentence_sentiment"
        unique = ["segment_id", "method"]
        metadata = _stage("sentiment")


class DocumentSentiment(pa.DataFrameModel):
    """Each document's tone per method."""

    doc_id: Series[str] = pa.Field(description="the document")
    method: Series[str] = pa.Field(isin=list(SENTIMENT_METHODS), description="the lexicon")
    mean_compound: Series[float] = pa.Field(in_range=_COMPOUND, description="mean compound of its sentences")
    share_positive: Series[float] = pa.Field(in_range=_SHARE, description="share of sentences at or above positive_threshold")
    share_neutral: Series[float] = pa.Field(in_range=_SHARE, description="share of sentences between the thresholds")
    share_negative: Series[float] = pa.Field(in_range=_SHARE, description="share of sentences at or below negative_threshold")
    n_sentences: Series[int] = pa.Field(ge=1, description="its sentences")
    mean_adjusted_compound: Series[float] = pa.Field(in_range=_COMPOUND, description="mean adjusted compound of its sentences")

    class Config:
        name = "document_sentiment"
        unique = ["doc_id", "method"]
        metadata = _stage("sentiment")


class MethodAgreement(pa.DataFrameModel):
    """How far the two methods agree, per document and over all sentences (doc_id ALL)."""

    doc_id: Series[str] = pa.Field(description="the document, or ALL for every sentence")
    pearson: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND,
                                      description="correlation of the adjusted compounds; empty under 3 sentences or no variation")
    spearman: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="rank correlation, likewise")
    sign_agreement: Series[float] = pa.Field(nullable=True, in_range=_SHARE,
                                             description="share of sentences both put in the same class; empty with no sentence")
    n_sentences: Series[int] = pa.Field(ge=0, description="sentences compared")

    class Config:
        name = "method_agreement"
        unique = ["doc_id"]
        metadata = _stage("sentiment")


class ActorSentiment(pa.DataFrameModel):
    """Two rows per counted actor: the tone of the sentences naming it, and the tone toward it."""

    actor_id: Series[str] = pa.Field(description="the actor")
    n_sentences: Series[int] = pa.Field(ge=0, description="sentences the tone rests on")
    mean: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="mean tone; empty with no sentence")
    ci_low: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="95% bootstrap interval, low end")
    ci_high: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="95% bootstrap interval, high end")
    method: Series[str] = pa.Field(isin=[f"{m}_sentence" for m in SENTIMENT_METHODS] + list(TARGET_METHODS),
                                   description="`<method>_sentence` (the sentences naming it) or the targeted method (the tone toward it)")
    flagged: Series[bool] = pa.Field(description="true when fewer than sentiment.min_sentences sentences support it")

    class Config:
        name = "actor_sentiment"
        unique = ["actor_id", "method"]
        metadata = _stage("sentiment")


class ActorMentionSentiment(pa.DataFrameModel):
    """The tone toward each counted mention."""

    doc_id: Series[str] = pa.Field(description="the document")
    segment_id: Series[str] = pa.Field(description="the sentence")
    actor_id: Series[str] = pa.Field(description="the actor")
    surface: Series[str] = pa.Field(description="the mention as it stands")
    start: Series[int] = pa.Field(ge=0, description="character offset in documents.text")
    end: Series[int] = pa.Field(ge=0, description="character offset after the mention")
    polarity: Series[str] = pa.Field(isin=list(POLARITIES), description="negative, neutral or positive")
    score: Series[float] = pa.Field(in_range=_COMPOUND, description="p(positive) - p(negative) with the model; "
                                                                    "the clause's compound with the clause method")
    p_negative: Series[float] = pa.Field(nullable=True, in_range=_SHARE,
                                         description="the model's p(negative); empty with the clause method")
    p_neutral: Series[float] = pa.Field(nullable=True, in_range=_SHARE,
                                        description="the model's p(neutral); empty with the clause method")
    p_positive: Series[float] = pa.Field(nullable=True, in_range=_SHARE,
                                         description="the model's p(positive); empty with the clause method")
    method: Series[str] = pa.Field(isin=list(TARGET_METHODS), description="`targeted_model` or `<method>_clause`")

    class Config:
        name = "actor_mention_sentiment"
        unique = ["doc_id", "start", "end", "actor_id"]
        metadata = _stage("sentiment")


class TopicSentiment(pa.DataFrameModel):
    """The tone of each topic's sentences (a sentence takes its own topic, or its paragraph's or document's)."""

    topic: Series[int] = pa.Field(ge=-1, description="the topic")
    n_sentences: Series[int] = pa.Field(ge=1, description="its scored sentences")
    mean: Series[float] = pa.Field(in_range=_COMPOUND, description="their mean adjusted compound")
    ci_low: Series[float] = pa.Field(in_range=_COMPOUND, description="95% bootstrap interval, low end")
    ci_high: Series[float] = pa.Field(in_range=_COMPOUND, description="95% bootstrap interval, high end")
    method: Series[str] = pa.Field(isin=list(SENTIMENT_METHODS), description="the lexicon")

    class Config:
        name = "topic_sentiment"
        unique = ["topic"]
        metadata = _stage("sentiment", "the topics stage assigned topics")


# ---------------------------------------------------------------------------------------- summary


class ActorTopicSentiment(pa.DataFrameModel):
    """One row per actor and topic in which it is mentioned."""

    actor_id: Series[str] = pa.Field(description="the actor")
    topic: Series[int] = pa.Field(ge=-1, description="the topic")
    mentions: Series[int] = pa.Field(ge=1, description="counted mentions in the topic")
    documents: Series[int] = pa.Field(ge=1, description="documents with one")
    mean_tone: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND,
                                        description="mean adjusted compound of the sentences naming it; empty with none scored")
    ci_low: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="95% bootstrap interval of mean_tone, low end")
    ci_high: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="95% bootstrap interval of mean_tone, high end")
    example_segment_ids: Series[object] = _list("up to five of those sentences")
    n_sentences: Series[int] = pa.Field(ge=0, description="the sentences mean_tone rests on")
    target_tone: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND,
                                          description="mean tone toward the actor in them; empty without actor_mention_sentiment")
    target_ci_low: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="95% interval of target_tone, low end")
    target_ci_high: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="95% interval of target_tone, high end")
    target_method: Series[str] = pa.Field(isin=["", *TARGET_METHODS], description="how target_tone was scored; empty without it")

    class Config:
        name = "actor_topic_sentiment"
        unique = ["actor_id", "topic"]
        metadata = _stage("summary")


_DIFFERENCE = {"min_value": -2, "max_value": 2}


class ActorSourceSentiment(pa.DataFrameModel):
    """Tone toward each actor per source, with a cluster-bootstrap interval over documents."""

    actor_id: Series[str] = pa.Field(description="the actor")
    source: Series[str] = pa.Field(description="the outlet")
    mentions: Series[int] = pa.Field(ge=1, description="counted mentions in the outlet's sentences")
    documents: Series[int] = pa.Field(ge=1, description="the outlet's documents naming the actor")
    n_sentences: Series[int] = pa.Field(ge=0, description="sentences with a targeted score (one unit per actor and sentence)")
    target_tone: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND,
                                          description="mean targeted score of those units; empty with none")
    ci_low: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND,
                                     description="95% interval, resampling documents; empty under two documents")
    ci_high: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="its high end")
    share_negative: Series[float] = pa.Field(nullable=True, in_range=_SHARE, description="share of the units scored negative")
    share_positive: Series[float] = pa.Field(nullable=True, in_range=_SHARE, description="share of the units scored positive")
    sentence_tone: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND,
                                            description="mean lexicon tone (adjusted compound) of those sentences")
    flagged: Series[bool] = pa.Field(description="true when fewer than sentiment.min_sentences scored sentences support it")

    class Config:
        name = "actor_source_sentiment"
        unique = ["actor_id", "source"]
        metadata = _stage("summary")


class ActorPeriodSentiment(pa.DataFrameModel):
    """Tone toward each actor per period (summary.period), like actor_source_sentiment."""

    actor_id: Series[str] = pa.Field(description="the actor")
    period: Series[str] = pa.Field(description="2022-03 (month), 2022-03-07 (the week's Monday) or 2022Q1 (quarter)")
    period_start: Series[str] = pa.Field(str_matches=r"^\d{4}-\d\d-\d\d$", metadata={"example": "2022-03-01"},
                                         description="the period's first day")
    mentions: Series[int] = pa.Field(ge=1, description="counted mentions in the period's sentences")
    documents: Series[int] = pa.Field(ge=1, description="the period's documents naming the actor")
    n_sentences: Series[int] = pa.Field(ge=0, description="sentences with a targeted score")
    target_tone: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="mean targeted score; empty with none")
    ci_low: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND,
                                     description="95% interval, resampling documents; empty under two documents")
    ci_high: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="its high end")
    share_negative: Series[float] = pa.Field(nullable=True, in_range=_SHARE, description="share of the units scored negative")
    share_positive: Series[float] = pa.Field(nullable=True, in_range=_SHARE, description="share of the units scored positive")
    sentence_tone: Series[float] = pa.Field(nullable=True, in_range=_COMPOUND, description="mean lexicon tone of those sentences")
    flagged: Series[bool] = pa.Field(description="true when fewer than sentiment.min_sentences scored sentences support it")

    class Config:
        name = "actor_period_sentiment"
        unique = ["actor_id", "period"]
        metadata = _stage("summary")


class SourceContrasts(pa.DataFrameModel):
    """Differences in tone toward an actor between two sources, or one source and all the others."""

    actor_id: Series[str] = pa.Field(description="the actor")
    source_a: Series[str] = pa.Field(description="one outlet")
    source_b: Series[str] = pa.Field(description="an outlet after source_a (by name), or `(all others)`: every other "
                                                 "outlet together (with three outlets or more)")
    documents_a: Series[int] = pa.Field(ge=1, description="source_a's documents with a scored unit")
    documents_b: Series[int] = pa.Field(ge=1, description="source_b's documents with a scored unit")
    n_sentences_a: Series[int] = pa.Field(ge=1, description="source_a's scored units")
    n_sentences_b: Series[int] = pa.Field(ge=1, description="source_b's scored units")
    tone_a: Series[float] = pa.Field(in_range=_COMPOUND, description="mean targeted score in source_a")
    tone_b: Series[float] = pa.Field(in_range=_COMPOUND, description="mean targeted score in source_b")
    difference: Series[float] = pa.Field(in_range=_DIFFERENCE, description="tone_a - tone_b")
    ci_low: Series[float] = pa.Field(in_range=_DIFFERENCE, description="95% interval of the difference, resampling each "
                                     "source's documents on their own (the draws of actor_source_sentiment's intervals)")
    ci_high: Series[float] = pa.Field(in_range=_DIFFERENCE, description="its high end")
    p_value: Series[float] = pa.Field(in_range=_SHARE, description="two-sided permutation test: the documents' source labels "
                                      "shuffled, up to sentiment.bootstrap_resamples times (stopped after 20 as extreme)")
    q_value: Series[float] = pa.Field(in_range=_SHARE, description="Benjamini-Hochberg q over every contrast of the table")

    class Config:
        name = "source_contrasts"
        unique = ["actor_id", "source_a", "source_b"]
        metadata = _stage("summary")


class DistinctiveTerms(pa.DataFrameModel):
    """The words and actors that most set each source, and each period, apart from the rest."""

    group_kind: Series[str] = pa.Field(isin=["source", "period"], description="what is compared")
    group: Series[str] = pa.Field(description="the source or the period, against all the others together")
    feature_kind: Series[str] = pa.Field(isin=["word", "actor"], description="a word or an actor")
    rank: Series[int] = pa.Field(ge=1, description="1 for the highest z")
    feature: Series[str] = pa.Field(description="the word, or the actor_id")
    count: Series[int] = pa.Field(ge=1, description="its count in the group")
    count_rest: Series[int] = pa.Field(ge=0, description="its count in the others")
    log_odds: Series[float] = pa.Field(finite=(), description="weighted log-odds ratio, informative Dirichlet prior "
                                       "(Monroe et al. 2008)")
    z: Series[float] = pa.Field(gt=0, finite=(), description="its z-score (log_odds over its standard error); the table keeps the "
                                "summary.distinctive_terms highest of each group and kind")

    class Config:
        name = "distinctive_terms"
        unique = ["group_kind", "group", "feature_kind", "rank"]
        metadata = _stage("summary")


class Findings(pa.DataFrameModel):
    """The plain-language lines at the top of the report, each computed from the tables above."""

    finding: Series[str] = pa.Field(description="one finding")

    class Config:
        name = "findings"
        metadata = _stage("summary")


# ----------------------------------------------------------------------------------------- access

_MODELS: tuple[type[pa.DataFrameModel], ...] = (
    Documents, Segments, RemovedLines, Skipped, Duplicates,
    Topics, SegmentTopics, DocumentTopics, TopicQuality, TopicHierarchy, TopicsOverTime, TopicsPerSource,
    ActorMentions, Actors, ActorDocumentCounts, ActorCooccurrence, ActorCandidates, Kwic, ActorAmbiguous,
    ActorsOverTime, ActorsPerSource, ActorGoldEvaluation, ActorGoldDisagreements,
    SentenceSentiment, DocumentSentiment, MethodAgreement, ActorSentiment, ActorMentionSentiment, TopicSentiment,
    ActorTopicSentiment, Findings, ActorSourceSentiment, ActorPeriodSentiment, SourceContrasts, DistinctiveTerms,
)
#: table name -> its declaration, in stage order
TABLES: dict[str, type[pa.DataFrameModel]] = {m.Config.name: m for m in _MODELS}
_SCHEMAS: dict[str, pa.DataFrameSchema] = {}

# annotation -> (pandas dtype of an empty column, name in the docs)
_DTYPES = {str: ("str", "string"), int: ("int64", "int64"), float: ("float64", "float64"),
           np.float32: ("float32", "float32"), bool: ("bool", "bool"), object: ("object", "list")}


def _schema(name: str) -> pa.DataFrameSchema:
    if name not in TABLES:
        raise SchemaError(f"table {name} is not declared in analysis/schema.py; declare it there (its columns, "
                          f"types and meaning) before a stage writes it; declared: {', '.join(TABLES)}")
    if name not in _SCHEMAS:
        _SCHEMAS[name] = TABLES[name].to_schema()
    return _SCHEMAS[name]


def _annotation(model: type[pa.DataFrameModel], column: str):
    return typing.get_args(typing.get_type_hints(model)[column])[0]


def columns(name: str) -> list[str]:
    """The columns of table ``name``, in the order its files hold them."""
    return list(_schema(name).columns)


def empty(name: str) -> pd.DataFrame:
    """Table ``name`` with no rows: every declared column, with its type.

    >>> empty("actor_document_counts").dtypes.astype(str).tolist()
    ['str', 'str', 'int64']
    """
    cols = columns(name)
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES[_annotation(TABLES[name], c)][0]) for c in cols})


def frame(name: str, rows: list) -> pd.DataFrame:
    """``rows`` (tuples in column order, or dicts) as table ``name``: its declared columns, typed even with no rows.

    >>> frame("findings", []).dtypes.astype(str).tolist()
    ['str']
    """
    return pd.DataFrame(rows, columns=columns(name)) if len(rows) else empty(name)


def example(name: str, **values) -> pd.DataFrame:
    """A valid table ``name`` holding ``values`` (column -> list), its other columns filled with a neutral value.

    Neutral: ``""``, ``0``, ``0.0``, ``False``, ``[]``, a column's first allowed value, its lower bound, or
    the example its declaration gives. For tests and examples that care about a few columns; with several
    rows, give the key columns.

    >>> example("segments", segment_id=["a:p000"], doc_id=["a"])[["segment_id", "unit", "start"]].values.tolist()
    [['a:p000', 'paragraph', 0]]
    """
    if unknown := [c for c in values if c not in _schema(name).columns]:
        raise SchemaError(f"table {name}: column(s) {', '.join(unknown)} not declared in analysis/schema.py")
    n = len(next(iter(values.values()))) if values else 1
    model, data = TABLES[name], {}
    for col, spec in _schema(name).columns.items():
        kind = _DTYPES[_annotation(model, col)][0]
        if col in values:
            data[col] = values[col] if kind == "object" else pd.Series(values[col], dtype=kind)
            continue
        stats = {k: v for c in spec.checks for k, v in (c.statistics or {}).items()}
        if any(c.name == "greater_than" for c in spec.checks):
            stats["min_value"] += 1
        fill = ((spec.metadata or {}).get("example") if "example" in (spec.metadata or {}) else
                sorted(stats["allowed_values"])[0] if "allowed_values" in stats else
                max(0, stats["min_value"]) if "min_value" in stats else
                {"str": "", "int64": 0, "float64": 0.0, "float32": 0.0, "bool": False}.get(kind))
        data[col] = [[] for _ in range(n)] if kind == "object" else pd.Series([fill] * n, dtype=kind)
    return pd.DataFrame(data)


# ------------------------------------------------------------------------------------- validation


def _check_text(check) -> str:
    """What a pandera check demands, in words."""
    stats = getattr(check, "statistics", {}) or {}
    if check.name == "isin":
        return "allowed: " + ", ".join(repr(v) for v in stats["allowed_values"])
    if check.name == "in_range":
        return f"it must lie in [{stats['min_value']}, {stats['max_value']}]"
    if check.name == "greater_than_or_equal_to":
        return f"it must be >= {stats['min_value']}"
    if check.name == "greater_than":
        return f"it must be > {stats['min_value']}"
    if check.name == "str_matches":
        return f"it must match {stats['pattern']!r}"
    if check.name == "cell_is_list":
        return "each cell must hold a list"
    if check.name == "finite":
        return "it must be finite"
    return f"it must pass {check.name}"


def _problem(err, df: pd.DataFrame, name: str) -> tuple[str, str]:
    """One pandera failure as (column or key, a phrase naming it and what was wrong)."""
    col = err.column_name
    reason = str(err.reason_code).rsplit(".", 1)[-1]
    check = getattr(err.check, "name", None) if err.check is not None else None
    if reason == "DUPLICATES" or check == "multiple_fields_uniqueness" or col is None:
        key = list(_schema(name).unique or [])
        if key:
            dup = df[df.duplicated(key, keep=False)]
            if len(dup):
                first = ", ".join(f"{k}={getattr(v, 'item', lambda v=v: v)()!r}" for k, v in zip(key, dup.iloc[0][key]))
                return "key", (f"key ({', '.join(key)}) is not unique: {len(dup)} rows share a key, e.g. {first}; "
                               "a key must name one row")
        return "table", str(err).splitlines()[0]
    if reason == "WRONG_DATATYPE":
        want = _DTYPES[_annotation(TABLES[name], col)][0]
        return col, f"column {col} has dtype {df[col].dtype}; it must be {want}"
    if reason == "SERIES_CONTAINS_NULLS":
        return col, f"column {col} has {int(df[col].isna().sum())} null value(s); it may not be null"
    cases = err.failure_cases
    if isinstance(cases, pd.DataFrame) and "failure_case" in cases and err.check is not None:
        vals = list(dict.fromkeys(repr(v) for v in cases["failure_case"]))
        shown = ", ".join(vals[:3]) + (", ..." if len(vals) > 3 else "")
        return col, f"column {col} has {len(cases)} value(s) that fail ({shown}); {_check_text(err.check)}"
    return col, f"column {col}: {str(err).splitlines()[0]}"


def validate(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """``df`` checked against table ``name``'s declaration, with its columns in the declared order.

    An empty ``df`` becomes :func:`empty` (every declared column, with its type). Nothing is converted:
    a wrong type is an error.

    Raises:
        SchemaError: in one line, naming the table, the column and what was wrong.
    """
    schema = _schema(name)
    cols = list(schema.columns)
    if extra := [c for c in df.columns if c not in schema.columns]:
        raise SchemaError(f"table {name}: column(s) {', '.join(map(str, extra))} not declared in analysis/schema.py; "
                          f"declare them there (type and meaning) or drop them; declared: {', '.join(cols)}")
    if not len(df):
        return empty(name)
    if missing := [c for c in cols if c not in df.columns]:
        raise SchemaError(f"table {name}: column(s) {', '.join(missing)} missing; it must have {', '.join(cols)}")
    out = df[cols]
    try:
        schema.validate(out, lazy=True, inplace=True)
    except SchemaErrors as exc:
        problems: dict[str, str] = {}
        for e in exc.schema_errors:        # the first problem of each column (a wrong dtype comes first)
            where, text = _problem(e, out, name)
            problems.setdefault(where, text)
        shown = list(problems.values())
        more = f" (and {len(shown) - 3} more)" if len(shown) > 3 else ""
        raise SchemaError(f"table {name}: " + "; ".join(shown[:3]) + more) from None
    return out


# ------------------------------------------------------------------------------------------- docs


def _type_of(model, col: str, field) -> str:
    meta = (field.metadata or {}) if field is not None else {}
    return meta.get("type") or _DTYPES[_annotation(model, col)][1]


def _allowed(spec) -> str:
    parts = []
    for c in spec.checks:
        if c.name == "cell_is_list":
            continue
        s = c.statistics or {}
        if c.name == "isin":
            parts.append(", ".join(f"`{v}`" if v != "" else "(empty)" for v in s["allowed_values"]))
        elif c.name == "in_range":
            parts.append(f"{s['min_value']} to {s['max_value']}")
        elif c.name == "greater_than_or_equal_to":
            parts.append(f">= {s['min_value']}")
        elif c.name == "greater_than":
            parts.append(f"> {s['min_value']}")
        elif c.name == "str_matches":
            parts.append(f"matches `{s['pattern']}`")
        else:
            parts.append(c.name)
    return "; ".join(parts)


def markdown() -> str:
    """``docs/tables.md``: every table, column, type, nullability, allowed values, key and meaning."""
    out = ["# Tables",
           "",
           "<!-- Generated from analysis/schema.py by `python -m analysis.schema --markdown > docs/tables.md` "
           "(make docs); do not edit. -->",
           "",
           "Every table a run writes into `outputs/<run>/tables/`, as `<name>.parquet` and `<name>.csv`. Each stage",
           "checks its tables against these declarations before writing them. Lists inside a cell are JSON text in",
           "the files. A key is the set of columns that names one row. What the less obvious columns mean, and how",
           "they are computed, is in [table_notes.md](table_notes.md).",
           ""]
    stage = None
    for name, model in TABLES.items():
        spec = _schema(name)
        meta = model.Config.metadata
        if meta["stage"] != stage:
            stage = meta["stage"]
            out += [f"## {stage.capitalize()} stage (`{config.STAGES[stage]}`)", ""]
        fields = model.__fields__
        key = ", ".join(f"`{c}`" for c in (spec.unique or [])) or "none (rows may repeat)"
        when = f" Written only when {meta['when']}." if meta["when"] else ""
        out += [f"### `{name}`", "", f"{spec.description}{when} Key: {key}.", "",
                "| column | type | null | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
        for col, cspec in spec.columns.items():
            field = fields[col][1] if col in fields else None
            desc = (cspec.description or "").replace("|", "\\|")
            out.append(f"| `{col}` | {_type_of(model, col, field)} | {'yes' if cspec.nullable else 'no'} | "
                       f"{_allowed(cspec).replace('|', chr(92) + '|')} | {desc} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis.schema --markdown``: print docs/tables.md."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--markdown"]:
        print("usage: python -m analysis.schema --markdown > docs/tables.md", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
