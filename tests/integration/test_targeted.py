"""The shipped target-dependent sentiment model: small, safe to load, documented, and target-aware."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.errors import ModelError, ParameterError
from analysis.sentiment import score_targets
from analysis.targeted import CARD_FILE, MODEL_FILE, TargetedClassifier, mark_target


def test_artefact_is_small_safetensors_with_its_card():
    assert MODEL_FILE.stat().st_size < 10_000_000
    header_len = int.from_bytes(MODEL_FILE.read_bytes()[:8], "little")    # safetensors: u64 + JSON header
    header = json.loads(MODEL_FILE.read_bytes()[8:8 + header_len])
    assert all(k == "__metadata__" or v["dtype"] in ("F32", "F16") for k, v in header.items())
    card = json.loads(CARD_FILE.read_text())
    assert len(card["data"]["sha256"]) == 64 and isinstance(card["seed"], int)
    assert card["data"]["n_validation"] > 1000
    # The model beats every baseline it was compared with on the same held-out split.
    best_baseline = max(b["macro_f1"] for b in card["baselines"].values())
    assert card["validation"]["macro_f1"] > best_baseline
    assert json.loads(header["__metadata__"]["card"])["seed"] == card["seed"]


@pytest.mark.slow
def test_tone_depends_on_the_target():
    s = "NATO condemned Russia's brutal aggression against Ukraine."
    out = score_targets([s, s], [(0, 4), (15, 21)])
    assert out.loc[1, "polarity"] == "negative"
    assert out.loc[1, "score"] < out.loc[0, "score"]
    assert {"p_negative", "p_neutral", "p_positive"} <= set(out.columns)
    assert ((out[["p_negative", "p_neutral", "p_positive"]].sum(1) - 1).abs() < 1e-4).all()


@pytest.mark.slow
def test_same_input_same_scores(tmp_path, monkeypatch):
    s = ["Ukraine welcomed the generous help from its allies."] * 3
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path / "a"))       # both scored, neither cached
    a = score_targets(s, [(0, 7)] * 3)
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path / "b"))
    b = score_targets(list(reversed(s)), [(0, 7)] * 3)
    assert a.equals(b)


@pytest.mark.slow
def test_scored_mentions_are_cached_on_disk(tmp_path, monkeypatch):
    """A second run scores only the mentions it has not seen, and gets the same table as scoring afresh."""
    from analysis.targeted import TargetedScorer

    scored: list[str] = []
    real = TargetedClassifier.predict_proba

    def counting(self, texts, *args, **kwargs):
        scored.extend(texts)
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(TargetedClassifier, "predict_proba", counting)
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path / "cache"))
    s = ["NATO condemned Russia's brutal aggression against Ukraine.",
         "Ukraine welcomed the generous help from its allies."]
    first = score_targets(s, [(0, 4), (0, 7)])
    assert len(scored) == 2 and any((tmp_path / "cache" / "targeted").rglob("*.vecs.npy"))
    scored.clear()
    s2 = s + ["NATO condemned Russia's brutal aggression against Ukraine."]
    again = score_targets(s2, [(0, 4), (0, 7), (15, 21)])            # one new mention: Russia
    assert scored == [mark_target(s2[2], 15, 21)]
    assert again.iloc[:2].equals(first)
    scorer = TargetedScorer.load()
    assert (scorer.n_scored_, scorer.n_cached_) == (1, 2)
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path / "empty"))
    assert score_targets(s2, [(0, 4), (0, 7), (15, 21)]).equals(again)   # afresh: the same, bit for bit


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_mentions_score_does_not_depend_on_the_other_mentions(precision):
    """Scored alone or among texts of its own and other lengths, a mention gets the same probabilities, bit for bit."""
    from analysis import accel

    if precision == "bfloat16" and not accel.cpu_has_bf16():
        pytest.skip("this CPU has no native bfloat16")
    clf = TargetedClassifier.load().merge()
    probe = mark_target("NATO condemned Russia's brutal aggression against Ukraine.", 15, 21)
    twins = [mark_target(f"NATO condemned Russia's brutal aggression against {c}.", 15, 21)
             for c in ("Georgia", "Moldova", "Finland", "Poland", "Sweden")]
    others = [mark_target(f"Ukraine thanked {'the generous ' * (i % 6)}allies number {i}.", 0, 7) for i in range(30)]
    width = len(clf.tokenizer(probe)["input_ids"])
    twins = [t for t in twins if len(clf.tokenizer(t)["input_ids"]) == width]
    assert len(twins) >= 2                                   # the probe shares its batch in the crowd
    alone = clf.predict_proba([probe], precision=precision)             # a batch of one
    crowd = clf.predict_proba(others + twins + [probe], precision=precision)
    assert np.array_equal(crowd[-1:], alone)
    pair = clf.predict_proba([twins[0], probe], precision=precision)
    assert np.array_equal(pair[-1:], alone)


@pytest.mark.slow
def test_a_mentions_score_does_not_depend_on_threads_or_processes(monkeypatch):
    """Every product on one thread, in this process or in two workers: the same probabilities, bit for bit.

    With two threads sharing each product (the previous code), 37 of these 480 mentions came out
    differently than on one thread on a 2-core AMX Xeon (up to 0.0055 on RUWA): a table depended
    on the machine's core count.
    """
    import torch

    from analysis import accel

    words = ["NATO", "talks", "Kyiv", "the", "EU", "troops", "grain", "gas", "Moscow", "sanctions", "ports",
             "Russia", "shelled", "welcomed", "and", "of"]
    texts = [mark_target("Russia " + " ".join(words[(i * 5 + k * 3 + k * k) % 16] for k in range(w)) + f" {i}.", 0, 6)
             for w in range(6, 16) for i in range(48)]
    clf = TargetedClassifier.load().merge()
    precision = accel.resolve("cpu")[1]
    accel.store_linear_weights(clf.module, precision)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(accel, "cpu_processes", lambda n: 1)
        here = clf.predict_proba(texts, 32, precision)
        monkeypatch.setattr(accel, "cpu_processes", lambda n: 2)
        pooled = clf.predict_proba(texts, 32, precision)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(here, pooled)


@pytest.mark.slow
def test_cpu_batches_hold_about_512_token_rows(monkeypatch):
    """Short texts go many to a call, long ones few: a rare long length is not filled up to 32 rows."""
    from analysis import accel
    from analysis.targeted import PRODUCT_TOKENS

    clf = TargetedClassifier.load().merge()
    shapes: list[tuple[int, int]] = []
    forward = clf.module.forward

    def recording(input_ids, attention_mask):
        shapes.append(tuple(input_ids.shape))
        return forward(input_ids, attention_mask)

    monkeypatch.setattr(clf.module, "forward", recording)
    monkeypatch.setattr(accel, "cpu_processes", lambda n: 1)       # calls in this process, where they are seen
    short = [mark_target(f"NATO met {i}.", 0, 4) for i in range(40)]
    long = [mark_target("NATO " + "met the allies again and again " * 12 + f"{i}.", 0, 4) for i in range(3)]
    clf.predict_proba(short + long, 32)
    rows = {width: r for r, width in shapes}
    assert len(rows) == 2 and len(shapes) == 3                # 40 short texts in two calls, 3 long in one
    for width, r in rows.items():
        assert r == max(2, min(32, PRODUCT_TOKENS // width))  # one shape per token length
    assert rows[max(rows)] < 32 and rows[min(rows)] == 32


def test_lexicon_baseline_stays_a_choice():
    s = "Russia shelled the city and killed civilians, while Ukraine welcomed the generous help."
    out = score_targets([s, s], [(0, 6), (51, 58)], method="clause")
    assert list(out["polarity"]) == ["negative", "positive"]
    with pytest.raises(ParameterError, match="targeted_method"):
        score_targets([s], [(0, 6)], method="bert")


def test_bad_span_is_named():
    with pytest.raises(ValueError, match=r"\(5, 50\) is outside"):
        score_targets(["Short one."], [(5, 50)])
    with pytest.raises(ValueError):
        mark_target("abc", 2, 2)


def test_long_sentence_keeps_the_target_in_view():
    s = "word " * 400 + "Russia attacked. " + "word " * 400
    marked = mark_target(s, s.index("Russia"), s.index("Russia") + 6, context_chars=100)
    assert "[unused0] Russia [unused1]" in marked and len(marked) < 260


@pytest.mark.slow
def test_mismatched_model_file_is_a_clear_error(tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(str(MODEL_FILE))
    state.pop(next(iter(state)))
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), metadata={"card": CARD_FILE.read_text()})
    with pytest.raises(ModelError, match="does not match the classifier"):
        TargetedClassifier.load(bad)
    with pytest.raises(ModelError, match="missing"):
        TargetedClassifier.load(tmp_path / "none.safetensors")


@pytest.mark.slow
def test_bfloat16_scores_agree_with_float32():
    from analysis import accel

    if not accel.cpu_has_bf16():
        pytest.skip("this CPU has no native bfloat16")
    s = ["NATO condemned Russia's brutal aggression against Ukraine.",
         "Ukraine welcomed the generous help from its allies.",
         "The EU will meet on Tuesday to discuss the budget."]
    spans = [(15, 21), (0, 7), (4, 6)]
    a = score_targets(s, spans, precision="float32")
    b = score_targets(s, spans, precision="bfloat16")
    assert a["polarity"].tolist() == b["polarity"].tolist()
    assert (a["score"] - b["score"]).abs().max() < 0.05
