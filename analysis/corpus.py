r"""Corpus layer: load documents, clean them, segment them, and find duplicates.

Tables this module produces (declared, columns and types, in :mod:`analysis.schema`):

* ``documents``: one row per document, with the cleaned ``text`` every offset points into.
* ``segments``: paragraphs and sentences; ``documents.text[start:end] == segments.text`` always holds.
* ``removed_lines``: every line, or piece of a line, that cleaning removed, and why.
* ``skipped``: every input row or file that did not become a document, and why.
* ``duplicates``: pairs of documents that repeat or retell each other (exact | near | similar).

Example:
    >>> docs = pd.DataFrame({"doc_id": ["a"], "raw_text": ["Title\n\nLEAVE A REPLY\nBody text."]})
    >>> cleaned, removed = clean_documents(docs)
    >>> list(removed["reason"])
    ['comment_form']
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import schema
from analysis.errors import CorpusError
from analysis.params import CorpusParams

__all__ = [
    "Corpus",
    "load_corpus",
    "clean_text",
    "clean_documents",
    "segment_documents",
    "find_duplicates",
    "build_documents_table",
    "sha256_text",
]

# Sentence cosine for 'similar' per encoder: model2vec at 0.90 finds the pairs MiniLM finds at 0.85
# (precision 0.99, recall 0.91 against MiniLM on 3,055 RUWA sentences).
SIMILAR_THRESHOLD = {"minilm": 0.85, "model2vec": 0.90}

_METADATA = ("title", "source", "published", "url")


@dataclass
class Corpus:
    """Raw documents as loaded, plus every input that was skipped and why."""

    documents: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: schema.empty("skipped"))
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256 of the bytes read
    encodings: dict[str, str] = field(default_factory=dict)  # path -> encoding detected
    rows: dict[str, int] = field(default_factory=dict)  # doc_id -> its row in a table corpus (as `skipped`)


def sha256_text(text: str) -> str:
    """Hex sha256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------- loading

_BINARY_MAGIC = {b"%PDF": "PDF", b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"PK\x03\x04": "ZIP/DOCX",
                 b"GIF8": "GIF", b"\xd0\xcf\x11\xe0": "MS Office"}


# Byte-order marks of the UTF-16 and UTF-32 files Windows editors save as "Unicode" text; UTF-32's come
# first, as UTF-32 LE's mark begins with UTF-16 LE's.
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _bom_encoding(data: bytes) -> str | None:
    """The UTF-16/UTF-32 encoding a file's byte-order mark declares, or None."""
    return next((enc for bom, enc in _BOMS if data.startswith(bom)), None)


def _binary_kind(data: bytes) -> str | None:
    if _bom_encoding(data):
        return None                     # NUL bytes are part of UTF-16 and UTF-32 text
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            return kind
    return "binary (NUL bytes)" if b"\x00" in data[:8192] else None


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """Decode bytes by their UTF-16/32 byte-order mark, else as UTF-8, Windows-1252 or Latin-1.

    Raises:
        CorpusError: naming the file and the byte offset that cannot be decoded.

    >>> _decode("Kyiv".encode("utf-16"), Path("a.txt"))
    ('Kyiv', 'utf-16-le')
    """
    if enc := _bom_encoding(data):
        bom = next(b for b, e in _BOMS if e == enc)
        try:
            return data[len(bom):].decode(enc), enc
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: starts with a {enc.upper()} byte-order mark but byte offset "
                              f"{exc.start + len(bom)} cannot be decoded as {enc.upper()}; re-save the file "
                              "as UTF-8") from None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        pass
    # Latin-1 decodes any byte; accept it only when no C1 control characters appear, which real
    # Latin-1 text never contains.
    if not re.search(rb"[\x80-\x9f]", data):
        return data.decode("latin-1"), "latin-1"
    raise CorpusError(
        f"{path}: cannot decode byte 0x{data[utf8_error.start]:02x} at byte offset {utf8_error.start} "
        "as UTF-8, Windows-1252 or Latin-1; re-save the file as UTF-8"
    )


