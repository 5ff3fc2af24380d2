"""The one typed parameters model shared by the notebooks and the CLI.

A parameters file is YAML with the sections below; every key is checked, a misspelled one is an
error. Paths in a file are relative to the project root.

Example:
    >>> p = Params.model_validate({"run_name": "demo", "topics": {"unit": "sentence"}})
    >>> p.topics.unit
    'sentence'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis import config
from analysis.errors import AnalysisError, ParameterError

__all__ = [
    "CorpusParams",
    "EmbeddingParams",
    "TopicParams",
    "ActorParams",
    "SentimentParams",
    "SummaryParams",
    "Params",
    "load_params",
    "find_params_file",
    "SEEDS_REFERENCE_ONLY",
    "seeds_reference_resets",
    "STAGE_SECTIONS",
    "read_yaml_mapping",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class CorpusParams(_Frozen):
    """Where the corpus is and how to read it."""

    path: str = Field("seeds", description="folder of .txt files, or a .csv/.jsonl/.parquet file")
    format: Literal["auto", "folder", "csv", "jsonl", "parquet"] = "auto"
    id_column: str | None = Field(None, description="column with document ids; row number if empty")
    text_columns: tuple[str, ...] = Field(("text",), min_length=1, description="joined with a newline")
    title_column: str | None = None
    date_column: str | None = None
    source_column: str | None = None
    url_column: str | None = None
    date_format: str | None = Field(None, description="strftime format, e.g. %m/%d/%Y; inferred if empty")
    on_bad_date: Literal["error", "missing"] = "error"
    on_binary_file: Literal["skip", "error"] = "skip"
    on_duplicate_id: Literal["error", "suffix"] = "error"
    max_document_chars: int = Field(5_000_000, ge=1_000, description="longer documents are refused")
    limit: int | None = Field(None, ge=1, description="read only the first N documents")
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1, description="shingle Jaccard for 'near'")
    similar_threshold: float | None = Field(None, gt=0, le=1, description="sentence cosine for 'similar'; "
                                            "default 0.85 with MiniLM, 0.90 with model2vec (same pairs, calibrated)")
    similar_max_documents: int = Field(10, ge=1, description="a sentence retold in more documents than this is "
                                       "a stock phrase, not evidence that two documents tell one story")
    strip_patterns: tuple[str, ...] = Field(
        (), description="regular expressions (Python re) cut out of every line before cleaning: a site's "
        "signature on each headline, an agency's sign-off; every cut is listed in removed_lines")

    @field_validator("strip_patterns")
    @classmethod
    def _patterns(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, pat in enumerate(v):
            try:
                compiled = re.compile(pat)
            except re.error as e:
                raise ValueError(f"item {i} ({pat!r}) is not a regular expression: {e}") from None
            if compiled.search(""):
                raise ValueError(f"item {i} ({pat!r}) matches the empty string, so it would cut nothing "
                                 "but match everywhere; anchor it to the text to remove")
        return v


class EmbeddingParams(_Frozen):
    """Which sentence encoder embeds segments, and how."""

    model: Literal["minilm", "model2vec"] = "minilm"
    batch_size: int = Field(64, ge=1, le=4096, description="texts per model2vec call (1,024 at the least); MiniLM "
                            "sets its own batch shapes (one per token length on the CPU, about 512 token rows; "
                            "large batches on a GPU), so that a text's vector never depends on its batch")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="numeric precision of MiniLM and of the targeted sentiment model (also a MiniLM): "
        "auto = float16 on a GPU or bfloat16 on a CPU with native bfloat16 only where a short calibration "
        "measures it at least 10% faster than float32 on this machine (cached per CPU, torch and model), "
        "else float32. The seeds' file says float32 (their tables the same on any CPU); another corpus "
        "run from that file on the command line (--corpus) gets auto (SEEDS_REFERENCE_ONLY)")


class TopicParams(_Frozen):
    """BERTopic set-up; ``None`` means derived from the number of units."""

    unit: Literal["auto", "document", "paragraph", "sentence"] = "auto"
    auto_sentence_max_documents: int = Field(200, ge=1, description="auto: sentences up to this many docs")
    n_neighbors: int | None = Field(None, ge=2)
    n_components: int = Field(5, ge=2, le=100)
    min_cluster_size: int | None = Field(None, ge=2)
    nr_topics: int | Literal["auto"] | None = None
    representation: Literal["ctfidf", "keybert_mmr"] = Field(
        "ctfidf", description="topic terms and labels from c-TF-IDF (KeyBERTInspired + MMR terms kept beside them "
        "in keybert_terms), or from KeyBERTInspired + MMR")
    mmr_diversity: float = Field(0.3, ge=0, le=1)
    reduce_outliers: bool = True
    terms_from: Literal["clusters", "assigned"] = Field(
        "clusters", description="topic terms from HDBSCAN's clusters (before outliers are reassigned), or from "
        "every unit assigned to the topic after reassignment")
    small_corpus_max_units: int = Field(60, ge=3, description="below this, KMeans instead of UMAP+HDBSCAN")
    top_n_words: int = Field(10, ge=3, le=50)
    ngram_max: int = Field(1, ge=1, le=3, description="longest n-gram of topic terms (1 words, 2 + bigrams)")
    min_df: int | None = Field(None, ge=1, description="a topic term must occur in at least this many units; "
                               "None: 1 below 300 units, then one in a thousand units, at least 2, at most 20")
    knn: Literal["auto", "exact", "nndescent"] = Field(
        "auto", description="UMAP neighbours: exact (torch matrix products; GPU when present), nndescent, or auto")
    umap_epochs: int | None = Field(200, ge=10, description="epochs of UMAP's layout; empty: UMAP's own choice "
                                    "(500 below 10,000 units, 200 from there)")
    fit_sample_limit: int | None = Field(50_000, ge=100, description="above this many units, fit on a seeded "
                                         "sample of this size and assign the rest with transform")


class ActorParams(_Frozen):
    """Actor dictionary and counting rules."""

    dictionary: str | None = Field(None, description="YAML file of extra actors (project-root relative)")
    dictionary_mode: Literal["extend", "replace"] = "extend"
    count_attributive: bool = True
    min_mentions: int = Field(1, ge=1)
    ner_discovery: bool = True
    ner_sample_limit: int | None = Field(50_000, ge=1, description="above this many paragraphs, NER "
                                         "discovery reads a seeded sample of about this many (chosen by a "
                                         "hash of each paragraph's id); the dictionary, which is all that "
                                         "is counted, reads every paragraph. None: NER reads them all")
    kwic_window: int = Field(60, ge=10, le=500)
    gold: str | None = Field(None, description="hand-annotated mentions CSV (doc_id, start, end, actor_id) "
                             "to score the extraction against (precision, recall)")


class SentimentParams(_Frozen):
    """Lexicon scorers, thresholds and the actor-level interval."""

    method: Literal["vader", "afinn"] = "vader"
    second_method: Literal["vader", "afinn"] = "afinn"
    positive_threshold: float = Field(0.05, ge=-1, le=1)
    negative_threshold: float = Field(-0.05, ge=-1, le=1)
    lexicon_adjustments: str | None = Field(
        "analysis/data/lexicon_adjustments.yaml", description="domain valence overrides (YAML)"
    )
    min_sentences: int = Field(3, ge=1)
    bootstrap_resamples: int = Field(1000, ge=100, le=100_000)
    targeted_method: Literal["model", "clause"] = Field(
        "model", description="tone toward each mention: model = the shipped target-dependent classifier, "
        "clause = lexicon score of the clause around the mention")
    targeted_model: str | None = Field(None, description="a retrained targeted model (.safetensors); default: the shipped one")

    @field_validator("negative_threshold")
    @classmethod
    def _ordered(cls, v: float, info: Any) -> float:
        pos = info.data.get("positive_threshold")
        if pos is not None and v > pos:
            raise ValueError(f"must not exceed positive_threshold ({pos})")
        return v


class SummaryParams(_Frozen):
    """How the summary stage compares outlets and periods (analysis/compare.py)."""

    period: Literal["month", "week", "quarter"] = Field(
        "month", description="the period of actor_period_sentiment, of the tone timelines and of the periods "
        "in distinctive_terms: month (2022-03), week (from its Monday, 2022-03-07) or quarter (2022Q1)")
    compare_actors: int = Field(20, ge=0, description="the most mentioned actors whose tone is compared between "
                                "outlets in source_contrasts (every pair of outlets and each against the rest, "
                                "Benjamini-Hochberg over all); 0: every actor")
    distinctive_terms: int = Field(20, ge=1, le=200, description="words and actors kept per outlet and per "
                                   "period in distinctive_terms (highest z-score first)")
    log_odds_sources: tuple[str, ...] = Field(
        (), description="the two outlets of the log-odds figure, e.g. [rt.com, bbc.co.uk]; empty: the two "
        "with most documents")

    @field_validator("log_odds_sources")
    @classmethod
    def _two(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) not in (0, 2) or (len(v) == 2 and v[0] == v[1]):
            raise ValueError("must name two different outlets, or none")
        return v


SPACY_PROCESSES_MIN_DOCUMENTS = 2000   # below this, starting processes costs more than it saves


class ComputeParams(_Frozen):
    """Where the per-document work runs; never changes a table, so it is not part of any fingerprint."""

    scheduler: str | None = Field(None, description="empty: pandas in this process; 'local': a Dask "
                                  "LocalCluster; or a scheduler address such as tcp://10.0.0.5:8786")
    workers: int = Field(2, ge=1, le=512, description="worker processes of the local cluster")
    partitions: int | None = Field(None, ge=1, description="document partitions (default 4 per worker)")
    processes: int | None = Field(None, ge=1, le=64, description="spaCy processes for the actors stage without "
                                  "a scheduler; default: one per CPU core (at most 4) when NER discovery runs "
                                  f"on {SPACY_PROCESSES_MIN_DOCUMENTS:,} documents or more, else 1")
    stages_at_once: int = Field(2, ge=1, le=2, description="notebooks the runner executes at the same time "
                                "where the stages allow it: topics and actors both read only the corpus "
                                "stage's tables, so with 2 they run side by side; 1: one after another. "
                                "With a LocalCluster (scheduler 'local') always 1: each stage starts its own")
    prestart_kernels: bool = Field(True, description="start the next stages' notebook kernels, and import "
                                   "their libraries, while the running stages work (about 10 s less on "
                                   "10,000 documents; one or two more processes, about 0.5 GB)")

    def stages_in_parallel(self) -> int:
        """How many stage notebooks the runner executes at once (1 when each would start a LocalCluster)."""
        return 1 if self.scheduler == "local" else self.stages_at_once

    def spacy_processes(self, n_documents: int, ner: bool) -> int:
        """The ``n_process`` of spaCy for ``n_documents`` (Dask workers are processes already: 1 there)."""
        if self.scheduler:
            return 1
        if self.processes:
            return self.processes
        return min(os.cpu_count() or 1, 4) if ner and n_documents >= SPACY_PROCESSES_MIN_DOCUMENTS else 1

    @field_validator("scheduler")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v in (None, "", "local") or re.match(r"^(tcp|tls|inproc|ucx)://\S+$", v):
            return v or None
        raise ValueError("must be empty, 'local', or a scheduler address like tcp://host:8786")


class Params(_Frozen):
    """All parameters of one run."""

    run_name: str = Field("seeds", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    seed: int = Field(42, ge=0, le=2**32 - 1)
    corpus: CorpusParams = CorpusParams()
    embeddings: EmbeddingParams = EmbeddingParams()
    topics: TopicParams = TopicParams()
    actors: ActorParams = ActorParams()
    sentiment: SentimentParams = SentimentParams()
    summary: SummaryParams = SummaryParams()
    compute: ComputeParams = ComputeParams()

    def resolve(self, path: str | None) -> Path | None:
        """Return ``path`` made absolute against the project root (``None`` stays ``None``)."""
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() else (config.PROJECT_ROOT / p).resolve()

    def section_hash(self, *sections: str) -> str:
        """Stable hash of the named sections (plus the seed), for stage fingerprints."""
        data = {s: getattr(self, s).model_dump(mode="json") for s in sections}
        data["seed"] = self.seed
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def with_overrides(self, overrides: dict[str, Any], where: str = "overrides") -> Params:
        """Return a new validated model with nested ``overrides`` merged in."""
        merged = _deep_merge(self.model_dump(mode="json"), overrides)
        return validate_params(merged, where)


# Which parameter sections each stage reads (part of its fingerprint): from the stage registry.
STAGE_SECTIONS = config.STAGE_SECTIONS


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(x) for x in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown parameter '{loc}' (check its spelling; see notebooks/params/seeds.yaml)"
    allowed = ""
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        allowed = f"; allowed: {ctx['expected']}"
    for key, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in ctx:
            allowed += f"; allowed: {word} {ctx[key]}"
    return f"parameter '{loc}': {err['msg']}{allowed}; got {err.get('input')!r}"


def validate_params(data: dict[str, Any], where: str = "parameters") -> Params:
    """Validate a plain dict into :class:`Params`, raising :class:`ParameterError` for people."""
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        msgs = "; ".join(_describe(e) for e in exc.errors())
        raise ParameterError(f"{where}: {msgs}") from None


def read_yaml_mapping(path: Path, error: type[AnalysisError], what: str, hint: str = "") -> dict[str, Any]:
    """Read a YAML mapping with ``safe_load`` only.

    A missing, malformed or non-mapping file raises ``error`` naming ``what`` and the file (``hint`` says
    where it was configured).
    """
    if not path.exists():
        raise error(f"{what} not found: {path}" + (f" ({hint})" if hint else ""))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a mapping, got {type(data).__name__}")
    return data


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Read a YAML parameters file (``safe_load`` only) and validate it.

    Args:
        path: the file; ``notebooks/params/seeds.yaml`` when ``None``. Relative paths are tried
            against the current folder, then the project root, then ``notebooks/params``.
        overrides: nested values that win over the file.
    """
    p = find_params_file(path)
    data = read_yaml_mapping(p, ParameterError, "parameters file", "named files live in notebooks/params/")
    if overrides:
        data = _deep_merge(data, overrides)
    return validate_params(data, where=str(p))


