r"""Dictionary proposals from a run's NER candidates: one reviewed YAML file instead of surface-by-surface edits.

The actors stage lists what spaCy's NER found and the dictionary did not know (``actor_candidates``).
:func:`suggest_actors` turns that list into actors in the format of ``analysis/data/actors.yaml``:

* surfaces of one entity are grouped: case variants ("NATO", "Nato"), transliterations (Kiev / Kyiv,
  Zaporizhzhia / Zaporozhye: the same consonant skeleton, see :func:`skeleton`), a name and its acronym
  written beside it in the texts ("Organization for Security and Co-operation in Europe (OSCE)"), a
  full name and its surname (possessives need no entry: spaCy splits "Yanukovych's");
* a surname alone becomes a ``context`` form that counts only when the full name is in the same
  document; it becomes an alias only when the corpus uses it alone and everything says it is this
  person (see :class:`SurnameRule`);
* surfaces NER labels inconsistently, places (GPE that are not states), nationality adjectives (NORP),
  modifiers ("Euro-Atlantic security") and offices without their country ("Defence Ministry") go under
  ``ambiguous`` with the reason: listed in ``actor_ambiguous`` on the next run, never counted;
* every proposal carries, as YAML comments, the mentions and documents a rerun would count (a scan of
  the texts outside what the dictionary already matched), the NER labels and two contexts.

Example:
    >>> cands = pd.DataFrame({"surface": ["Viktor Yanukovych", "Yanukovych"], "ner_label": ["PERSON", "PERSON"],
    ...                       "mentions": [2, 2], "documents": [2, 2]})
    >>> docs = pd.DataFrame({"doc_id": ["a", "b"], "text": [
    ...     "Viktor Yanukovych fled. Yanukovych's aides stayed.", "Viktor Yanukovych spoke. Yanukovych left."]})
    >>> s = suggest_actors(cands, docs, min_mentions=2)
    >>> [(p.actor_id, p.aliases, p.context) for p in s.proposals]
    [('VIKTOR_YANUKOVYCH', ['Viktor Yanukovych'], ['Yanukovych'])]
    >>> print("\n".join(s.to_yaml().splitlines()[-6:]))
      - id: VIKTOR_YANUKOVYCH
        name: Viktor Yanukovych
        type: person
        aliases: [Viktor Yanukovych]
        context:
          - {text: Yanukovych, case: exact, requires: VIKTOR_YANUKOVYCH}
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.errors import ParameterError, StageError

__all__ = ["Proposal", "AmbiguousSurface", "Suggestions", "SurnameRule", "suggest_actors", "suggest_from_run",
           "suggest_for_stage",
           "skeleton"]

_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&.]{1,7}$")
_TITLES = ("president", "prime minister", "pm", "minister", "chancellor", "secretary", "senator", "governor", "mayor",
           "general", "gen.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "sir", "pope", "king", "queen",
           "prince", "commander", "colonel", "col.", "lt.", "spokesman", "spokeswoman", "ambassador")
_GENERIC = {"ministry", "defence", "defense", "foreign", "affairs", "interior", "justice", "finance", "health",
            "government", "authorities", "army", "forces", "armed", "troops", "military", "navy", "air", "force",
            "general", "staff", "security", "council", "parliament", "cabinet", "office", "department", "of", "the",
            "national", "guard", "police", "service", "committee", "presidential", "administration", "state",
            "federal", "supreme", "court", "central", "bank", "command", "headquarters", "intelligence", "and",
            "economy", "energy", "agency", "for", "emergency", "emergencies", "situations", "border", "prosecutor",
            "minister", "ministers", "general's", "prosecutor's", "operational", "headquarter", "region", "regional"}
_TYPE_WORDS = (
    ("media", {"news", "times", "post", "journal", "press", "tv", "television", "radio", "channel", "gazette",
               "herald", "daily", "telegraph", "guardian", "tribune", "reuters", "bloomberg", "pravda", "izvestia",
               "kommersant", "vedomosti", "broadcasting", "media", "newspaper", "magazine", "show", "hour"}),
    ("armed_forces", {"army", "forces", "brigade", "regiment", "battalion", "guard", "navy", "militia", "division",
                      "corps", "fleet", "separatists", "rebels", "mercenaries", "legion", "command", "militants",
                      "insurgents", "fighters", "special", "troops"}),
    ("international_organisation", {"united", "nations", "international", "organization", "organisation", "world",
                                    "alliance", "union", "european", "atlantic", "monetary", "fund", "unicef",
                                    "mission", "osce", "red", "cross"}),
    ("government_body", {"ministry", "parliament", "council", "commission", "government", "duma", "senate",
                         "congress", "office", "committee", "court", "prosecutor", "administration", "cabinet",
                         "assembly", "department", "service", "agency", "bureau", "directorate", "rada", "kremlin",
                         "party", "house"}),
)
_ORG_WORDS = set().union(*(words for _, words in _TYPE_WORDS)) - {"guard", "special", "red", "post", "times"}
_PLACE_AFTER = {"region", "oblast", "district", "direction", "sector", "area", "city", "village", "front",
                "outskirts", "airport", "port", "plant"}
_LEADING_PREPOSITIONS = ("near ", "in ", "at ", "from ", "to ", "into ", "outside ", "around ", "towards ", "on ")
_PLACE_BEFORE = {"in", "near", "at", "around", "outside", "inside", "into", "across", "towards", "toward",
                 "besieged", "city", "town", "village", "region", "port", "oblast", "occupied", "liberated"}
_PERSON_AFTER = {"says", "said", "tells", "told", "urges", "urged", "calls", "called", "asks", "asked", "warns",
                 "warned", "signs", "signed", "meets", "met", "vows", "vowed", "visits", "visited", "speaks", "spoke",
                 "thanks", "accuses", "accused", "announces", "announced", "insists", "claims", "claimed", "slams",
                 "hails", "discusses", "discussed", "wants", "believes", "thinks", "admits", "rejects", "condemns"}
_PERSON_BEFORE = {"president", "minister", "mr", "mrs", "ms", "leader", "chancellor", "spokesman", "spokeswoman",
                  "premier", "secretary", "chief", "general", "adviser", "advisor", "ambassador", "governor",
                  "mayor", "senator", "envoy", "pm", "head", "commander"}
_MEDIA_CUES = re.compile(r"news agency|newspaper|broadcaster|reported|\btold\b|\bTV\b|channel|correspondent|"
                         r"according to", re.I)


@dataclass(frozen=True)
class SurnameRule:
    """When a surname alone becomes an alias (counted everywhere) instead of a ``context`` form.

    A surname used alone is this person's name in the corpus (headlines say "Zelensky", not the full
    name) when every check holds; otherwise it counts only in documents naming the full name.

    Attributes:
        mode: ``auto`` (aliases when the checks hold) or ``context`` (surnames are always context forms).
        min_person_share: share of its NER labels that are PERSON.
        max_lowercase_share: share of its occurrences written in lower case (a common word: "price").
        min_ner_coverage: share of its capitalised occurrences NER labelled at all (a name NER reads as
            a name, not a month or a common word at the start of a title).
    """

    mode: str = "auto"
    min_person_share: float = 0.8
    max_lowercase_share: float = 0.02
    min_ner_coverage: float = 0.5


@dataclass
class Proposal:
    """One proposed actor: what goes into the YAML file, and the evidence written beside it."""

    actor_id: str
    name: str
    type: str
    aliases: list[str]
    exact: list[str]                 # aliases matched case-exact (acronyms, single names)
    context: list[str]               # surname forms that need ``actor_id`` named in the same document
    mentions: int
    documents: int
    labels: str                      # "PERSON 290, ORG 3"
    variants: str                    # "Viktor Yanukovych 120, Yanukovych 180"
    examples: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class AmbiguousSurface:
    """A surface listed under ``ambiguous``: reported on the next run, never counted."""

    text: str
    reason: str
    mentions: int
    documents: int
    exact: bool = False


@dataclass
class Suggestions:
    """What :func:`suggest_actors` found: proposals, ambiguous surfaces, variants of known actors."""

    proposals: list[Proposal]
    ambiguous: list[AmbiguousSurface]
    known_variants: list[tuple[str, str, int]]   # (surface, existing actor id, mentions)
    n_candidates: int
    base: dict | None = None                     # the user dictionary the run used, copied into the file
    base_path: str = ""
    mode: str = "extend"

    def table(self) -> pd.DataFrame:
        """The proposals as a table, ranked by mentions (for notebooks)."""
        return pd.DataFrame([{"actor_id": p.actor_id, "name": p.name, "type": p.type, "mentions": p.mentions,
                              "documents": p.documents, "aliases": ", ".join(p.aliases + p.exact),
                              "context": ", ".join(p.context), "ner_labels": p.labels,
                              "example": p.examples[0] if p.examples else ""} for p in self.proposals],
                            columns=["actor_id", "name", "type", "mentions", "documents", "aliases", "context",
                                     "ner_labels", "example"])

    def ambiguous_table(self) -> pd.DataFrame:
        """The surfaces listed under ``ambiguous``, with why (for notebooks)."""
        return pd.DataFrame([{"surface": a.text, "reason": a.reason, "mentions": a.mentions, "documents": a.documents}
                             for a in self.ambiguous], columns=["surface", "reason", "mentions", "documents"])

    def to_yaml(self, run_name: str = "", source: str = "") -> str:
        """The dictionary file: valid for ``actors.dictionary`` as written, commented for review."""
        out = [f"# Actors suggested from the NER candidates of run {run_name or '?'}"
               + (f" ({source})" if source else "") + ",",
               f"# by `python -m analysis actors suggest`: {len(self.proposals)} proposed actors, "
               f"{len(self.ambiguous)} ambiguous surfaces, from {self.n_candidates} candidate surfaces.",
               "# Review it (delete what is wrong, move forms between actors), then rerun with",
               "#   --set actors.dictionary=THIS_FILE" + (" --set actors.dictionary_mode=replace"
                                                          if self.mode == "replace" else ""),
               "# Per actor: the mentions and documents the rerun would count (a scan of the texts outside what",
               "# the dictionary already matched), NER's labels, the surfaces seen, two contexts.",
               "# `context` forms (a surname alone) count only when the full name is in the same document.",
               "# Possessives (\"Yanukovych's\") and hyphenated forms need no entry: the name token matches.",
               "version: 1"]
        base = self.base or {}
        if self.base is not None:
            out.append(f"# actors, ambiguous surfaces and roles of {self.base_path}, the dictionary this run used "
                       "(its comments are not kept)")
        amb = [*(base.get("ambiguous") or [])]
        out.append("ambiguous:" + ("" if amb or self.ambiguous else " []"))
        out += [f"  - {_flow(item)}" for item in amb]
        for a in self.ambiguous:
            out.append(f"  # {a.mentions} mentions in {a.documents} documents")
            item = {"text": a.text, "reason": a.reason, **({"case": "exact"} if a.exact else {})}
            out.append(f"  - {_flow(item)}")
        if base.get("roles"):
            out.append("roles:")
            out += [f"  - {_flow(r)}" for r in base["roles"]]
        out.append("actors:" + ("" if base.get("actors") or self.proposals else " []"))
        out += [f"  - {_flow(e)}" for e in base.get("actors") or []]
        for rank, p in enumerate(self.proposals, start=1):
            out.append(f"  # {rank}. {p.name}: {p.mentions} mentions in {p.documents} documents; NER: {p.labels}")
            out.append(f"  #    surfaces seen: {p.variants}")
            for n in p.notes:
                out.append(f"  #    {n}")
            for ex in p.examples:
                out.append(f"  #    {ex}")
            out.append(f"  - id: {p.actor_id}")
            out.append(f"    name: {_q(p.name)}")
            out.append(f"    type: {p.type}")
            forms = [_q(a) for a in p.aliases] + [_flow({"text": a, "case": "exact"}) for a in p.exact]
            out.append(f"    aliases: [{', '.join(forms)}]")
            if p.context:
                out.append("    context:")
                out += [f"      - {_flow({'text': c, 'case': 'exact', 'requires': p.actor_id})}" for c in p.context]
        if self.known_variants:
            out.append("# Not proposed: surfaces that look like variants of actors the dictionary already has; add")
            out.append("# them to that actor by hand if they are (surface -> actor, mentions):")
            out += [f"#   {s} -> {a} ({m})" for s, a, m in self.known_variants]
        return "\n".join(out) + "\n"

    def write(self, path: Path, force: bool = False, run_name: str = "", source: str = "") -> Path:
        """Write the file; an existing one only with ``force``."""
        path = Path(path)
        if path.exists() and not force:
            raise ParameterError(f"--out {path} exists; pass --force to overwrite it, or choose another file")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_yaml(run_name, source), encoding="utf-8")
        return path


def _q(s: str) -> str:
    """A YAML scalar: plain when safe, else double-quoted (JSON strings are YAML)."""
    if re.fullmatch(r"[A-Za-z\u00c0-\u024f][\w .\u00c0-\u024f-]*", s) and not s.endswith((" ", ".")) and \
            yaml.safe_load(s) == s:
        return s
    return json.dumps(s, ensure_ascii=False)


def _flow(obj) -> str:
    return yaml.safe_dump(obj, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False).strip()


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.replace("’", "'").replace("`", "'")).strip()


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c))


def skeleton(token: str) -> str:
    """A transliteration-blind key of one word: consonants after the first letter, doubles merged.

    Russian g and Ukrainian h, vowels and y/i/j, doubled letters all vary between spellings of one name.

    Example:
        >>> [skeleton(w) for w in ("Kyiv", "Kiev", "Zaporizhzhia", "Zaporozhye", "Luhansk", "Lugansk")]
        ['kv', 'kv', 'zprz', 'zprz', 'lnsk', 'lnsk']
    """
    s = re.sub(r"[^a-z0-9]", "", _ascii(token.lower()))
    if len(s) <= 3:
        return s
    s = s[0] + re.sub(r"[aeiouyhjw]", "", s[1:].replace("g", "h"))
    return re.sub(r"(.)\1+", r"\1", s)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _upper_snake(s: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", _ascii(s)).strip("_").upper()
    if not s or not s[0].isalpha():
        s = "X_" + s
    return s[:64].rstrip("_")


class _Scan:
    """Where each surface occurs in the texts, outside spans the dictionary already matched."""

    def __init__(self, documents: pd.DataFrame, keys: set[str], claimed: pd.DataFrame | None):
        by_first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for k in keys:
            toks = tuple(t.lower() for t in _tokens(k))
            if toks:
                by_first[toks[0]].append(toks)
        for v in by_first.values():
            v.sort(key=len, reverse=True)
        spans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if claimed is not None and len(claimed):
            c = claimed.sort_values(["doc_id", "start"])
            for d, g in c.groupby("doc_id", sort=False):
                spans[d] = (g["start"].to_numpy(), g["end"].to_numpy())
        self.occ: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
        self.before: dict[str, Counter] = defaultdict(Counter)   # the word before each occurrence
        self.after: dict[str, Counter] = defaultdict(Counter)
        self.doc_ids = documents["doc_id"].astype(str).tolist()
        self.texts = documents["text"].astype(str).tolist()
        for di, text in enumerate(self.texts):
            toks = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text.replace("’", "'"))]
            lower = [t[0].lower() for t in toks]
            starts, ends = spans.get(self.doc_ids[di], (None, None))
            i = 0
            while i < len(lower):
                step = 1
                for cand in by_first.get(lower[i], ()):
                    n = len(cand)
                    if tuple(lower[i:i + n]) != cand:
                        continue
                    s, e = toks[i][1], toks[i + n - 1][2]
                    if starts is not None:
                        j = bisect.bisect_right(starts, e - 1) - 1
                        if j >= 0 and ends[j] > s:
                            break     # inside a dictionary match
                    self.occ[" ".join(cand)].append((di, s, e, text[s:e]))
                    self.before[" ".join(cand)][lower[i - 1] if i else ""] += 1
                    self.after[" ".join(cand)][lower[i + n] if i + n < len(lower) else ""] += 1
                    step = n          # longest first; the words it covers are not matched again
                    break
                i += step

    def stats(self, key: str) -> tuple[int, set[int], Counter]:
        occ = self.occ.get(" ".join(t.lower() for t in _tokens(key)), [])
        return len(occ), {o[0] for o in occ}, Counter(o[3] for o in occ)

    def neighbours(self, keys: list[str]) -> tuple[Counter, Counter]:
        """The words before and after the occurrences of ``keys``, counted."""
        before, after = Counter(), Counter()
        for k in keys:
            k = " ".join(t.lower() for t in _tokens(k))
            before.update(self.before.get(k, {}))
            after.update(self.after.get(k, {}))
        return before, after

    def occurrences(self, key: str) -> list[tuple[int, int, int, str]]:
        return self.occ.get(" ".join(t.lower() for t in _tokens(key)), [])

    def context(self, di: int, s: int, e: int, window: int = 60) -> str:
        t = self.texts[di]
        left = t[max(0, s - window):s].replace("\n", " ")
        right = t[e:e + window].replace("\n", " ")
        return f"{self.doc_ids[di]}: ...{left}[{t[s:e]}]{right}..."


def _acronym_pairs(texts: list[str]) -> Counter:
    """("Long Name", "ACR") pairs written "Long Name (ACR)" or "ACR (Long Name)" in the texts."""
    word = r"(?:[A-Z][\w'’.&-]*|of|for|and|the|de|in|on|du|la)"
    pat = re.compile(rf"((?:{word}\s+){{1,9}}{word})\s+\(([A-Z][A-Z0-9&]{{1,7}})\)")
    rev = re.compile(rf"\b([A-Z][A-Z0-9&]{{1,7}})\s+\(((?:{word}\s+){{1,9}}{word})\)")
    found: Counter = Counter()
    for t in texts:
        for m in pat.finditer(t):
            name, acr = _trim_name(m.group(1), m.group(2)), m.group(2)
            if name:
                found[(name, acr)] += 1
        for m in rev.finditer(t):
            name, acr = _trim_name(m.group(2), m.group(1)), m.group(1)
            if name:
                found[(name, acr)] += 1
    return found


def _trim_name(name: str, acr: str) -> str:
    """The words of ``name`` that the acronym abbreviates ("" when none fit).

    The start whose capitalised initials spell most of the acronym's letters wins, then the one whose
    count of capitalised words is nearest their number.

    Example:
        >>> _trim_name("said the Security Service of Ukraine", "SBU")
        'Security Service of Ukraine'
    """
    words = name.split()
    letters = re.sub(r"[^A-Z]", "", acr)
    best, best_score = "", None
    for i, w in enumerate(words):
        if w[:1] != acr[0] or len(words) - i < 2:
            continue
        initials = [x[0] for x in words[i:] if x[:1].isupper()]
        matched, j = 0, 0
        for ch in letters:
            while j < len(initials) and initials[j] != ch:
                j += 1
            if j < len(initials):
                matched, j = matched + 1, j + 1
        score = (matched, -abs(len(initials) - len(letters)))
        if best_score is None or score > best_score:
            best, best_score = " ".join(words[i:]).rstrip(",.;:"), score
    if best and set(best.lower().split()) <= _GENERIC:
        return ""      # "Security Service (SBU)": the generic words would name every country's service
    return best


def _labels(counter: Counter) -> str:
    return ", ".join(f"{lab} {n}" for lab, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


class _Groups:
    """Union-find over surface keys."""

    def __init__(self, keys):
        self.parent = {k: k for k in keys}

    def find(self, k):
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for k in sorted(self.parent):
            out[self.find(k)].append(k)
        return out


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """English country names (lower case) to ISO alpha-3 codes, from babel's CLDR data."""
    from babel import Locale
    from babel.core import get_global

    alpha3 = {}
    for code3, repl in get_global("territory_aliases").items():
        if len(code3) == 3 and code3.isalpha() and len(repl) == 1:
            alpha3[repl[0]] = code3
    out = {}
    for code, name in Locale("en").territories.items():
        if len(code) == 2 and code.isalpha() and code in alpha3:
            out[_norm(name).lower()] = alpha3[code]
    return out


