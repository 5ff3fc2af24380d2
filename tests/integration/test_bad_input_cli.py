"""Bad input from the command line, as a new user meets it: exit code, one clear line, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd

from tests.conftest import ROOT, run_cli


def _corpus(tmp_path, files: dict[str, str | bytes]):
    d = tmp_path / "corpus"
    d.mkdir()
    for name, content in files.items():
        (d / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return d


NEWS = ("NATO foreign ministers met in Brussels on Tuesday. The Kremlin rejected the proposal and Russian "
        "forces shelled Kharkiv again. Ukraine asked the European Union for more air defence systems. ")


def test_50mb_document_is_refused_with_the_limit_named(tmp_path):
    d = _corpus(tmp_path, {"a.txt": NEWS * 5, "big.txt": "word " * 10_500_000})
    t = time.perf_counter()
    r = run_cli("run", "--corpus", str(d), "--out", str(tmp_path / "out"), "--until", "corpus")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "big.txt" in r.stderr and "corpus.max_document_chars" in r.stderr and "Traceback" not in r.stderr
    assert time.perf_counter() - t < 120
    assert not (tmp_path / "out").exists()


def test_non_english_document_is_flagged(tmp_path):
    german = ("Die Außenminister der NATO trafen sich am Dienstag in Brüssel. Der Kreml lehnte den Vorschlag ab, "
              "und russische Truppen beschossen erneut die Stadt. Die Ukraine bat die Europäische Union um mehr "
              "Luftabwehrsysteme und um weitere Unterstützung für die kommenden Monate. ") * 3
    d = _corpus(tmp_path, {"en.txt": NEWS * 4, "de.txt": german, "en2.txt": NEWS.replace("Tuesday", "Friday") * 3})
    r = run_cli("run", "--corpus", str(d), "--out", str(tmp_path / "out"), "--until", "corpus")
    assert r.returncode == 0, r.stderr
    docs = pd.read_parquet(tmp_path / "out/tables/documents.parquet").set_index("source_file")
    assert bool(docs.loc["de.txt", "non_english"]) and not docs.loc["en.txt", "non_english"]
    assert "1 flagged non-English" in r.stdout


def test_corpus_without_actor_mentions_gives_empty_tables_with_columns(tmp_path):
    text = ("The recipe needs flour, butter and two eggs. Bake it for forty minutes until golden. "
            "Serve it warm with cream and fresh berries from the garden. ") * 3
    d = _corpus(tmp_path, {"a.txt": text, "b.txt": text.replace("flour", "rice"), "c.txt": text.replace("eggs", "apples")})
    r = run_cli("run", "--corpus", str(d), "--out", str(tmp_path / "out"), "--set", "actors.ner_discovery=false")
    assert r.returncode == 0, r.stderr
    m = pd.read_parquet(tmp_path / "out/tables/actor_mentions.parquet")
    assert len(m) == 0 and {"doc_id", "actor_id", "start", "end"} <= set(m.columns)
    s = pd.read_parquet(tmp_path / "out/tables/actor_sentiment.parquet")
    assert len(s) == 0 and {"actor_id", "mean", "ci_low", "ci_high"} <= set(s.columns)
    assert (tmp_path / "out/report.html").exists()


def test_two_runs_at_once(tmp_path):
    """Different folders: both succeed. Same folder: the second is refused by the lock, the first completes."""
    d = _corpus(tmp_path, {f"{i}.txt": NEWS * (3 + i) for i in range(4)})
    env = {**os.environ}

    def start(out):
        return subprocess.Popen([sys.executable, "-m", "analysis", "run", "--corpus", str(d), "--out", str(out),
                                 "--until", "actors"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    a, b = start(tmp_path / "one"), start(tmp_path / "two")
    assert [p.wait(600) for p in (a, b)] == [0, 0], a.stderr.read() + b.stderr.read()
    first = start(tmp_path / "same")
    time.sleep(3)
    second = start(tmp_path / "same")
    rc2, err2 = second.wait(600), second.stderr.read()
    assert first.wait(600) == 0
    if rc2 != 0:                                  # it overlapped the first run: refused, nothing corrupted
        assert rc2 == 2 and "another run" in err2 and err2.count("\n") == 1, err2
    r = run_cli("verify", str(tmp_path / "same"))
    assert r.returncode == 0, r.stdout


def test_any_csv_of_articles_runs_with_one_text_column(tmp_path):
    rows = [("NATO allies pledged more air defence for Ukraine. " * 4) + f"Story {i}." for i in range(6)]
    rows += [("The Kremlin said Russian forces would continue the operation. " * 4) + f"Note {i}." for i in range(6)]
    f = tmp_path / "articles.csv"
    pd.DataFrame({"category": ["a"] * 12, "text": rows}).to_csv(f, index=False)
    r = run_cli("run", "--corpus", str(f), "--text-column", "text", "--out", str(tmp_path / "out"),
                "--until", "topics")
    assert r.returncode == 0, r.stderr
    st = pd.read_parquet(tmp_path / "out/tables/segment_topics.parquet")
    assert st["doc_id"].nunique() == 12