def _read_bytes(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    if size > limit * 4:  # a UTF-8 character is at most 4 bytes: refuse before reading it all
        raise CorpusError(
            f"{path}: {size:,} bytes exceeds corpus.max_document_chars={limit:,}; raise the limit "
            "or split the file"
        )
    return path.read_bytes()


def _load_folder(folder: Path, p: CorpusParams) -> Corpus:
    files = sorted(x for x in folder.iterdir() if x.is_file() and not x.name.startswith("."))
    txt = [x for x in files if x.suffix.lower() == ".txt"]
    skipped: list[dict] = []
    for other in files:
        if other.suffix.lower() != ".txt" and other.name not in ("metadata.csv", "README.md"):
            skipped.append({"source_file": str(other), "row": -1, "reason": "not a .txt file"})
    if not txt:
        raise CorpusError(f"{folder}: no .txt files found; put one article per .txt file there")
    rows, hashes, encodings = [], {}, {}
    for path in txt:
        data = _read_bytes(path, p.max_document_chars)
        hashes[str(path)] = hashlib.sha256(data).hexdigest()
        kind = _binary_kind(data)
        if kind:
            if p.on_binary_file == "error":
                raise CorpusError(f"{path}: looks like a {kind} file, not text; remove it or set "
                                  "corpus.on_binary_file: skip")
            skipped.append({"source_file": str(path), "row": -1, "reason": f"binary file ({kind})"})
            continue
        text, enc = _decode(data, path)
        encodings[str(path)] = enc
        if len(text) > p.max_document_chars:
            raise CorpusError(f"{path}: {len(text):,} characters exceeds corpus.max_document_chars="
                              f"{p.max_document_chars:,}; raise the limit or split the file")
        if not text.strip():
            skipped.append({"source_file": str(path), "row": -1, "reason": "empty document"})
            continue
        title = _first_line(text)
        rows.append({"doc_id": path.stem, "title": title, "source": "", "published": "", "url": "",
                     "raw_text": text, "source_file": path.name, "encoding": enc})
    docs = pd.DataFrame(rows, columns=["doc_id", *_METADATA, "raw_text", "source_file", "encoding"])
    meta_path = folder / "metadata.csv"
    if meta_path.exists() and len(docs):
        hashes[str(meta_path)] = hashlib.sha256(meta_path.read_bytes()).hexdigest()
        meta = pd.read_csv(meta_path, dtype=str, keep_default_na=False)
        if "doc_id" not in meta.columns:
            raise CorpusError(f"{meta_path}: needs a doc_id column; columns present: {list(meta.columns)}")
        meta = meta.set_index("doc_id")
        for col in _METADATA:
            if col in meta.columns:
                known = docs["doc_id"].map(meta[col]).fillna("")
                docs[col] = np.where(known != "", known, docs[col])
    docs = _parse_dates(docs, p, where=str(meta_path))
    return Corpus(docs, schema.frame("skipped", skipped), hashes, encodings)


def _read_table(path: Path, fmt: str) -> tuple[pd.DataFrame, list[dict]]:
    """Read CSV/JSONL/Parquet into a frame of strings plus a list of skipped malformed rows."""
    skipped: list[dict] = []
    if fmt == "parquet":
        return pd.read_parquet(path).astype("string").fillna("").astype(object), skipped
    data = path.read_bytes()
    text, _ = _decode(data, path)
    if fmt == "jsonl":
        records, index = [], []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                skipped.append({"source_file": str(path), "row": n, "reason": f"invalid JSON: {exc.msg}"})
                continue
            if not isinstance(rec, dict):
                skipped.append({"source_file": str(path), "row": n, "reason": "line is not a JSON object"})
                continue
            records.append(rec)
            index.append(n)
        frame = pd.DataFrame.from_records(records, index=index)
        return frame.astype("string").fillna("").astype(object), skipped
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CorpusError(f"{path}: the file is empty; expected a header row") from None
    rows, index = [], []
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            skipped.append({"source_file": str(path), "row": reader.line_num,
                            "reason": f"malformed row: {len(row)} fields, header has {len(header)}"})
            continue
        rows.append(row)
        index.append(reader.line_num)
    return pd.DataFrame(rows, columns=header, index=index, dtype=object), skipped


def _load_table(path: Path, p: CorpusParams, fmt: str) -> Corpus:
    frame, skipped = _read_table(path, fmt)
    wanted = [c for c in (p.id_column, *p.text_columns, p.title_column, p.date_column,
                          p.source_column, p.url_column) if c]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise CorpusError(
            f"{path}: column(s) {missing} not found; columns present: {list(frame.columns)}. Set "
            "corpus.text_columns / id_column / title_column / date_column / source_column to match"
        )
    if p.limit:
        frame = frame.iloc[: p.limit]
    text = frame[list(p.text_columns)].apply(lambda r: "\n".join(s.strip() for s in r if s and s.strip()), axis=1) \
        if len(frame) else pd.Series([], dtype=object)
    empty = text.str.strip() == "" if len(frame) else pd.Series([], dtype=bool)
    for row in frame.index[empty.to_numpy()]:
        skipped.append({"source_file": str(path), "row": int(row),
                        "reason": f"empty text in column(s) {list(p.text_columns)}"})
    too_long = text.str.len() > p.max_document_chars
    if too_long.any():
        row = frame.index[too_long.to_numpy()][0]
        raise CorpusError(f"{path}: row {row} holds {len(text[row]):,} characters, over "
                          f"corpus.max_document_chars={p.max_document_chars:,}")
    keep = ~empty
    frame, text = frame[keep], text[keep]
    ids = frame[p.id_column].astype(str).str.strip() if p.id_column else pd.Series(
        [f"row{int(i):07d}" for i in frame.index], index=frame.index)
    docs = pd.DataFrame({
        "doc_id": ids.to_numpy(),
        "title": frame[p.title_column].to_numpy() if p.title_column else
        [_first_line(t) for t in text],
        "source": frame[p.source_column].to_numpy() if p.source_column else "",
        "published": frame[p.date_column].to_numpy() if p.date_column else "",
        "url": frame[p.url_column].to_numpy() if p.url_column else "",
        "raw_text": text.to_numpy(),
        "source_file": path.name,
        "encoding": "utf-8",
        "_row": frame.index.to_numpy(),
    })
    docs = _parse_dates(docs, p, where=str(path))
    corpus = Corpus(docs, schema.frame("skipped", skipped),
                    {str(path): hashlib.sha256(path.read_bytes()).hexdigest()})
    return corpus


def _parse_dates(docs: pd.DataFrame, p: CorpusParams, where: str) -> pd.DataFrame:
    raw = docs["published"].fillna("").astype(str).str.strip()
    if not (raw != "").any():
        docs["published"] = ""
        return docs
    parsed = pd.to_datetime(raw.where(raw != ""), format=p.date_format, errors="coerce")
    bad = (raw != "") & parsed.isna()
    if bad.any():
        rows = docs.get("_row", docs["doc_id"])[bad].tolist()
        if p.on_bad_date == "error":
            shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
            raise CorpusError(
                f"{where}: {len(rows)} unparseable date(s) in rows/doc_ids {shown} (e.g. "
                f"{raw[bad].iloc[0]!r}); set corpus.date_format (now {p.date_format!r}) or "
                "corpus.on_bad_date: missing"
            )
    docs["published"] = parsed.dt.strftime("%Y-%m-%d").fillna("")
    return docs


def _resolve_duplicate_ids(c: Corpus, p: CorpusParams, where: str) -> Corpus:
    dup = c.documents["doc_id"].duplicated(keep=False)
    if not dup.any():
        return c
    ids = sorted(set(c.documents.loc[dup, "doc_id"]))
    if p.on_duplicate_id == "error":
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        raise CorpusError(f"{where}: {len(ids)} duplicate document id(s): {shown}; make ids unique or "
                          "set corpus.on_duplicate_id: suffix")
    n = c.documents.groupby("doc_id").cumcount()
    c.documents["doc_id"] = np.where(n > 0, c.documents["doc_id"] + "__" + (n + 1).astype(str),
                                     c.documents["doc_id"])
    return c


def load_corpus(p: CorpusParams, path: Path) -> Corpus:
    """Load a corpus from a folder of .txt files or a CSV / JSONL / Parquet file.

    Args:
        p: the corpus parameters (column names, date format, limits).
        path: the resolved corpus path.

    Raises:
        CorpusError: the path is missing, holds no usable document, or a column is absent.
    """
    if not path.exists():
        raise CorpusError(f"corpus not found: {path} (set corpus.path or --corpus)")
    fmt = p.format
    if fmt == "auto":
        if path.is_dir():
            fmt = "folder"
        else:
            fmt = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
                   ".pq": "parquet"}.get(path.suffix.lower(), "")
            if not fmt:
                raise CorpusError(f"{path}: unknown corpus format '{path.suffix}'; allowed: a folder of "
                                  ".txt files, .csv, .jsonl, .parquet (or set corpus.format)")
    corpus = _load_folder(path, p) if fmt == "folder" else _load_table(path, p, fmt)
    if fmt == "folder" and p.limit:
        corpus.documents = corpus.documents.iloc[: p.limit]
    corpus = _resolve_duplicate_ids(corpus, p, str(path))
    if "_row" in corpus.documents:      # a table's row numbers, kept for `skipped` (after ids are unique)
        corpus.rows = dict(zip(corpus.documents["doc_id"], corpus.documents["_row"].astype(int)))
        corpus.documents = corpus.documents.drop(columns="_row")
    if corpus.documents.empty:
        reasons = corpus.skipped["reason"].value_counts().to_dict()
        raise CorpusError(f"{path}: no usable documents (skipped: {reasons or 'nothing found'})")
    corpus.documents = corpus.documents.reset_index(drop=True)
    return corpus