def find_params_file(path: str | Path | None) -> Path:
    """The parameters file that ``path`` names (``notebooks/params/seeds.yaml`` when ``None``).

    A relative path is tried against the current folder, then the project root, ``notebooks/params`` and
    ``notebooks``.
    """
    p = Path(path) if path else config.DEFAULT_PARAMS_FILE
    if not p.is_absolute() and not p.exists():
        for base in (config.PROJECT_ROOT, config.PARAMS_DIR, config.NOTEBOOKS_DIR):
            if (base / p).exists():
                return base / p
    return p


# Settings of the default parameters file that describe the seeds' reference run, not a corpus: float32,
# so that the seeds' tables are the same on every CPU, and the hand annotation of the five seed
# articles. ``python -m analysis run --corpus OTHER`` from that file gets the defaults instead
# (:func:`seeds_reference_resets`): bfloat16 where the CPU has it (MiniLM and the targeted model about
# 1.6x faster) and no gold file; ``--set`` still wins. (Only the command line: it hands one params.json
# to every notebook. In JupyterLab each notebook reads its own parameters cell, so a corpus_path set in
# the first would leave the others on float32, and the stages would disagree.)
SEEDS_REFERENCE_ONLY: dict[str, Any] = {"embeddings": {"precision": "auto"}, "actors": {"gold": None}}


def seeds_reference_resets(params_file: str | Path | None, corpus_path: str | None) -> dict[str, Any]:
    """:data:`SEEDS_REFERENCE_ONLY` when ``corpus_path`` points the default parameters file elsewhere, else {}."""
    if corpus_path is None:
        return {}
    p = find_params_file(params_file)
    if not p.exists() or p.resolve() != config.DEFAULT_PARAMS_FILE.resolve():
        return {}
    own = (read_yaml_mapping(p, ParameterError, "parameters file").get("corpus") or {}).get("path")
    if own is not None and _project_path(corpus_path) == _project_path(own):
        return {}
    return {section: dict(values) for section, values in SEEDS_REFERENCE_ONLY.items()}


def _project_path(path: str) -> Path:
    """``path`` made absolute against the project root, as :meth:`Params.resolve` does."""
    return (config.PROJECT_ROOT / Path(path).expanduser()).resolve()
