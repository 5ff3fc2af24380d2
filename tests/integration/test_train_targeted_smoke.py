"""The training script end to end on a tiny data set.

It writes a loadable model and its card, and the same seed rebuilds the same weights (the shipped
model's reproducibility in miniature).
"""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from analysis import accel
from analysis.targeted import TargetedClassifier
from analysis.train_targeted import _marked, lexicon_baselines, load_targets, main, scores, split

SENTENCES = [
    ("NATO condemned Russia's brutal attack on the city.", [(0, 4, 4.0), (15, 21, 2.0)]),
    ("Ukraine welcomed the generous help of its allies.", [(0, 7, 6.0)]),
    ("The EU will meet on Tuesday in Brussels.", [(4, 6, 4.0)]),
    ("Critics accused the minister of lying to parliament.", [(20, 28, 2.0)]),
    ("Voters praised the mayor for the new hospital.", [(19, 24, 6.0)]),
]


def _data(path, copies=8):
    with open(path, "w") as f:
        for i in range(copies):
            for j, (s, targets) in enumerate(SENTENCES):
                f.write(json.dumps({"primary_gid": f"g{i}-{j}", "sentence_normalized": s,
                                    "targets": [{"from": a, "to": b, "polarity": p} for a, b, p in targets]}) + "\n")
    return path


@pytest.mark.slow
def test_training_writes_a_loadable_reproducible_model(tmp_path):
    data = _data(tmp_path / "train.jsonl")
    args = ["--data", str(data), "--epochs", "1", "--batch-size", "8", "--skip-frozen", "--ema", "0.9",
            "--max-length", "32", "--threads", "2"]
    assert main([*args, "--out", str(tmp_path / "a.safetensors")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.safetensors")]) == 0
    card = json.loads((tmp_path / "a.json").read_text())
    assert card["training"]["ema_decay"] == 0.9
    assert card["training"]["precision"] == accel.resolve_precision("auto", "cpu")   # --precision auto, resolved
    a, b = load_file(str(tmp_path / "a.safetensors")), load_file(str(tmp_path / "b.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    # the card's validation scores are the saved model's on the seeded split of whole sentences
    _, va = split(load_targets(data), 0.15, 13)
    assert (card["data"]["n_train"], card["data"]["n_validation"]) == (48 - len(va), len(va)) and len(va) > 0
    clf = TargetedClassifier.load(tmp_path / "a.safetensors")
    pred = clf.merge().predict_proba(_marked(va, clf.cfg.context_chars), 32, "float32").argmax(1)
    assert {k: v for k, v in card["validation"].items() if k != "targets_per_second"} == scores(va["label"].to_numpy(), pred)
    assert card["baselines"]["vader_clause"] == lexicon_baselines(va)["vader_clause"]
    clf = TargetedClassifier.load(tmp_path / "a.safetensors")
    assert clf.predict_proba(["[unused0] NATO [unused1] met."]).shape == (1, 3)


def test_missing_data_is_one_line(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert "nope.jsonl not found" in capsys.readouterr().err