# -------------------------------------------------------------------------------------- cleaning

# (reason, pattern on a stripped line). Every removed line is kept in `removed_lines` with its reason.
_BOILERPLATE: list[tuple[str, re.Pattern[str]]] = [
    ("comment_form", re.compile(r"^(leave a reply|leave a comment|please enter your (comment|name|email)"
                                r"( address)?( here)?!?|you have entered an incorrect email address!?|"
                                r"save my name, email,? and website.*|post comment|cancel reply)$", re.I)),
    ("navigation", re.compile(r"^(back to top( button)?|related (articles|posts|stories)|read more|"
                              r"you may also like|more from .{1,40}|share (this|on .{1,20})|"
                              r"advertisement|skip to (main )?content|previous article|next article)$", re.I)),
    ("image_credit", re.compile(r"^(image|photo|picture|credit|photograph)s?\s*:\s*(©|\(c\)|copyright)?.*"
                                r"|^©\s*\S.*$", re.I)),
    ("photo_caption", re.compile(r".*\b(photo|image|picture)s?\s*:\s*\S.*\b(via|/)\s*"
                                 r"(getty images|afp|reuters|ap|shutterstock|istock)\b.*$"
                                 r"|.*\(photo:.*\)$|.*\bvia getty images\.?$", re.I)),
]
_TERMINAL = re.compile(r"[.!?:;”\"’')\]]$")


