"""``python -m analysis actors suggest`` on the seeds run: the file, bad input, --force, and the loop.

The loop: four actors the gold annotation names (two news agencies and two people) are taken out of
the dictionary, the actors stage reruns, suggest proposes them back from NER's candidates, and a third
run with the suggested file (unedited) finds them again without lowering precision against the gold file.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from analysis.actors import DEFAULT_DICTIONARY, load_dictionary
from bench.leave_out import reduced_dictionary
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def _gold(run) -> dict:
    e = pd.read_csv(run / "tables" / "actor_gold_evaluation.csv")
    return dict(zip(e["metric"], e["value"]))


def test_suggest_writes_a_loadable_file_and_keeps_an_existing_one(seeds_run, tmp_path):
    out = tmp_path / "mine.yaml"
    r = run_cli("actors", "suggest", str(seeds_run), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and "--set actors.dictionary=" in r.stdout
    text = out.read_text()
    assert text.startswith("# Actors suggested from the NER candidates of run seeds")
    load_dictionary(out, "extend")                       # loads as written
    names = {a["text"] for a in yaml.safe_load(text)["ambiguous"]}
    assert {"Antalya", "Euro-Atlantic"} <= names          # a place, a modifier: listed, never counted
    r = run_cli("actors", "suggest", str(seeds_run), "--out", str(out))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "--force" in r.stderr
    out.write_text("mine")
    r = run_cli("actors", "suggest", str(seeds_run), "--out", str(out), "--force")
    assert r.returncode == 0 and out.read_text() != "mine"


def test_bad_run_folders_give_one_line_and_exit_2(seeds_run, tmp_path):
    r = run_cli("actors", "suggest", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.yaml"))
    assert r.returncode == 2 and "no such run folder" in r.stderr
    no_cands = tmp_path / "no_candidates"
    shutil.copytree(seeds_run, no_cands)
    for f in (no_cands / "tables").glob("actor_candidates.*"):
        f.unlink()
    r = run_cli("actors", "suggest", str(no_cands), "--out", str(tmp_path / "x.yaml"))
    assert r.returncode == 2 and "no actor_candidates table" in r.stderr and "--until actors" in r.stderr
    assert r.stderr.strip().count("\n") == 0 and not (tmp_path / "x.yaml").exists()
    old = tmp_path / "older"
    shutil.copytree(seeds_run, old)
    c = pd.read_parquet(old / "tables" / "actor_candidates.parquet")
    c.drop(columns=["surface_mentions", "surface_labels"]).to_parquet(old / "tables" / "actor_candidates.parquet")
    r = run_cli("actors", "suggest", str(old), "--out", str(tmp_path / "x.yaml"))
    assert r.returncode == 2 and "older version" in r.stderr and "surface_labels" in r.stderr


def test_left_out_actors_come_back_without_losing_precision(seeds_run, tmp_path):
    removed = {"AFP", "TASS", "MICK_WALLACE", "JENS_STOLTENBERG"}
    base = tmp_path / "reduced.yaml"
    base.write_text(yaml.safe_dump(reduced_dictionary(DEFAULT_DICTIONARY, removed), allow_unicode=True))
    reduced, again = tmp_path / "reduced", tmp_path / "again"
    shutil.copytree(seeds_run, reduced)                   # the corpus stage is reused
    r = run_cli("run", "--out", str(reduced), "--until", "actors", "--set", f"actors.dictionary={base}",
                "--set", "actors.dictionary_mode=replace")
    assert r.returncode == 0, r.stdout + r.stderr
    sugg = tmp_path / "suggested.yaml"
    r = run_cli("actors", "suggest", str(reduced), "--out", str(sugg))
    assert r.returncode == 0, r.stderr
    assert "dictionary_mode=replace" in r.stdout           # the run's own dictionary is carried into the file
    shutil.copytree(reduced, again)
    r = run_cli("run", "--out", str(again), "--until", "actors", "--set", f"actors.dictionary={sugg}",
                "--set", "actors.dictionary_mode=replace")
    assert r.returncode == 0, r.stdout + r.stderr
    before, after = _gold(reduced), _gold(again)
    assert after["precision"] >= before["precision"]
    assert after["true_positives"] > before["true_positives"]
    counted = pd.read_csv(again / "tables" / "actors.csv")
    assert {"JENS_STOLTENBERG", "MICK_WALLACE"} <= set(counted["actor_id"])
