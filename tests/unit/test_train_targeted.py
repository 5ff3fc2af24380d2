"""The training script's data handling: clear errors, and a validation split by whole sentences."""

from __future__ import annotations

import json

import pytest

from analysis.errors import CorpusError
from analysis.train_targeted import load_targets, split


def _write(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def _rec(i, sentence="NATO criticised Russia.", targets=((0, 4, 4.0), (16, 22, 2.0))):
    return {"primary_gid": f"g{i}", "sentence_normalized": sentence,
            "targets": [{"from": a, "to": b, "polarity": p, "mention": sentence[a:b]} for a, b, p in targets]}


def test_split_keeps_sentences_whole_and_is_seeded(tmp_path):
    df = load_targets(_write(tmp_path / "d.jsonl", [_rec(i) for i in range(100)]))
    assert len(df) == 200 and set(df["label"]) == {0, 1}
    tr, va = split(df, 0.2, 13)
    assert not set(tr["gid"]) & set(va["gid"]) and va["gid"].nunique() == 20
    assert split(df, 0.2, 13)[1].equals(va) and not split(df, 0.2, 14)[1].equals(va)


def test_bad_rows_name_the_line(tmp_path):
    bad = _write(tmp_path / "bad.jsonl", [_rec(0), _rec(1, targets=((0, 99, 4.0),))])
    with pytest.raises(CorpusError, match=r"bad.jsonl, line 2: .*span \(0, 99\)"):
        load_targets(bad)
    with pytest.raises(CorpusError, match="polarity"):
        load_targets(_write(tmp_path / "p.jsonl", [_rec(0, targets=((0, 4, 5.0),))]))
    with pytest.raises(CorpusError, match="not found"):
        load_targets(tmp_path / "none.jsonl")