def _first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped: a document's title when no column gives one."""
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


_REPEAT_END = re.compile(r" ?[.!?…]+(?:\s+|$)| ?$")   # a repeat ends a sentence or the line, never mid-sentence
_QUOTES = re.compile(r"[\"'«»“”„‘’`]")               # a repeat may quote differently ("Azovstal" / Azovstal)


def _repeat_end(line: str, head: str) -> int | None:
    """Where ``line``'s opening repeat of the whole of ``head`` ends, quotation marks aside; None if none.

    The repeat must be of 4 words or more and end a sentence (or the line), never mid-sentence.
    """
    h = _QUOTES.sub("", head).rstrip(" .!?…")
    if len(h.split()) < 4 or not _QUOTES.sub("", line).startswith(h):
        return None
    i = j = 0
    while j < len(h):                       # walk both, skipping the line's quotation marks
        if _QUOTES.match(line, i):
            i += 1
        else:
            i, j = i + 1, j + 1
    while _QUOTES.match(line, i):
        i += 1
    m = _REPEAT_END.match(line, i)
    return m.end() if m else None


def clean_text(raw: str, strip_patterns: tuple[str, ...] = ()) -> tuple[str, list[tuple[int, str, str]]]:
    """Normalise one document, cut the ``strip_patterns`` out of its lines and drop web boilerplate lines.

    Unicode is put in NFC form, invisible characters and non-breaking spaces become plain spaces,
    runs of spaces collapse, lines are stripped and blank lines collapse to one. Each match of a
    pattern (``corpus.strip_patterns``, applied in order) is removed from its line and reported with
    reason ``strip_pattern``; a line left empty disappears. A line that opens with the whole of the
    line above it as whole sentences (4 words or more; a headline repeated as the lede) loses that
    repeat, reported with reason ``repeated_line``.

    Returns:
        The cleaned text and a list of (line_no, text, reason) for every line or piece removed.
    """
    text = unicodedata.normalize("NFC", raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\u00a0\u2007\u202f\u2000-\u200a\u3000\t]", " ", text)
    text = re.sub(r"[\u200b-\u200d\u2060\ufeff\u00ad]", "", text)
    lines = [re.sub(r" {2,}", " ", ln).strip() for ln in text.split("\n")]
    cut: list[tuple[int, str, str]] = []
    for pat in map(re.compile, strip_patterns):       # re keeps the compiled patterns between documents
        for i, ln in enumerate(lines):
            if not ln:
                continue
            found = [m.group(0).strip() for m in pat.finditer(ln)]
            if found:                                  # one scan finds the pieces; sub cuts them
                cut.extend((i + 1, piece, "strip_pattern") for piece in found if piece)
                lines[i] = re.sub(r" {2,}", " ", pat.sub(" ", ln)).strip()
    reasons: dict[int, str] = {}
    for i, ln in enumerate(lines):
        for reason, pat in _BOILERPLATE:
            if ln and pat.match(ln):
                reasons[i] = reason
                break
    nonblank = [i for i, ln in enumerate(lines) if ln]
    for k, i in enumerate(nonblank):
        if reasons.get(i) == "image_credit" and k > 0:
            # The short unpunctuated line right above a credit line is the photo's caption.
            prev = nonblank[k - 1]
            if prev not in reasons and len(lines[prev].split()) <= 15 and not _TERMINAL.search(lines[prev]):
                reasons[prev] = "photo_caption"
        if reasons.get(i) == "photo_caption" and k > 0:
            # Caption headline repeated above the full caption line.
            prev = nonblank[k - 1]
            if prev not in reasons and lines[i].startswith(lines[prev].rstrip(".")):
                reasons[prev] = "photo_caption"
    # A short unpunctuated widget title just above trailing boilerplate ("OAG Webinar").
    tail = [i for i in nonblank]
    while tail and tail[-1] in reasons:
        tail.pop()
    if tail and len(tail) < len(nonblank):
        last = tail[-1]
        if len(lines[last].split()) <= 4 and not _TERMINAL.search(lines[last]):
            reasons[last] = "trailing_widget"
    # A line that opens with the whole of the line above it (a headline repeated as the lede, as
    # scraped listings often give it) loses the repeat: otherwise every actor in the headline is
    # counted twice. Only whole sentences, only after a line of 4 words or more, quotation marks
    # aside; boilerplate lines are neither the line above nor the repeat.
    prev = None
    for i in nonblank:
        if i in reasons:
            continue
        end = _repeat_end(lines[i], lines[prev]) if prev is not None else None
        if end:
            cut.append((i + 1, lines[i][:end].strip(), "repeated_line"))
            lines[i] = lines[i][end:].strip()
            if not lines[i]:
                continue
        prev = i
    removed = sorted(cut + [(i + 1, lines[i], reasons[i]) for i in reasons])
    kept = [ln if i not in reasons else "" for i, ln in enumerate(lines)]
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return cleaned, removed


