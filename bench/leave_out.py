"""Leave-out test of ``actors suggest``: how much of twenty known actors' counts the suggestions recover.

    python -m bench.leave_out [--params notebooks/params/ruwa.yaml] [--limit 3000] [--top 100] [--work DIR]

1. a run with the shipped dictionary (the reference counts);
2. the twenty most mentioned people and organisations (every type but state) removed from the
   dictionary (with the role holders and context forms that name them), and a run with what is left
   (``actors.dictionary_mode=replace``): their names now reach NER and ``actor_candidates``;
3. ``python -m analysis actors suggest`` on that run, its file used as written, and a third run with it.

Each actor the suggestions add is matched to the removed actor whose reference mentions its mentions
overlap most. Recall: the share of the twenty's reference mentions (counted, by a surface form: role
mentions, which need the holder in the dictionary, are left out) that a matched suggested actor counts
at an overlapping span. Precision: the share of the matched suggested actors' mentions that overlap a
reference mention of the actor they were matched to. Runs 2 and 3 reuse run 1's corpus and topics
stages (a copy of its folder). Prints a table; writes ``bench/results/leave-out-<run>-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
KEY = ["doc_id", "start", "end"]


def _run(args: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"python -m analysis {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return round(time.perf_counter() - t0, 1)


def _mentions(run: Path) -> pd.DataFrame:
    m = pd.read_parquet(run / "tables" / "actor_mentions.parquet")
    return m[m["counted"]]


def reduced_dictionary(shipped: Path, remove: set[str]) -> dict:
    """The shipped dictionary without ``remove``: their entries, role holders and context forms."""
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data["actors"] = [a for a in data["actors"] if a["id"] not in remove]
    for a in data["actors"]:
        if a.get("context"):
            a["context"] = [c for c in a["context"] if not (isinstance(c, dict) and c.get("requires") in remove)]
    roles = []
    for r in data.get("roles") or []:
        holders = [h for h in r.get("holders", []) if h["actor"] not in remove]
        if holders:
            roles.append({**r, "holders": holders})
    data["roles"] = roles
    return data


def _overlaps(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Pairs of rows of ``a`` and ``b`` in one document whose spans overlap."""
    j = a.reset_index().merge(b.reset_index(), on="doc_id", suffixes=("_a", "_b"))
    return j[(j["start_a"] < j["end_b"]) & (j["start_b"] < j["end_a"])]