def _is_modifier(key: str) -> bool:
    """An adjective or prefix rather than a name: "Euro-Atlantic", "Western", "pro-Russian"."""
    toks = key.split()
    return len(toks) == 1 and ("-" in key or re.search(r"(ean|ian|ic|ish|ese|ern)$", key.lower()) is not None)


def _guess_type(name: str, label: str, examples: list[str]) -> str:
    words = {w.lower() for w in _tokens(name)}
    if label == "GPE":
        return "state"
    if label == "PERSON":
        return "media" if words & _TYPE_WORDS[0][1] else "person"
    for typ, cues in _TYPE_WORDS:
        if words & cues:
            return typ
    if examples and sum(bool(_MEDIA_CUES.search(e)) for e in examples) >= max(1, len(examples) // 2 + 1):
        return "media"
    return "other"


def suggest_actors(candidates: pd.DataFrame, documents: pd.DataFrame, mentions: pd.DataFrame | None = None,
                   dictionary=None, top: int = 50, min_mentions: int = 2, surnames: SurnameRule | None = None,
                   ner_share: float = 1.0) -> Suggestions:
    """Group NER candidates into proposed actors and ambiguous surfaces.

    Args:
        candidates: the ``actor_candidates`` table (surface, ner_label, mentions, ...).
        documents: ``doc_id`` and ``text`` of the run's documents.
        mentions: the run's ``actor_mentions`` (spans the dictionary matched: not counted again).
        dictionary: the :class:`~analysis.actors.ActorDictionary` the run used; nothing it already
            counts is proposed. ``None``: no dictionary (every candidate is new).
        top: at most this many proposed actors, and this many ambiguous surfaces, by mentions.
        min_mentions: fewer mentions (in the texts) and an entity is left out.
        surnames: when a surname alone becomes an alias (default :class:`SurnameRule`).
        ner_share: the share of paragraphs NER read (``actors.ner_sample_limit``), to judge coverage.
    """
    rule = surnames or SurnameRule()
    if rule.mode not in ("auto", "context"):
        raise ParameterError(f"surnames: {rule.mode!r} is not allowed; use auto or context")
    known, known_ids, known_skel, person_last = _known_forms(dictionary)
    labels, casing = _surfaces(candidates)
    keys = {k for k in labels if k not in known}
    n_candidates = len(labels)
    # ---- acronyms written beside their names; the names need not be candidates themselves
    pairs = _acronym_pairs(documents["text"].astype(str).tolist())
    acr_of: dict[str, str] = {}
    for (name, acr), _n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        nk, ak = _norm(name).lower(), acr.lower()
        if ak not in keys and nk not in keys:
            continue
        if ak in known or nk in known or nk in acr_of or ak in acr_of.values():
            continue
        acr_of[nk] = ak
        for k, s in ((nk, _norm(name)), (ak, acr)):
            if k not in labels:
                labels[k]["ORG"] += 0
            casing[k][s] += 1
            keys.add(k)
    countries = _countries()
    claimed = mentions[["doc_id", "start", "end"]] if mentions is not None and len(mentions) else None
    scan = _Scan(documents, {casing[k].most_common(1)[0][0] for k in keys}, claimed)
    occ = {k: scan.stats(k) for k in keys}
    dom = {k: (labels[k].most_common(1)[0][0] if sum(labels[k].values()) else "ORG") for k in keys}
    # The small model often labels a surname GPE or ORG ("Scholz": GPE 19 in RUWA's first 3,000 rows);
    # how the texts use a name tells more: "Scholz says", "Chancellor Scholz" vs "in Mariupol".
    cues = {k: _cues(scan, casing[k].most_common(1)[0][0]) for k in keys}
    # an organisation "says" too: a name of several words needs NER's PERSON or a title before it
    personish = {k for k in keys if k not in countries and _name_like(casing[k].most_common(1)[0][0])
                 and not set(k.split()) <= _GENERIC and not set(k.split()) & _ORG_WORDS and (
        (dom[k] == "PERSON" and cues[k][2] < 0.2 and labels[k]["GPE"] < 0.3 * sum(labels[k].values()))
        or (len(k.split()) == 1 and cues[k][0] + cues[k][1] >= 0.25 and cues[k][0] + cues[k][1] > 2 * cues[k][2])
        or cues[k][1] >= 0.25)}
    # ---- grouping: same skeleton and label, acronym pairs, full names and their shorter forms
    groups = _Groups(keys)
    by_skel: dict[tuple, list[str]] = defaultdict(list)
    for k in sorted(keys):
        label_class = "NAME" if k in personish or dom[k] not in ("GPE", "NORP") else dom[k]
        by_skel[(label_class, tuple(skeleton(t) for t in k.split()))].append(k)
    for ks in by_skel.values():
        for a in ks[1:]:
            if difflib.SequenceMatcher(None, _ascii(ks[0]), _ascii(a)).ratio() >= 0.6:
                groups.union(ks[0], a)
    initials: dict[str, list[str]] = defaultdict(list)
    for k in keys:
        words = [w for w in casing[k].most_common(1)[0][0].split() if w[:1].isupper()]
        if len(words) >= 2 and dom[k] == "ORG" and len(k.split()) <= len(words) + 3:
            initials["".join(w[0] for w in words).lower()].append(k)
    for k in keys:
        ac = k.replace(".", "")
        if dom[k] == "ORG" and _ACRONYM.match(casing[k].most_common(1)[0][0]) and len(initials.get(ac, [])) == 1:
            acr_of.setdefault(initials[ac][0], k)
    for nk, ak in acr_of.items():
        groups.union(nk, ak)
    by_last: dict[str, list[str]] = defaultdict(list)
    for k in sorted(keys):
        if k in personish and len(k.split()) > 1:
            by_last[skeleton(k.split()[-1])].append(k)
    for ks in by_last.values():
        for i, a in enumerate(ks):
            sa = [skeleton(t) for t in a.split()]
            for b in ks[i + 1:]:
                sb = [skeleton(t) for t in b.split()]
                short, long_ = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
                if short[0] == long_[0] or long_[-len(short):] == short:
                    groups.union(a, b)
    members = groups.groups()
    gmentions = {r: sum(occ[k][0] for k in ks) for r, ks in members.items()}
    full_owner: dict[str, list[str]] = defaultdict(list)   # surname skeleton -> groups with full names
    for r, ks in members.items():
        for last in sorted({skeleton(k.split()[-1]) for k in ks if k in personish and len(k.split()) > 1}):
            full_owner[last].append(r)
    notes: dict[str, list[str]] = defaultdict(list)
    ambiguous: list[AmbiguousSurface] = []
    surname_of: dict[str, str] = {}
    for r, ks in list(members.items()):
        if any(len(k.split()) != 1 for k in ks) or not (any(k in personish for k in ks) or all(
                dom[k] not in ("GPE", "NORP") and cues[k][2] < 0.1 for k in ks)):
            continue        # a surname NER reads as an ORG ("Medvedchuk") still joins its full name
        owners = sorted({o for k in ks for o in full_owner.get(skeleton(k), []) if o != r},
                        key=lambda o: (-gmentions[o], o))
        owners = [o for o in owners if len(skeleton(ks[0])) >= 3 and any(
            difflib.SequenceMatcher(None, _ascii(ks[0]), _ascii(m.split()[-1])).ratio() >= 0.6
            for m in members[o] if len(m.split()) > 1)]
        if not owners:
            continue
        if len(owners) == 1 or gmentions[owners[0]] >= 0.9 * sum(gmentions[o] for o in owners):
            for k in ks:
                surname_of[k] = owners[0]
            if len(owners) > 1:
                notes[owners[0]].append(f"'{_display(ks[0], casing)}' is also the surname of "
                                        + ", ".join(_display(_name_key(members[o], occ), casing) for o in owners[1:]))
        else:
            ambiguous.append(AmbiguousSurface(_display(ks[0], casing), "the surname of several people: " + ", ".join(
                _display(_name_key(members[o], occ), casing) for o in owners),
                *_exact_counts(scan, _display(ks[0], casing)), exact=True))
            del members[r]
    for k, o in surname_of.items():
        members[o].append(k)
        members.pop(groups.find(k), None)
    proposals: list[Proposal] = []
    variants_known: list[tuple[str, str, int]] = []
    taken_forms: set[str] = set()
    taken_ids = set(known_ids)
    for r, ks in sorted(members.items(), key=lambda kv: (-sum(occ[k][0] for k in kv[1]), kv[0])):
        n_occ = sum(occ[k][0] for k in ks)
        if n_occ < min_mentions or len(proposals) >= top:
            continue
        docs = set().union(*(occ[k][1] for k in ks))
        lab: Counter = Counter()
        for k in ks:
            lab.update(labels[k])
        main = lab.most_common(1)[0][0] if sum(lab.values()) else "ORG"
        before, after = scan.neighbours([_display(k, casing) for k in ks])
        person_cue = (sum(after[w] for w in _PERSON_AFTER) + sum(before[w] for w in _PERSON_BEFORE)) / max(n_occ, 1)
        place_cue = (sum(before[w] for w in _PLACE_BEFORE) + sum(after[w] for w in _PLACE_AFTER)) / max(n_occ, 1)
        full_name = any(k in personish and len(k.split()) > 1 for k in ks)
        check = lab
        evidence = full_name or sum(occ[k][0] for k in ks if k in personish) > n_occ / 2
        if main != "PERSON" and evidence:
            main = "PERSON"     # NER's GPE or ORG on a surname is noise when the texts use it as a person's
            check = Counter({"PERSON": sum(lab.values())})
            notes[r].append(f"a person: NER says {_labels(lab)}, but " + (
                "the group holds a full name" if full_name
                else f"{person_cue:.0%} of its mentions read as a person's ('says', 'President ...')"))
        elif main == "PERSON" and evidence and place_cue < 0.2:
            check = Counter({"PERSON": sum(lab.values())})
        surf = {k: _display(k, casing) for k in ks}
        if owner := _known_owner(ks, main, known_skel, person_last):
            variants_known.append((", ".join(surf[k] for k in ks), owner, n_occ))
            continue
        reason = _ambiguity(ks, check, main, countries, before, after, n_occ, ner_share)
        if reason:
            ambiguous += [AmbiguousSurface(surf[k], reason, *(_exact_counts(scan, surf[k]) if len(k.split()) == 1
                                                              else (occ[k][0], len(occ[k][1]))),
                                           exact=len(k.split()) == 1) for k in ks if occ[k][0]]
            continue
        examples = _examples(scan, ks, surf)
        name_key = _name_key(ks, occ)
        acronyms = [k for k in ks if k in acr_of.values() or (k.replace(".", "") in acr_of.values())]
        acr = min(acronyms, key=lambda k: (k.count("."), -occ[k][0], k)) if acronyms else None   # "EU" over "E.U."
        if acr and any(k != acr for k in ks):
            name_key = max((k for k in ks if k != acr), key=lambda k: (len(k.split()) > 1, occ[k][0], len(k)))
        name = surf[name_key]
        typ = _guess_type(name, main, examples)
        code = next((countries[k] for k in ks if k in countries), "")
        aid = code if typ == "state" and code else _upper_snake(surf[acr] if acr else name)
        base_id, i = aid, 2
        while aid in taken_ids:
            aid, i = f"{base_id[:60]}_{i}", i + 1
        aliases, exact, context = [], [], []
        pnotes = list(notes.get(r, []))
        full_docs = set().union(*(occ[k][1] for k in ks if len(k.split()) > 1))
        mine: set[str] = set()
        for k in sorted(ks, key=lambda k: (-occ[k][0], k)):
            if not occ[k][0] or k in taken_forms:
                continue
            mine.add(k)
            capitals = [c for c in sorted(occ[k][2]) if c[:1].isupper()] or [surf[k]]
            if len(k.split()) > 1:
                aliases.append(surf[k])
            elif main == "PERSON" and full_docs:
                promote, why = _promote(occ[k], labels[k], full_docs, rule, ner_share, cue=cues[k][0] + cues[k][1],
                                        place=cues[k][2])
                if promote:
                    exact += capitals
                    pnotes.append(f"'{surf[k]}' counted everywhere: {why}")
                else:
                    context.append(surf[k])
                    pnotes.append(f"'{surf[k]}' counted only beside the full name: {why}")
            elif _ACRONYM.match(surf[k]):
                exact += [c for c in capitals if c.isupper() or c.istitle()]
            else:
                exact += capitals
        if main == "PERSON" and not full_docs:
            cases = Counter({c: n for k in ks for c, n in occ[k][2].items()})
            ok, why = _promote((n_occ, docs, cases), lab, set(), SurnameRule(
                "auto", min_person_share=0.9, max_lowercase_share=rule.max_lowercase_share, min_ner_coverage=0.8),
                ner_share, single_name=True, cue=person_cue, place=place_cue)
            if ok and all(c.isupper() for c in cases):
                ok, why = False, "written in capitals only (an acronym NER read as a person)"
            if not ok:
                ambiguous += [AmbiguousSurface(surf[k], f"a single name with no full name in the corpus; {why}",
                                               *_exact_counts(scan, surf[k]), exact=True) for k in ks if occ[k][0]]
                continue
            pnotes.append(f"a single name, counted everywhere: {why}")
        if any(_lower_share(occ[k][2]) > rule.max_lowercase_share for k in ks
               if main != "PERSON" or len(k.split()) > 1):
            ambiguous += [AmbiguousSurface(surf[k], "also a common word or phrase (written in lower case too)",
                                           *_exact_counts(scan, surf[k]), exact=True) for k in ks if occ[k][0]]
            continue
        if not aliases and not exact:
            continue
        variants = ", ".join(f"{c} {n}" for k in sorted(ks, key=lambda k: (-occ[k][0], k))
                             for c, n in occ[k][2].most_common(3))
        proposals.append(Proposal(aid, name, typ, aliases, _dedupe(exact), context, n_occ, len(docs), _labels(lab),
                                  variants, examples, pnotes))
        taken_ids.add(aid)
        taken_forms |= mine
    ambiguous.sort(key=lambda a: (-a.mentions, a.text))
    seen: set[str] = set()
    amb = []
    for a in ambiguous:
        if a.mentions >= min_mentions and a.text.lower() not in seen and a.text.lower() not in taken_forms:
            seen.add(a.text.lower())
            amb.append(a)
    variants_known.sort(key=lambda v: (-v[2], v[0]))
    return Suggestions(proposals, amb[:top], variants_known, n_candidates)


def _known_owner(ks: list[str], main: str, known_skel: dict, person_last: dict) -> str:
    """The existing actor these surfaces look like a variant of ("Zelenskyi"), or ""."""
    for k in ks:
        sk = tuple(skeleton(t) for t in k.split())
        if sk in known_skel and difflib.SequenceMatcher(None, _ascii(k), known_skel[sk][1]).ratio() >= 0.6:
            return known_skel[sk][0]
        if main == "PERSON" and sk and sk[-1] in person_last and len(sk[-1]) >= 4:
            return person_last[sk[-1]]
    return ""


def _ambiguity(ks: list[str], lab: Counter, main: str, countries: dict[str, str], before: Counter, after: Counter,
               n_occ: int, ner_share: float) -> str:
    """Why a group of surfaces should not be counted, or "" when it may be."""
    if main == "GPE" or any(k in countries for k in ks):
        if any(k in countries for k in ks):
            return ""
        return "a place (NER: GPE), not a state: an actor only where it stands for one (add it as a metonym)"
    place = (sum(before[w] for w in _PLACE_BEFORE) + sum(after[w] for w in _PLACE_AFTER)) / max(n_occ, 1)
    if place >= 0.2:
        return f"used as a place: {place:.0%} of its mentions read 'in X', 'near X', 'X region'..."
    if after[":"] / max(n_occ, 1) >= 0.5:
        return "a headline label ('Explainer: ...'), not a name"
    if lab[main] / max(sum(lab.values()), 1) < 0.8 and sum(lab.values()) >= 3:
        return f"NER labels it inconsistently ({_labels(lab)})" + (": also read as a place" if lab["GPE"] else "")
    if main == "NORP":
        return "a nationality, religious or political group (NORP): count it as a state's demonym by hand"
    if main != "PERSON" and all(_is_modifier(k) for k in ks):
        return "used as an adjective or prefix, not a name"
    if main == "ORG" and all(set(k.split()) <= _GENERIC for k in ks):
        return "an office named without its country: its owner depends on the words around it"
    coverage = sum(lab.values()) / max(n_occ * ner_share, 1e-9)
    if coverage < 0.25:
        return f"NER reads it as a name in only {coverage:.0%} of its occurrences"
    return ""


def _exact_counts(scan: _Scan, text: str) -> tuple[int, int]:
    """Mentions and documents of ``text`` written exactly so (what a case-exact entry matches)."""
    occ = [o for o in scan.occurrences(text) if o[3] == text]
    return len(occ), len({o[0] for o in occ})


def _lower_share(cases: Counter) -> float:
    return sum(v for c, v in cases.items() if c.islower()) / max(sum(cases.values()), 1)


def _known_forms(dictionary) -> tuple[dict[str, str], set[str], dict, dict[str, str]]:
    """What the dictionary counts: its forms (lower case), ids, form skeletons and persons' last names."""
    known: dict[str, str] = {}
    known_ids: set[str] = set()
    known_skel: dict[tuple[str, ...], tuple[str, str]] = {}
    person_last: dict[str, str] = {}
    if dictionary is not None:
        known_ids = set(dictionary.actors["actor_id"])
        persons = set(dictionary.actors.loc[dictionary.actors["type"] == "person", "actor_id"])
        for f in dictionary.forms:
            known[_norm(f.text).lower()] = f.actor_id or "(ambiguous)"
            toks = tuple(skeleton(t) for t in _tokens(f.text) if t[0].isalnum())
            if f.actor_id and toks:
                known_skel.setdefault(toks, (f.actor_id, _ascii(f.text.lower())))
                if f.actor_id in persons:
                    person_last.setdefault(toks[-1], f.actor_id)
        for r in dictionary.roles:
            known_ids.add(str(r.get("role", "")))
    return known, known_ids, known_skel, person_last


def _surfaces(candidates: pd.DataFrame) -> tuple[dict[str, Counter], dict[str, Counter]]:
    """Per normalised surface (lower case): NER's labels and the spellings seen, with mentions.

    Titles ("President", "PM") and a Title Case headline's leading preposition ("Near Mariinka") are cut;
    fragments ("non-", "L/", "Armed Forces: The") are dropped.
    """
    labels: dict[str, Counter] = defaultdict(Counter)
    casing: dict[str, Counter] = defaultdict(Counter)
    for surface, label, n in zip(candidates["surface"].astype(str), candidates["ner_label"], candidates["mentions"]):
        s = _norm(surface).strip(" ,;:\"'()[]")
        if s.endswith(".") and "." not in s[:-1]:
            s = s[:-1]           # a full stop, not an abbreviation's ("U.N." keeps its dot: spaCy's token)
        if label == "PERSON":
            low = s.lower()
            for t in sorted(_TITLES, key=len, reverse=True):
                if low.startswith(t + " ") and len(s) > len(t) + 2:
                    s, low = s[len(t) + 1:], low[len(t) + 1:]
        low = s.lower()
        for prep in _LEADING_PREPOSITIONS:   # Title Case headlines: "Shelling Near Mariinka"
            if low.startswith(prep) and len(s) > len(prep) + 2:
                s = s[len(prep):]
                break
        if (len(s) < 2 or not s[0].isupper() or s.endswith("-") or not re.search(r"[A-Za-z]", s)
                or len(s.split()) > 6 or re.search(r"[:/|\\#@]", s)):
            continue
        key = s.lower()
        labels[key][str(label)] += int(n)
        casing[key][s] += int(n)
    return labels, casing


def _dedupe(xs: list[str]) -> list[str]:
    out: list[str] = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


def _display(key: str, casing) -> str:
    return casing[key].most_common(1)[0][0] if casing.get(key) else key


def _name_key(ks: list[str], occ) -> str:
    """The name of a group: its most frequent multi-word form, else its most frequent form."""
    multi = [k for k in ks if len(k.split()) > 1]
    pool = multi or ks
    return max(pool, key=lambda k: (occ[k][0], len(k), k))


def _examples(scan: _Scan, ks: list[str], surf: dict[str, str], n: int = 2) -> list[str]:
    """Contexts from different documents, the most frequent surface first."""
    out, docs = [], set()
    for k in sorted(ks, key=lambda k: (-len(scan.occurrences(surf[k])), k)):
        for di, s, e, _ in scan.occurrences(surf[k]):
            if di not in docs:
                docs.add(di)
                out.append(scan.context(di, s, e))
                break
        if len(out) >= n:
            break
    return out


def _name_like(text: str) -> bool:
    """Whether ``text`` can be a person's name: 1-4 capitalised words, none in capitals only ("IAEA Zaporizhzhia")."""
    words = text.replace("-", " ").split()
    return 1 <= len(words) <= 4 and all(w[:1].isupper() and not (len(w) > 1 and w.isupper()) for w in words
                                        if w.lower() not in ("van", "von", "der", "de", "al", "bin", "la", "le", "da"))


def _cues(scan: _Scan, text: str) -> tuple[float, float, float]:
    """Shares of the occurrences of ``text`` read as a person's ("X says"; "President X") and a place's ("in X")."""
    before, after = scan.neighbours([text])
    n = max(sum(after.values()), 1)
    return (sum(after[w] for w in _PERSON_AFTER) / n, sum(before[w] for w in _PERSON_BEFORE) / n,
            (sum(before[w] for w in _PLACE_BEFORE) + sum(after[w] for w in _PLACE_AFTER)) / n)


def _promote(stats, lab: Counter, full_docs: set[int], rule: SurnameRule, ner_share: float,
             single_name: bool = False, cue: float = 0.0, place: float = 0.0) -> tuple[bool, str]:
    """Whether a surname (or a single name) alone is an alias (see :class:`SurnameRule`), and why in words."""
    n, docs, cases = stats
    alone = len(docs - full_docs)
    if rule.mode == "context" and not single_name:
        return False, "surnames are context forms (--surnames context)"
    if not alone and not single_name:
        return False, "always beside the full name here"
    person = lab["PERSON"] / max(sum(lab.values()), 1)
    if place >= 0.1:
        return False, f"{place:.0%} of its mentions read as a place's ('in ...')"
    if person < rule.min_person_share and cue < 0.25:
        return False, f"NER reads it as a person in {person:.0%} of its labels, the texts in {cue:.0%}"
    lower = _lower_share(cases)
    if lower > rule.max_lowercase_share:
        return False, f"{lower:.0%} of its occurrences are lower case (also a common word)"
    capital = max(n - sum(v for c, v in cases.items() if c.islower()), 1)
    coverage = sum(lab.values()) / (capital * max(ner_share, 1e-9))
    if coverage < rule.min_ner_coverage:
        return False, f"NER labels only {min(coverage, 1):.0%} of its occurrences as a name"
    why = f"NER reads it as a person ({person:.0%})" if person >= rule.min_person_share else \
        f"{cue:.0%} of its mentions read as a person's ('says', 'President ...')"
    return True, f"used alone in {alone} documents; {why}; never lower case"


def _ner_share(manifest: dict) -> float:
    summary = str(manifest.get("stage_records", {}).get("actors", {}).get("summary", ""))
    m = re.search(r"sample of ([\d,]+) of ([\d,]+) paragraphs", summary)
    return int(m.group(1).replace(",", "")) / int(m.group(2).replace(",", "")) if m else 1.0


def suggest_from_run(run_dir: Path, top: int = 50, min_mentions: int = 2,
                     surnames: SurnameRule | None = None) -> tuple[Suggestions, str]:
    """Read a finished run folder and suggest actors; returns the suggestions and the run's name.

    Raises:
        StageError: the folder is not a run, has no actors stage, or was written by an older version.
    """
    from analysis import schema
    from analysis.actors import load_dictionary
    from analysis.params import load_params
    from analysis.tables import read_table

    run_dir = Path(run_dir)
    manifest_path, tables = run_dir / "manifest.json", run_dir / "tables"
    if not run_dir.is_dir():
        raise StageError(f"{run_dir}: no such run folder")
    if not manifest_path.exists():
        raise StageError(f"{run_dir} is not a run folder (no manifest.json); pass the folder a run wrote, "
                         "e.g. outputs/seeds")
    if not (tables / "actor_candidates.parquet").exists():
        raise StageError(f"{run_dir} has no actor_candidates table: run the actors stage first "
                         "(python -m analysis run ... --until actors)")
    missing_tables = [t for t in ("documents", "actor_mentions") if not (tables / f"{t}.parquet").exists()]
    if missing_tables or not (run_dir / "params.json").exists():
        raise StageError(f"{run_dir} lacks {', '.join(missing_tables) or 'params.json'}: rerun it with "
                         "python -m analysis run ... --until actors")
    manifest = json.loads(manifest_path.read_text())
    cands = read_table(tables, "actor_candidates")
    # the declared columns (analysis.schema); older runs lack some, such as surface_labels
    if missing := [c for c in schema.columns("actor_candidates") if c not in cands.columns]:
        raise StageError(f"{run_dir}: actor_candidates lacks column(s) {missing} (written by an older version "
                         "of the project): rerun the actors stage (python -m analysis run ... --until actors --force)")
    params = load_params(run_dir / "params.json")
    user = params.resolve(params.actors.dictionary)
    dictionary = load_dictionary(user, params.actors.dictionary_mode)
    documents = read_table(tables, "documents")[["doc_id", "text"]]
    mentions = read_table(tables, "actor_mentions")
    s = suggest_actors(cands, documents, mentions, dictionary, top=top, min_mentions=min_mentions,
                       surnames=surnames, ner_share=_ner_share(manifest))
    if user is not None:
        s.base = yaml.safe_load(user.read_text(encoding="utf-8")) or {}
        s.base_path, s.mode = str(params.actors.dictionary), params.actors.dictionary_mode
    return s, str(manifest.get("run_name", run_dir.name))


def suggest_for_stage(params, documents: pd.DataFrame, tables, top: int = 50) -> Suggestions:
    """Proposals from the actors stage's own results (notebook 03), as ``suggest_from_run`` would make them.

    Args:
        params: the run's validated parameters (its actors dictionary is what counts already).
        documents: the ``documents`` table.
        tables: the stage's :class:`~analysis.actors.ActorTables`.
        top: at most this many proposals.
    """
    from analysis.actors import load_dictionary

    dictionary = load_dictionary(params.resolve(params.actors.dictionary), params.actors.dictionary_mode)
    share = tables.ner_paragraphs[0] / tables.ner_paragraphs[1] if tables.ner_paragraphs else 1.0
    return suggest_actors(tables.candidates, documents[["doc_id", "text"]], tables.mentions, dictionary, top=top,
                          ner_share=share)

