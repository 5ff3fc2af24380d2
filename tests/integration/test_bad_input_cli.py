"""Bad input from the command line, as a new user meets it: exit code, one clear line, nothing lost."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow          # every test here runs the pipeline's notebooks


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
    r = run_cli("run", "--corpus", str(d), "--out", str(tmp_path / "out"), "--until", "corpus")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "big.txt" in r.stderr and "corpus.max_document_chars" in r.stderr and "Traceback" not in r.stderr
    # refused by its size on disk, before it is read ("characters exceeds" would mean it was read and decoded)
    assert "52,500,000 bytes exceeds" in r.stderr
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


def _lock_taken(proc: subprocess.Popen, out):
    """Wait until the run ``proc`` holds the lock of its folder ``out`` (it does from before its first stage)."""
    lock = out.parent / f".{out.name}.lock"

    def holder() -> str | None:
        try:
            return lock.read_text()
        except FileNotFoundError:
            return None

    while holder() != str(proc.pid):
        assert proc.poll() is None, "the run ended before its lock was seen: " + proc.stderr.read()
        time.sleep(0.05)
    return lock


@contextlib.contextmanager
def _paused_holding_its_lock(proc: subprocess.Popen, out):
    """Pause the run ``proc`` (SIGSTOP) once it holds its folder's lock; resume it on leaving."""
    lock = _lock_taken(proc, out)
    proc.send_signal(signal.SIGSTOP)
    try:
        yield lock
    finally:
        proc.send_signal(signal.SIGCONT)


def test_two_runs_at_once(tmp_path):
    """Different folders: both succeed. Same folder: the second is refused by the lock, the first completes.

    The first run is paused while it holds its lock and the second starts, so the two overlap however
    fast or loaded the machine is.
    """
    d = _corpus(tmp_path, {f"{i}.txt": NEWS * (3 + i) for i in range(4)})
    env = {**os.environ}

    def start(out):
        return subprocess.Popen([sys.executable, "-m", "analysis", "run", "--corpus", str(d), "--out", str(out),
                                 "--until", "actors"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    a = start(tmp_path / "one")
    with _paused_holding_its_lock(a, tmp_path / "one"):
        b = start(tmp_path / "two")
        _lock_taken(b, tmp_path / "two")            # not blocked by the lock of another folder
    assert [p.wait(600) for p in (a, b)] == [0, 0], a.stderr.read() + b.stderr.read()
    first = start(tmp_path / "same")
    with _paused_holding_its_lock(first, tmp_path / "same") as lock:
        second = start(tmp_path / "same")
        rc2, err2 = second.wait(600), second.stderr.read()
    assert rc2 == 2 and "another run" in err2 and err2.count("\n") == 1, err2
    assert first.wait(600) == 0, first.stderr.read()
    assert not lock.exists()
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
