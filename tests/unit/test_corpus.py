"""Corpus layer on tiny inline data: each format, cleaning, offsets, duplicates."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.corpus import (
    build_documents_table,
    clean_documents,
    clean_text,
    find_duplicates,
    load_corpus,
    segment_documents,
)
from analysis.errors import CorpusError
from analysis.params import CorpusParams

ARTICLE = "NATO meets in Brussels\n\nThe Alliance met on Monday. Russia was discussed.\n"


def _folder(tmp_path, files: dict[str, bytes | str]):
    for name, data in files.items():
        p = tmp_path / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return tmp_path


def test_folder_title_is_first_nonempty_line(tmp_path):
    _folder(tmp_path, {"a.txt": "\n\n  " + ARTICLE, "b.txt": "Second title\nBody here."})
    c = load_corpus(CorpusParams(), tmp_path)
    assert list(c.documents["doc_id"]) == ["a", "b"]
    assert list(c.documents["title"]) == ["NATO meets in Brussels", "Second title"]


def test_folder_metadata_fills_only_known_fields(tmp_path):
    _folder(tmp_path, {"a.txt": ARTICLE, "metadata.csv": "doc_id,title,source,published,url\na,,Reuters,2022-03-01,\n"})
    c = load_corpus(CorpusParams(), tmp_path)
    row = c.documents.iloc[0]
    assert (row["title"], row["source"], row["published"]) == ("NATO meets in Brussels", "Reuters", "2022-03-01")


def test_csv_with_joined_text_columns_date_and_source(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("id,title,desc,Date,Site\n1,Kyiv shelled,,03/01/2022,bbc.co.uk\n2,,,03/02/2022,rt.com\n"
                 "3,Talks,More talks today,03/03/2022,tass.com\n4,broken row\n", encoding="utf-8")
    p = CorpusParams(id_column="id", text_columns=("title", "desc"), date_column="Date",
                     date_format="%m/%d/%Y", source_column="Site")
    c = load_corpus(p, f)
    assert list(c.documents["doc_id"]) == ["1", "3"]
    assert c.documents.loc[1, "raw_text"] == "Talks\nMore talks today"
    assert list(c.documents["published"]) == ["2022-03-01", "2022-03-03"]
    assert list(c.documents["source"]) == ["bbc.co.uk", "tass.com"]
    reasons = dict(zip(c.skipped["row"], c.skipped["reason"]))
    assert reasons[3].startswith("empty text") and reasons[5].startswith("malformed row")


def test_csv_missing_text_column_lists_columns(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("headline,body\nA,B\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"\['text'\] not found; columns present: \['headline', 'body'\]"):
        load_corpus(CorpusParams(), f)


def test_jsonl_and_parquet(tmp_path):
    rows = [{"id": "x", "text": "First doc. It is short."}, {"id": "y", "text": "Second doc."}]
    j = tmp_path / "c.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    cj = load_corpus(CorpusParams(id_column="id"), j)
    assert list(cj.documents["doc_id"]) == ["x", "y"]
    assert cj.skipped["reason"].str.startswith("invalid JSON").tolist() == [True]
    pq = tmp_path / "c.parquet"
    pd.DataFrame(rows).to_parquet(pq)
    cp = load_corpus(CorpusParams(id_column="id"), pq)
    assert list(cp.documents["raw_text"]) == [r["text"] for r in rows]


def test_bad_dates_error_names_rows_or_become_missing(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("text,d\nOne.,2022-01-01\nTwo.,yesterday\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="unparseable date.*yesterday"):
        load_corpus(CorpusParams(date_column="d", date_format="%Y-%m-%d"), f)
    c = load_corpus(CorpusParams(date_column="d", date_format="%Y-%m-%d", on_bad_date="missing"), f)
    assert list(c.documents["published"]) == ["2022-01-01", ""]


def test_encodings_and_binary_files(tmp_path):
    _folder(tmp_path, {"latin.txt": "Caf\xe9 in M\xfcnchen\n".encode("latin-1"),
                       "win.txt": "He said \x93yes\x94 \x96 twice\n".encode("latin-1"),
                       "img.txt": b"\x89PNG\r\n\x1a\n\x00\x00", "notes.pdf": b"%PDF-1.4"})
    c = load_corpus(CorpusParams(), tmp_path)
    assert c.documents.set_index("doc_id").loc["latin", "raw_text"].startswith("Café in München")
    assert "“yes”" in c.documents.set_index("doc_id").loc["win", "raw_text"]
    assert {k.rsplit("/", 1)[-1]: v for k, v in c.encodings.items()} == {"latin.txt": "cp1252", "win.txt": "cp1252"}
    reasons = sorted(c.skipped["reason"])
    assert reasons == ["binary file (PNG)", "not a .txt file"]
    with pytest.raises(CorpusError, match="img.txt: looks like a PNG"):
        load_corpus(CorpusParams(on_binary_file="error"), tmp_path)


def test_utf16_and_utf32_files_with_a_byte_order_mark_are_read(tmp_path):
    text = "Zelensky met Stoltenberg in Kyiv \u2014 \u201cunity\u201d.\n"
    _folder(tmp_path, {"u16le.txt": text.encode("utf-16"), "u16be.txt": b"\xfe\xff" + text.encode("utf-16-be"),
                       "u32.txt": text.encode("utf-32"), "nul.txt": b"text\x00\x01 with NUL bytes"})
    c = load_corpus(CorpusParams(), tmp_path)
    docs = c.documents.set_index("doc_id")
    assert sorted(docs.index) == ["u16be", "u16le", "u32"]
    assert (docs["raw_text"] == text).all()
    assert docs.loc["u16be", "encoding"] == "utf-16-be" and docs.loc["u32", "encoding"] == "utf-32-le"
    assert list(c.skipped["reason"]) == ["binary file (binary (NUL bytes))"]     # true binaries still skipped
    (tmp_path / "nul.txt").unlink()
    (tmp_path / "odd.txt").write_bytes(b"\xff\xfe" + "ab".encode("utf-16-le") + b"\x00\xd8")   # lone surrogate
    with pytest.raises(CorpusError, match=r"odd.txt: starts with a UTF-16-LE byte-order mark but byte offset 6"):
        load_corpus(CorpusParams(), tmp_path)


def test_undecodable_bytes_name_file_and_offset(tmp_path):
    _folder(tmp_path, {"bad.txt": b"ok text \x81\x9d more"})
    with pytest.raises(CorpusError, match=r"bad.txt: cannot decode byte 0x81 at byte offset 8"):
        load_corpus(CorpusParams(), tmp_path)


def test_empty_folder_and_empty_files(tmp_path):
    with pytest.raises(CorpusError, match="no .txt files"):
        load_corpus(CorpusParams(), tmp_path)
    _folder(tmp_path, {"e.txt": "", "w.txt": "  \n\t\n"})
    with pytest.raises(CorpusError, match="no usable documents.*empty document"):
        load_corpus(CorpusParams(), tmp_path)


def test_duplicate_ids_error_or_suffix(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("id,text\n1,A.\n1,B.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="duplicate document id.*1"):
        load_corpus(CorpusParams(id_column="id"), f)
    c = load_corpus(CorpusParams(id_column="id", on_duplicate_id="suffix"), f)
    assert list(c.documents["doc_id"]) == ["1", "1__2"]


def test_cleaning_keeps_every_removed_line_with_reason():
    raw = ("Title here\n\nNATO headquarters in Brussels, Belgium\nimage: ©Cineberg | iStock\n\n"
           "Body text with\u00a0odd   spacing.\n\nOAG Webinar\n\nLEAVE A REPLY\n\nPlease enter your comment!\n"
           "Related Articles\nBack to top button\n")
    text, removed = clean_text(raw)
    assert [r for _, _, r in removed] == ["photo_caption", "image_credit", "trailing_widget", "comment_form",
                                          "comment_form", "navigation", "navigation"]
    assert text == "Title here\n\nBody text with odd spacing."


SIGNATURE = r"\s*\(\d\d\.\d\d\.\d\d \d\d:\d\d\)\s*«[^«|]*\|\s*Censor\.NET\s*$"


def test_strip_patterns_cut_site_signatures_and_list_each_cut():
    docs = pd.DataFrame({
        "doc_id": ["a", "b", "c"],
        "title": ["Kyiv shelled (18.01.22 18:23) « War in Ukraine | Censor.NET",
                  "(26.01.22 11:26) « Economics | Censor.NET", "Own title"],
        "raw_text": ["Kyiv shelled (18.01.22 18:23) « War in Ukraine | Censor.NET\nRussia fired. View news.",
                     "(26.01.22 11:26) « Economics | Censor.NET\nPrices rose. View news.",
                     "Talks in Minsk\nNothing to cut | Censor.NET here."],
    })
    out, removed = clean_documents(docs, strip_patterns=(SIGNATURE, r"\s*View news\.$"))
    assert list(out["text"]) == ["Kyiv shelled\nRussia fired.", "Prices rose.", "Talks in Minsk\nNothing to cut | Censor.NET here."]
    # titles taken from the first line are retaken from the cleaned text; a title of its own is kept
    assert list(out["title"]) == ["Kyiv shelled", "Prices rose.", "Own title"]
    cuts = removed[removed["reason"] == "strip_pattern"]
    assert list(zip(cuts["doc_id"], cuts["line_no"], cuts["line"])) == [
        ("a", 1, "(18.01.22 18:23) « War in Ukraine | Censor.NET"), ("a", 2, "View news."),
        ("b", 1, "(26.01.22 11:26) « Economics | Censor.NET"), ("b", 2, "View news.")]
    # without patterns nothing is cut
    plain, none = clean_documents(docs)
    assert list(plain["text"].str.split("\n").str[0]) == list(docs["title"][:2]) + ["Talks in Minsk"]
    assert none.empty


def test_a_headline_repeated_as_the_lede_is_cut_once_and_listed():
    """censor.net summaries open by repeating the headline: each actor in it would count twice."""
    docs = pd.DataFrame({
        "doc_id": ["a", "b", "c", "d", "e"],
        "raw_text": [
            "Russia shelled Kharkiv overnight\n18.02.22 15:34 - Russia shelled Kharkiv overnight. Three died.",
            "Russia shelled Kharkiv overnight.\nRussia shelled Kharkiv overnight",          # the whole line
            "NATO ministers met today\nNATO ministers met today in Brussels, Stoltenberg said.",   # mid-sentence
            "Kyiv is calm\nKyiv is calm. Shops opened.",                                     # under 4 words
            'Russia took "Azovstal" steel works\nRussia took Azovstal steel works . It said so.']})   # other quotes
    out, removed = clean_documents(docs, strip_patterns=(r"^\d\d\.\d\d\.\d\d \d\d:\d\d - ",))
    assert list(out["text"]) == ["Russia shelled Kharkiv overnight\nThree died.", "Russia shelled Kharkiv overnight.",
                                 docs["raw_text"][2], docs["raw_text"][3], 'Russia took "Azovstal" steel works\nIt said so.']
    rep = removed[removed["reason"] == "repeated_line"]
    assert list(zip(rep["doc_id"], rep["line_no"], rep["line"])) == [
        ("a", 2, "Russia shelled Kharkiv overnight."), ("b", 2, "Russia shelled Kharkiv overnight"),
        ("e", 2, "Russia took Azovstal steel works .")]
    segs = segment_documents(out)
    assert segs[(segs["doc_id"] == "a") & (segs["unit"] == "sentence")]["text"].tolist() == [
        "Russia shelled Kharkiv overnight", "Three died."]


def test_bad_strip_patterns_name_the_parameter():
    from analysis.errors import ParameterError
    from analysis.params import validate_params

    with pytest.raises(ParameterError, match=r"corpus.strip_patterns.*item 1.*not a regular expression"):
        validate_params({"corpus": {"strip_patterns": [SIGNATURE, "(unclosed"]}})
    with pytest.raises(ParameterError, match=r"corpus.strip_patterns.*matches the empty string"):
        validate_params({"corpus": {"strip_patterns": [r"\s*"]}})


def test_segment_offsets_point_into_cleaned_text():
    docs = pd.DataFrame({"doc_id": ["d"], "raw_text": [
        "Head line\nUS troops left Fort Bragg, N.C., on Feb. 3. They flew out. The Alliance grew.The end.\n"
        "Key points:\n- First item: more troops.\n- Second item.\nStrategy | Description |\n---|---|\n"
        "Teams | Units ready |\n"]})
    docs, _ = clean_documents(docs)
    seg = segment_documents(docs)
    text = docs.loc[0, "text"]
    assert all(text[s:e] == t for s, e, t in zip(seg["start"], seg["end"], seg["text"]))
    sents = seg[seg["unit"] == "sentence"]["text"].tolist()
    assert "US troops left Fort Bragg, N.C., on Feb. 3." in sents
    assert "The Alliance grew." in sents and "The end." in sents
    assert "- First item: more troops." in sents and "Teams | Units ready |" in sents
    paras = seg[seg["unit"] == "paragraph"]["text"].tolist()
    assert paras[-1] == "Strategy | Description |\n---|---|\nTeams | Units ready |"
    assert seg["segment_id"].is_unique
    table = build_documents_table(docs, seg)
    assert table.loc[0, "n_paragraphs"] == 6 and table.loc[0, "n_sentences"] == len(sents)


def test_duplicates_exact_near_and_similar():
    import numpy as np

    base = " ".join(f"word{i}" for i in range(60))
    docs = pd.DataFrame({"doc_id": ["a", "b", "c", "d"],
                         "text": [base, base, base.replace("word59", "other"), "unrelated words only here"]})
    d = find_duplicates(docs, near_threshold=0.8)
    kinds = {(a, b): k for a, b, k in zip(d["doc_a"], d["doc_b"], d["kind"])}
    assert kinds == {("a", "b"): "exact", ("a", "c"): "near", ("b", "c"): "near"}
    sents = pd.DataFrame({"doc_id": ["a", "d"], "segment_id": ["a:s0", "d:s0"],
                          "text": ["one two three four five six seven eight"] * 2})
    vecs = np.array([[1.0, 0.0], [0.95, 0.1]], dtype=np.float32)
    d2 = find_duplicates(docs, 0.8, sents, vecs, similar_threshold=0.9)
    row = d2[(d2["doc_a"] == "a") & (d2["doc_b"] == "d")].iloc[0]
    assert row["kind"] == "similar" and row["evidence_a"] == "a:s0"


def test_stock_sentence_shared_by_many_documents_is_not_a_retelling():
    import numpy as np

    ids = [f"d{i:02d}" for i in range(14)]
    docs = pd.DataFrame({"doc_id": ids, "text": [f"unique text number {i} " * 3 for i in range(14)]})
    # d00..d11 carry the same stock sentence (vector [1, 0]); only d12 and d13 retell one story ([0, 1]).
    sents = pd.DataFrame({"doc_id": ids, "segment_id": [f"{d}:s0" for d in ids],
                          "text": ["one two three four five six seven eight"] * 14})
    vecs = np.array([[1.0, 0.0]] * 12 + [[0.0, 1.0]] * 2, dtype=np.float32)
    everything = find_duplicates(docs, 0.8, sents, vecs, similar_threshold=0.9)
    assert (everything["kind"] == "similar").sum() == 12 * 11 // 2 + 1
    kept = find_duplicates(docs, 0.8, sents, vecs, similar_threshold=0.9, max_documents=10)
    assert kept[["doc_a", "doc_b"]].values.tolist() == [["d12", "d13"]]


@pytest.mark.parametrize("max_documents", [None, 6])
def test_retold_sentences_searched_once_per_distinct_text(monkeypatch, max_documents):
    """Repeated sentences are searched once and their hits given to every copy: the same pairs and evidence."""
    import numpy as np

    from analysis import corpus

    rng = np.random.default_rng(3)
    base = rng.normal(size=(150, 16)).astype(np.float32)
    texts = np.vstack([base, base + rng.normal(size=base.shape).astype(np.float32) * 0.45])   # 300 texts
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    codes = rng.zipf(1.6, size=1500) % 300                     # a few texts copied many times, most once
    sv = texts[codes]
    sdoc = np.sort(rng.integers(0, 500, size=1500))            # sentences of one document are adjacent
    searched = []
    real = corpus._close_pairs

    def counting(vectors, threshold):
        searched.append(len(vectors))
        yield from real(vectors, threshold)

    # the reference: every sentence against every sentence, scanned in order, the first of the best kept
    reference: dict = {}
    for lo, hit_i, hit_j, vals in real(sv, 0.8):
        if max_documents is not None and len(hit_i):
            pairs = np.unique(np.stack([hit_i, sdoc[hit_j]], axis=1), axis=0)
            reach = np.bincount(pairs[:, 0], minlength=corpus._PAIR_BLOCK) - 1
            keep = reach[hit_i] <= max_documents
            hit_i, hit_j, vals = hit_i[keep], hit_j[keep], vals[keep]
        for i, j, val in zip((hit_i + lo).tolist(), hit_j.tolist(), vals.tolist()):
            a, b = int(sdoc[i]), int(sdoc[j])
            if a < b and val > reference.get((a, b), (-1.0, 0, 0))[0]:
                reference[(a, b)] = (val, i, j)
    monkeypatch.setattr(corpus, "_close_pairs", counting)
    once = corpus._retold_pairs(sv, sdoc, 0.8, max_documents, codes)
    each = corpus._retold_pairs(sv, sdoc, 0.8, max_documents, None)
    assert searched == [len(np.unique(codes)), 1500]
    assert once == reference and each == reference and len(once) > 200
    # copies of one text in two documents are a retelling at cosine 1, the lowest copies as evidence
    a, b = sorted({int(sdoc[i]) for i in np.nonzero(codes == codes[0])[0]})[:2]
    if max_documents is None:
        val, i, j = once[(a, b)]
        assert val == pytest.approx(1.0, abs=1e-6) and codes[i] == codes[j]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_row_of_boilerplate_only_is_skipped_with_its_row(tmp_path, fmt):
    """A table row whose every line is boilerplate is listed in ``skipped`` with its row, not -1."""
    from analysis.corpus import build_corpus
    from analysis.params import Params

    rows = [{"id": "a", "text": ARTICLE}, {"id": "b", "text": "Advertisement\nRead more"},
            {"id": "c", "text": "Kyiv thanked its allies.\n\nThe EU agreed new sanctions."}]
    f = tmp_path / f"c.{fmt}"
    if fmt == "csv":
        pd.DataFrame(rows).to_csv(f, index=False)
        expected = 7     # the line its record ends on, as for every skipped CSV row (ARTICLE spans lines 2-5)
    else:
        f.write_text("".join(json.dumps(r) + "\n" for r in rows))
        expected = 2
    P = Params.model_validate({"corpus": {"path": str(f), "id_column": "id", "text_columns": ["text"]}})
    out = build_corpus(P, embed=False)
    assert list(out.documents["doc_id"]) == ["a", "c"]
    assert out.skipped[["source_file", "row", "reason"]].values.tolist() == [[f.name, expected, "only boilerplate lines"]]