def score(reference: pd.DataFrame, suggested: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Recall and precision of the suggested actors' mentions against the removed actors' reference mentions."""
    pairs = _overlaps(reference[[*KEY, "actor_id"]], suggested[[*KEY, "actor_id"]])
    votes = pairs.groupby(["actor_id_b", "actor_id_a"]).size().rename("n").reset_index()
    best = votes.sort_values(["actor_id_b", "n", "actor_id_a"], ascending=[True, False, True]).drop_duplicates("actor_id_b")
    match = dict(zip(best["actor_id_b"], best["actor_id_a"]))
    mapped = suggested[suggested["actor_id"].isin(match)].assign(target=lambda d: d["actor_id"].map(match))
    hits = _overlaps(reference[[*KEY, "actor_id"]], mapped[[*KEY, "target"]].rename(columns={"target": "actor_id"}))
    hits = hits[hits["actor_id_a"] == hits["actor_id_b"]]
    ref_found = set(hits["index_a"])
    sug_right = set(hits["index_b"])
    rows = []
    for aid, g in reference.groupby("actor_id"):
        mine = mapped[mapped["target"] == aid]
        rows.append({"actor_id": aid, "reference": len(g), "recovered": len(set(g.index) & ref_found),
                     "suggested_mentions": len(mine), "correct": len(set(mine.index) & sug_right),
                     "suggested_as": ", ".join(sorted(k for k, v in match.items() if v == aid))})
    per = pd.DataFrame(rows).sort_values("reference", ascending=False)
    per["recall"] = (per["recovered"] / per["reference"]).round(3)
    per["precision"] = (per["correct"] / per["suggested_mentions"].where(per["suggested_mentions"] > 0)).round(3)
    total = {"reference_mentions": int(len(reference)), "recovered": len(ref_found),
             "suggested_mentions": int(len(mapped)), "correct": len(sug_right),
             "recall": round(len(ref_found) / max(len(reference), 1), 4),
             "precision": round(len(sug_right) / max(len(mapped), 1), 4),
             "unmatched_suggested_actors": int(suggested["actor_id"].nunique() - len(match))}
    return total, per


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.leave_out")
    ap.add_argument("--params", default="notebooks/params/ruwa.yaml")
    ap.add_argument("--limit", type=int, default=3000)
    ap.add_argument("--top", type=int, default=100, help="suggest --top")
    ap.add_argument("--remove", type=int, default=20, help="how many actors to leave out")
    ap.add_argument("--surnames", default="auto", choices=["auto", "context"])
    ap.add_argument("--work", default=None, help="folder for the three runs (default: a temporary folder)")
    args = ap.parse_args(argv)
    import tempfile

    from analysis.actors import DEFAULT_DICTIONARY

    work = Path(args.work or tempfile.mkdtemp(prefix="leave-out-"))
    work.mkdir(parents=True, exist_ok=True)
    full, base_run, again = work / "full", work / "reduced", work / "suggested"
    common = ["--params", args.params, "--limit", str(args.limit), "--until", "actors"]
    times = {}
    if not (full / "tables" / "actor_mentions.parquet").exists():
        times["full_run_s"] = _run(["run", *common, "--out", str(full)])
    actors = pd.read_parquet(full / "tables" / "actors.parquet")
    ref_all = _mentions(full)
    ref_all = ref_all[ref_all["kind"] != "role"]
    counts = ref_all.groupby("actor_id").size()
    pool = actors[actors["type"] != "state"].assign(n=lambda d: d["actor_id"].map(counts).fillna(0))
    removed = pool.sort_values(["n", "actor_id"], ascending=[False, True]).head(args.remove)["actor_id"].tolist()
    base_file = work / "reduced.yaml"
    base_file.write_text(yaml.safe_dump(reduced_dictionary(DEFAULT_DICTIONARY, set(removed)), sort_keys=False,
                                        allow_unicode=True), encoding="utf-8")
    for folder in (base_run, again):
        if folder is base_run and (folder / "tables" / "actor_mentions.parquet").exists():
            continue            # rerun by the runner only if the dictionary or the code changed
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(full, folder)
    times["reduced_run_s"] = _run(["run", *common, "--out", str(base_run), "--set", f"actors.dictionary={base_file}",
                                   "--set", "actors.dictionary_mode=replace"])
    sugg = work / "suggested.yaml"
    times["suggest_s"] = _run(["actors", "suggest", str(base_run), "--out", str(sugg), "--top", str(args.top),
                               "--surnames", args.surnames, "--force"])
    times["suggested_run_s"] = _run(["run", *common, "--out", str(again), "--set", f"actors.dictionary={sugg}",
                                     "--set", "actors.dictionary_mode=replace"])
    base_ids = {a["id"] for a in yaml.safe_load(base_file.read_text())["actors"]}
    reference = ref_all[ref_all["actor_id"].isin(removed)].reset_index(drop=True)
    after = _mentions(again)
    suggested = after[~after["actor_id"].isin(base_ids)].reset_index(drop=True)
    total, per = score(reference, suggested)
    # what the suggestions did to the actors that stayed: their counts before and after
    kept_before = _mentions(base_run).groupby("actor_id").size()
    kept_after = after[after["actor_id"].isin(base_ids)].groupby("actor_id").size()
    kept = pd.concat({"before": kept_before, "after": kept_after}, axis=1).fillna(0).astype(int)
    changed = kept[kept["before"] != kept["after"]]
    n_docs = int(len(pd.read_parquet(full / "tables" / "documents.parquet", columns=["doc_id"])))
    result = {"date": dt.date.today().isoformat(), "params": args.params, "limit": args.limit, "documents": n_docs,
              "top": args.top, "surnames": args.surnames, "removed": removed, **total, "seconds": times,
              "proposed_actors": int(len(yaml.safe_load(sugg.read_text())["actors"]) - len(base_ids)),
              "kept_actors_changed": {a: [int(r.before), int(r.after)] for a, r in changed.iterrows()},
              "per_actor": per.to_dict(orient="records")}
    print(per.to_string(index=False))
    print(f"\nrecall {total['recall']:.1%} ({total['recovered']}/{total['reference_mentions']}), precision "
          f"{total['precision']:.1%} ({total['correct']}/{total['suggested_mentions']}); suggest took "
          f"{times['suggest_s']} s with start-up; kept actors whose counts changed: {len(changed)}")
    out = ROOT / "bench" / "results" / f"leave-out-ruwa-{args.limit}-{args.surnames}-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