def clean_documents(docs: pd.DataFrame, text_column: str = "raw_text",
                    strip_patterns: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean every document; return (documents with cleaned ``text``, ``removed_lines`` table)."""
    cleaned, removed = [], []
    for doc_id, raw in zip(docs["doc_id"], docs[text_column]):
        text, gone = clean_text(raw, strip_patterns)
        cleaned.append(text)
        removed.extend({"doc_id": doc_id, "line": ln, "reason": why, "line_no": no} for no, ln, why in gone)
    out = docs.copy()
    out["text"] = cleaned
    if strip_patterns and "title" in out:
        # A title the loader took from the text's first line (_first_line) is retaken from the cleaned text.
        first = np.array([_first_line(str(t)) for t in docs[text_column]], dtype=object)
        derived = out["title"].astype(str).to_numpy() == first
        out.loc[derived, "title"] = [_first_line(t) for t in out.loc[derived, "text"]]
    return out, schema.frame("removed_lines", removed)


# ---------------------------------------------------------------------------------- segmentation

_SENT_END = re.compile(
    r"""(?<=[.!?])["”’')\]]*\s+(?=["“‘(\[]?[A-Z0-9])"""  # terminal punctuation + space + capital
    r"""|(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])"""  # missing space: "challenges.The"
)
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Gen|Col|Lt|Sgt|Capt|Adm|Sen|Rep|Gov|Pres|St|Jr|Sr|No|Vol|vs|etc|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Inc|Ltd|Co|Corp|approx|e\.g|i\.e)\.|"
    r"\b(?:[A-Z]\.){1,4}|\b[A-Z]\.)$"
)
_TABLE_SEP = re.compile(r"^[\s|:\-]+$")


def _paragraph_spans(text: str) -> list[tuple[int, int, str]]:
    """Paragraph spans: each non-empty line, except that consecutive pipe-table lines form one block."""
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        if not line.strip():
            continue
        kind = "table" if line.count("|") >= 1 and ("|" in line.strip()[-1:] or _TABLE_SEP.match(line)) else "text"
        if kind == "table" and spans and spans[-1][2] == "table" and text[spans[-1][1]:start] == "\n":
            spans[-1] = (spans[-1][0], end, "table")
        else:
            spans.append((start, end, kind))
    return spans


def _sentence_spans(text: str, start: int, end: int, kind: str) -> list[tuple[int, int]]:
    if kind == "table":
        out, pos = [], start
        for row in text[start:end].split("\n"):
            if row.strip() and not _TABLE_SEP.match(row):
                out.append((pos, pos + len(row)))
            pos += len(row) + 1
        return out
    para = text[start:end]
    cuts = [0]
    for m in _SENT_END.finditer(para):
        head = para[cuts[-1]: m.start()]
        if _ABBREV.search(head.rstrip("\"”’')]")):
            continue  # "Feb. 3", "N.C.", "Mr. Putin": not a sentence end
        cuts.append(m.end())
    cuts.append(len(para))
    out = []
    for a, b in zip(cuts, cuts[1:]):
        seg = para[a:b]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg.rstrip())
        if seg.strip():
            out.append((start + a + lead, start + a + trail))
    return out


def segment_documents(docs: pd.DataFrame) -> pd.DataFrame:
    """Split cleaned documents into paragraphs and sentences with offsets into ``docs.text``.

    Ids are stable for a given text: ``<doc_id>:p<n>`` for paragraphs and ``<doc_id>:s<n>`` for
    sentences, numbered from 0 in reading order.
    """
    rows: list[tuple] = []
    for doc_id, text in zip(docs["doc_id"], docs["text"]):
        s_no = 0
        for p_no, (a, b, kind) in enumerate(_paragraph_spans(text)):
            pid = f"{doc_id}:p{p_no:03d}"
            rows.append((pid, doc_id, "paragraph", p_no, a, b, text[a:b], pid))
            for sa, sb in _sentence_spans(text, a, b, kind):
                rows.append((f"{doc_id}:s{s_no:04d}", doc_id, "sentence", s_no, sa, sb, text[sa:sb], pid))
                s_no += 1
    seg = schema.frame("segments", rows)
    return seg.astype({"position": "int64", "start": "int64", "end": "int64"})


# ---------------------------------------------------------------------------------- duplicates

def _shingles(text: str, k: int = 5) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    if len(words) < k:
        return {hash(" ".join(words))} if words else set()
    return {int.from_bytes(hashlib.blake2b(" ".join(words[i:i + k]).encode(), digest_size=8).digest(),
                           "little") for i in range(len(words) - k + 1)}


_PAIR_BLOCK = 1000
# How far a cosine of bfloat16-rounded unit vectors, accumulated in float32 and rounded to bfloat16, can
# be from the float32 one: 2u (inputs) + u/2 (output) with u = 2^-8, about 0.01. Twice that, to be safe.
_BF16_MARGIN = 0.02


def _close_pairs(sv: np.ndarray, threshold: float):
    """Every pair of rows of ``sv`` (unit vectors) whose cosine is at least ``threshold``, block by block.

    Yields ``(lo, i, j, cosine)`` for the rows ``lo .. lo + _PAIR_BLOCK`` against all rows: ``i`` within
    the block, ``j`` over all rows. All pairs are compared, which is quadratic; on a CPU with native
    bfloat16 (and 5,000 rows or more) the products run in bfloat16 through PyTorch and only pairs within
    ``_BF16_MARGIN`` of the threshold are kept as candidates (faster; bench/README.md). Either way each candidate's cosine is then computed again in
    float32, pair by pair, and that value decides: the pairs and cosines are the same whichever way the
    candidates came, and do not depend on the block or the core count.
    """
    from analysis import accel

    fast = len(sv) >= 5000 and accel.cpu_has_bf16()
    if fast:
        import torch

        rows = torch.from_numpy(sv).bfloat16()
        cols = rows.T.contiguous()
    for lo in range(0, len(sv), _PAIR_BLOCK):
        if fast:
            approx = rows[lo:lo + _PAIR_BLOCK] @ cols
            ci, cj = (approx >= threshold - _BF16_MARGIN).nonzero(as_tuple=True)
            ci, cj = ci.numpy(), cj.numpy()
        else:
            ci, cj = np.nonzero(sv[lo:lo + _PAIR_BLOCK] @ sv.T >= threshold - _BF16_MARGIN)
        exact = np.einsum("ij,ij->i", sv[ci + lo], sv[cj])
        keep = exact >= threshold
        yield lo, ci[keep], cj[keep], exact[keep]


def _retold_pairs(sv: np.ndarray, sdoc: np.ndarray, threshold: float, max_documents: int | None,
                  codes: np.ndarray | None = None) -> dict[tuple[int, int], tuple[float, int, int]]:
    """The closest pair of sentences of each pair of documents that share one at cosine >= ``threshold``.

    ``sv``: unit sentence vectors; ``sdoc``: each sentence's document (a position); ``codes``: the same
    code for sentences of the same text. Returns ``{(a, b): (cosine, i, j)}`` for documents ``a < b``
    with sentence ``i`` of ``a`` and ``j`` of ``b``: the highest cosine, on a tie the lowest ``i``, then
    the lowest ``j``. A sentence whose matches fall in more than ``max_documents`` other documents is
    left out (a stock phrase).

    The search (quadratic, :func:`_close_pairs`) runs over distinct texts only: news repeats sentences
    verbatim (agency copy, standing descriptions), and a text's vector depends on the text alone, so every
    copy has the matches, and the cosines, of the first. Its hits are then given to every copy. Sentences
    whose codes are equal but whose vectors are not are searched one by one.
    """
    n = len(sv)
    if codes is not None:
        _, first, codes = np.unique(codes, return_index=True, return_inverse=True)    # codes 0 .. k-1
        codes = codes.ravel()
        copy = first[codes] != np.arange(n)
        if not np.array_equal(sv[copy], sv[first[codes[copy]]]):
            codes = None
    if codes is None:
        codes, first = np.arange(n), np.arange(n)

    def ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each item, its index repeated ``counts`` times, beside 0 .. count - 1."""
        item = np.repeat(np.arange(len(counts)), counts)
        return item, np.arange(len(item)) - np.repeat(np.cumsum(counts) - counts, counts)
    n_occ = np.bincount(codes, minlength=len(first))
    occ = np.argsort(codes, kind="stable")                  # the copies of each text, in row order
    start = np.cumsum(n_occ) - n_occ
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for lo, ui, uj, vals in _close_pairs(np.ascontiguousarray(sv[first]), threshold):
        ui = ui + lo
        if max_documents is not None and len(ui):
            # distinct documents each text's matches fall in (its own copies' included), minus its own
            hh, t = ragged(n_occ[uj])
            copies = occ[start[uj][hh] + t]
            pairs = np.unique(np.stack([ui[hh], sdoc[copies]], axis=1), axis=0)
            reach = np.bincount(pairs[:, 0] - lo, minlength=_PAIR_BLOCK) - 1
            keep = reach[ui - lo] <= max_documents
            ui, uj, vals = ui[keep], uj[keep], vals[keep]
        if not len(ui):
            continue
        # every copy of ui against every copy of uj
        h, k = ragged(n_occ[ui] * n_occ[uj])
        width = n_occ[uj][h]
        gi = occ[start[ui][h] + k // width]
        gj = occ[start[uj][h] + k % width]
        a, b, v = sdoc[gi], sdoc[gj], vals[h]
        fwd = a < b
        gi, gj, a, b, v = gi[fwd], gj[fwd], a[fwd], b[fwd], v[fwd]
        # per document pair: the highest cosine, then the lowest i, then the lowest j
        order = np.lexsort((gj, gi, -v, b, a))
        a, b, v, gi, gj = a[order], b[order], v[order], gi[order], gj[order]
        head = np.ones(len(a), dtype=bool)
        head[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        for x, y, val, i, j in zip(a[head].tolist(), b[head].tolist(), v[head].tolist(), gi[head].tolist(),
                                   gj[head].tolist()):
            old = best.get((x, y))
            if old is None or (val, -i, -j) > (old[0], -old[1], -old[2]):
                best[(x, y)] = (val, i, j)
    return best


def find_duplicates(
    docs: pd.DataFrame,
    near_threshold: float = 0.8,
    sentences: pd.DataFrame | None = None,
    sentence_vectors: np.ndarray | None = None,
    similar_threshold: float = 0.85,
    min_sentence_words: int = 8,
    max_documents: int | None = None,
) -> pd.DataFrame:
    """Report duplicate document pairs.

    ``exact``: identical cleaned text. ``near``: Jaccard of word 5-shingles >= ``near_threshold``
    (the same text lightly edited). ``similar``: the two documents share a retold sentence, i.e. a
    pair of sentences of at least ``min_sentence_words`` words with embedding cosine >=
    ``similar_threshold`` (two rewrites of one agency report). Whole-document embeddings cannot
    tell this apart: all news on one theme sits at cosine 0.8-0.9. ``evidence_a`` / ``evidence_b``
    name the closest sentence pair for ``similar`` rows. A sentence matched in more than
    ``max_documents`` other documents is a stock phrase (a site's standing description, a wire
    slug), not a retelling: its matches are not reported.
    """
    from scipy import sparse

    ids = docs["doc_id"].tolist()
    out: dict[tuple[str, str], tuple[float, str, str, str]] = {}
    by_hash: dict[str, list[int]] = {}
    for i, h in enumerate(docs["text"].map(sha256_text)):
        by_hash.setdefault(h, []).append(i)
    for group in by_hash.values():
        for a in range(len(group)):
            for b in range(a + 1, len(group)):
                out[(ids[group[a]], ids[group[b]])] = (1.0, "exact", "", "")
    sh = [_shingles(t) for t in docs["text"]]
    vocab: dict[int, int] = {}
    indptr, indices = [0], []
    for s in sh:
        indices.extend(vocab.setdefault(x, len(vocab)) for x in sorted(s))
        indptr.append(len(indices))
    if vocab:
        m = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                              shape=(len(sh), len(vocab)))
        sizes = np.asarray(m.sum(axis=1)).ravel()
        for lo in range(0, m.shape[0], 2000):
            inter = (m[lo:lo + 2000] @ m.T).tocoo()
            i, j, v = inter.row + lo, inter.col, inter.data
            upper = j > i
            i, j, v = i[upper], j[upper], v[upper]
            jac = v / (sizes[i] + sizes[j] - v)            # every shared-shingle pair at once, in NumPy
            near = jac >= near_threshold
            for a, b, x in zip(i[near], j[near], jac[near]):
                if (ids[a], ids[b]) not in out:
                    out[(ids[a], ids[b])] = (float(x), "near", "", "")
    if sentences is not None and sentence_vectors is not None and len(sentences):
        long_ = (sentences["text"].str.split().str.len() >= min_sentence_words).to_numpy()
        sv = sentence_vectors[long_]
        sv = sv / np.maximum(np.linalg.norm(sv, axis=1, keepdims=True), 1e-12)
        pos = {d: i for i, d in enumerate(ids)}
        sdoc = sentences["doc_id"].map(pos).to_numpy()[long_]
        sid = sentences["segment_id"].to_numpy()[long_]
        codes = pd.factorize(sentences["text"].to_numpy()[long_])[0]
        best = _retold_pairs(sv, sdoc, similar_threshold, max_documents, codes)
        for (a, b), (val, gi, j) in best.items():
            if (ids[a], ids[b]) not in out:
                out[(ids[a], ids[b])] = (val, "similar", sid[gi], sid[j])
    rows = [(a, b, round(s, 4), k, ea, eb) for (a, b), (s, k, ea, eb) in sorted(out.items())]
    return schema.frame("duplicates", rows)


# ---------------------------------------------------------------------------------- documents

_EN_STOP = frozenset(
    "the of and to in a is that for on it with as was by be are this from at or an have has not "
    "but they their which were its been will would who said also more than after about he she".split()
)


def build_documents_table(docs: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Assemble the ``documents`` table from cleaned documents and their segments."""
    counts = segments.groupby(["doc_id", "unit"]).size().unstack(fill_value=0)
    out = docs.copy()
    words = out["text"].map(lambda t: re.findall(r"[A-Za-z\u00C0-\u024F\u0400-\u04FF']+", t))
    out["n_words"] = words.map(len).astype("int64")
    for unit, col in (("sentence", "n_sentences"), ("paragraph", "n_paragraphs")):
        out[col] = out["doc_id"].map(counts[unit] if unit in counts else {}).fillna(0).astype("int64")
    out["text_sha256"] = out["text"].map(sha256_text)
    out["english_score"] = words.map(
        lambda w: round(sum(x.lower() in _EN_STOP for x in w) / len(w), 4) if w else 0.0)
    # Running English text has 30-50% of these function words; under 8% over 20+ words is not English.
    out["non_english"] = (out["n_words"] >= 20) & (out["english_score"] < 0.08)
    cols = schema.columns("documents")
    for col in cols:
        if col not in out:
            out[col] = ""
    return out[cols].reset_index(drop=True)


# ------------------------------------------------------------------------------------ the stage

@dataclass
class CorpusTables:
    """Everything the corpus stage writes."""

    documents: pd.DataFrame
    segments: pd.DataFrame
    removed_lines: pd.DataFrame
    skipped: pd.DataFrame
    duplicates: pd.DataFrame
    files: dict[str, str]
    encodings: dict[str, str]
    embedding_stats: dict[str, int]
    models: dict[str, dict[str, str]]

    def write(self, run) -> None:
        """Write every table into the run folder and record provenance for the manifest."""
        run.write_table(self.documents, "documents")
        run.write_table(self.segments, "segments")
        run.write_table(self.removed_lines, "removed_lines")
        run.write_table(self.skipped, "skipped")
        run.write_table(self.duplicates, "duplicates")
        run.record("corpus", files=self.files, encodings=self.encodings, documents=len(self.documents),
                   skipped=len(self.skipped), embeddings=self.embedding_stats, models=self.models,
                   summary=self.summary())

    def summary(self) -> str:
        """One line a researcher reads first (and nbval compares on the seeds)."""
        units = self.segments["unit"].value_counts()
        kinds = self.duplicates["kind"].value_counts().to_dict()
        return (f"{len(self.documents)} documents, {units.get('paragraph', 0)} paragraphs, "
                f"{units.get('sentence', 0)} sentences, {int(self.documents['n_words'].sum())} words; "
                f"{len(self.removed_lines)} boilerplate lines removed; {len(self.skipped)} inputs skipped; "
                f"duplicate pairs: {kinds or 'none'}"
                + (f"; {n_other} flagged non-English (column non_english)" if (n_other := int(self.documents["non_english"].sum())) else ""))


def _clean_and_segment(docs: pd.DataFrame, strip_patterns: tuple[str, ...] = ()
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The per-document part of the corpus stage (runs on Dask partitions when a scheduler is set)."""
    cleaned, removed = clean_documents(docs, strip_patterns=strip_patterns)
    return cleaned, removed, segment_documents(cleaned)


def build_corpus(params, embed: bool = True) -> CorpusTables:
    """Load, clean, segment and de-duplicate the corpus named by ``params`` (a :class:`Params`).

    Sentence embeddings (cached) are computed here so that retold stories are found, and reused by
    the topic stage at no cost.
    """
    from analysis.parallel import map_documents

    raw = load_corpus(params.corpus, params.resolve(params.corpus.path))
    docs, removed, segments = map_documents(partial(_clean_and_segment, strip_patterns=params.corpus.strip_patterns),
                                            raw.documents, params.compute)
    empty = docs["text"].str.strip() == ""
    skipped = raw.skipped
    if empty.any():
        # a table's row (as for the rows skipped while loading); -1 for a file of a folder corpus
        extra = pd.DataFrame({"source_file": docs.loc[empty, "source_file"],
                              "row": [raw.rows.get(d, -1) for d in docs.loc[empty, "doc_id"]],
                              "reason": "only boilerplate lines"})
        skipped = pd.concat([skipped, extra], ignore_index=True)
        docs = docs[~empty].reset_index(drop=True)
        if docs.empty:
            raise CorpusError(f"{params.corpus.path}: every document was boilerplate only")
        segments = segments[segments["doc_id"].isin(docs["doc_id"])].reset_index(drop=True)
    stats = {"encoded": 0, "cached": 0}
    models: dict[str, dict[str, str]] = {}
    sentences = segments[segments["unit"] == "sentence"]
    vectors = None
    if embed:
        from analysis.embeddings import Embedder

        enc = Embedder(params.embeddings.model, params.embeddings.batch_size, params.embeddings.device,
                       precision=params.embeddings.precision)
        vectors = enc.encode(sentences["text"].tolist())
        stats = {"encoded": enc.n_encoded_, "cached": enc.n_cached_}
        models[params.embeddings.model] = {"name": enc.model_name, "sha256": enc.model_hash, "setup": enc.setup,
                                           "precision": enc.precision_record}
    threshold = params.corpus.similar_threshold or SIMILAR_THRESHOLD[params.embeddings.model]
    dups = find_duplicates(docs, params.corpus.near_duplicate_threshold, sentences, vectors, threshold,
                           max_documents=params.corpus.similar_max_documents)
    documents = build_documents_table(docs, segments)
    return CorpusTables(documents, segments, removed, skipped.reset_index(drop=True), dups, raw.files,
                        raw.encodings, stats, models)
