"""The seeds corpus end to end, through the CLI, in separate processes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import SHARED, run_cli

BOILERPLATE = ["LEAVE A REPLY", "Please enter your comment!", "Please enter your name here", "Related Articles",
               "Back to top button", "image: ©Cineberg | iStock"]


def test_corpus_tables(seeds_run):
    t = seeds_run / "tables"
    docs = pd.read_parquet(t / "documents.parquet")
    seg = pd.read_parquet(t / "segments.parquet")
    removed = pd.read_parquet(t / "removed_lines.parquet")
    assert len(docs) == 5 and docs["doc_id"].str.len().eq(20).all()
    text = docs.set_index("doc_id")["text"]
    assert all(text[d][s:e] == x for d, s, e, x in zip(seg["doc_id"], seg["start"], seg["end"], seg["text"]))
    for line in BOILERPLATE:
        assert line in set(removed["line"]), line
        assert not seg["text"].str.contains(line, regex=False).any(), line
    # seed 001 is one long paragraph of many sentences
    one = seg[seg["doc_id"].str.startswith("001")]
    assert (one["unit"] == "paragraph").sum() == 2 and (one["unit"] == "sentence").sum() > 15
    dups = pd.read_parquet(t / "duplicates.parquet")
    pair = dups[(dups["doc_a"].str.startswith("002")) & (dups["doc_b"].str.startswith("003"))]
    assert list(pair["kind"]) == ["similar"]
    assert len(dups) == 1
    for f in ("documents", "segments", "removed_lines", "duplicates", "skipped"):
        assert (t / f"{f}.csv").exists()
    assert (seeds_run / "figures" / "document_lengths.png").stat().st_size > 5000


def test_manifest_provenance(seeds_run):
    m = json.loads((seeds_run / "manifest.json").read_text())
    assert m["models"]["minilm"]["sha256"].startswith("53aa5117")
    assert m["corpus"]["documents"] == 5 and len(m["corpus"]["files"]) == 6
    assert m["packages"]["bertopic"] != "not installed"
    assert set(m["tables"]) >= {"documents.parquet", "segments.csv"}
    r = run_cli("verify", str(seeds_run))
    assert r.returncode == 0, r.stdout


@pytest.mark.slow
def test_second_run_encodes_nothing(tmp_path):
    env = {"ANALYSIS_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    for expected_encoded in (118, 0):
        r = run_cli("run", "--out", str(out), "--until", "corpus", "--force", env=env)
        assert r.returncode == 0, r.stderr
        rec = json.loads((out / "logs" / "stage-corpus.json").read_text())
        assert rec["embeddings"]["encoded"] == expected_encoded


def test_failed_late_stage_keeps_previous_outputs(seeds_run, tmp_path):
    from analysis.errors import StageError
    from analysis.params import load_params
    from analysis.runner import run_pipeline

    before = {p.name: p.read_bytes() for p in (seeds_run / "tables").iterdir()}
    with pytest.raises(StageError, match="untouched; partial outputs and logs of this run are in .*staging"):
        run_pipeline(load_params(), seeds_run, fail_at="summary", force=True, log=lambda m: None)
    after = {p.name: p.read_bytes() for p in (seeds_run / "tables").iterdir()}
    assert before == after
    # summary's kernel was started ahead (while sentiment ran) and never used: it is gone, like the rest
    assert _kernel_processes() == []


def _kernel_processes() -> list[str]:
    """Notebook kernels (and their workers) still running below this test process."""
    import psutil

    return [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)
            if any("ipykernel" in part for part in p.cmdline())]


def test_successful_run_removes_what_failed_runs_left(seeds_run, tmp_path):
    """A failed run's staging folder stays for reading until a later run of the same folder succeeds."""
    import shutil

    from analysis.errors import StageError
    from analysis.params import load_params
    from analysis.runner import run_pipeline

    out = tmp_path / "seeds"
    shutil.copytree(seeds_run, out)
    crashed = tmp_path / ".seeds.staging-999999999"          # an interrupted run of another process
    (crashed / "logs").mkdir(parents=True)
    other = tmp_path / ".other.staging-999999999"            # another run folder's: not ours to remove
    other.mkdir()
    with pytest.raises(StageError):
        run_pipeline(load_params(), out, fail_at="summary", log=lambda m: None)
    failed = sorted(p.name for p in tmp_path.glob(".seeds.staging-*"))
    assert len(failed) == 2, failed                          # kept: its partial outputs and logs
    lines: list[str] = []
    run_pipeline(load_params(), out, log=lines.append)
    # the failed run's folder had this process's id, so this run started from it; the other one is removed
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.staging-999999999", "seeds"]
    assert any("removed 1 folder(s) left by earlier failed or interrupted runs: .seeds.staging-999999999" in m
               for m in lines), lines


def test_stages_one_at_a_time_give_the_same_tables(seeds_run, tmp_path):
    """Side by side in prestarted kernels, or one after the other in fresh ones: the same bytes.

    The shared seeds run executes topics and actors side by side, in kernels started ahead with their
    libraries imported; here each runs after the other in a kernel started for it.
    """
    out = tmp_path / "serial"
    r = run_cli("run", "--out", str(out), "--until", "actors", "--set", "compute.stages_at_once=1",
                "--set", "compute.prestart_kernels=false")
    assert r.returncode == 0, r.stderr
    assert r.stdout.index("[topics] done") < r.stdout.index("[actors] running")
    serial = {p.name: p.read_bytes() for p in (out / "tables").iterdir()}
    assert {"topics.parquet", "segment_topics.parquet", "actor_mentions.parquet", "actors.csv"} <= set(serial)
    side_by_side = {name: (seeds_run / "tables" / name).read_bytes() for name in serial}
    assert [name for name in serial if serial[name] != side_by_side[name]] == []
    m = json.loads((seeds_run / "manifest.json").read_text())
    assert m["parameters"]["compute"]["prestart_kernels"] is True
    assert m["parameters"]["compute"]["stages_at_once"] == 2 and set(m["timing"]["executed"]) == set(
        ["corpus", "topics", "actors", "sentiment", "summary"])


def test_cli_errors_are_one_line_exit_2(tmp_path):
    r = run_cli("run", "--corpus", str(tmp_path / "nope"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "corpus not found" in r.stderr
    r = run_cli("run", "--set", "topics.unit=word")
    assert r.returncode == 2 and "topics.unit" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "data/ruwa/ruwa_2022.csv").exists(), reason="../shared/data not present")
def test_ruwa_loads_and_reports_skipped_rows(tmp_path):
    r = run_cli("run", "--params", "notebooks/params/ruwa.yaml", "--out", str(tmp_path / "ruwa"),
                "--until", "corpus", "--limit", "600", "--set", "embeddings.model=minilm")
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stdout and "empty text" in r.stdout
    docs = pd.read_parquet(tmp_path / "ruwa/tables/documents.parquet")
    assert docs["published"].str.match(r"2022-\d\d-\d\d").all() and docs["source"].ne("").all()
