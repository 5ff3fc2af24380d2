"""Command line: ``python -m analysis run|verify|distill|actors suggest``.

Errors the project raises on purpose print as one line and exit with status 2; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from analysis import config
from analysis.errors import AnalysisError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the notebooks in order into outputs/<run>/")
    run.add_argument("--params", default=str(config.DEFAULT_PARAMS_FILE), help="named parameters file")
    run.add_argument("--corpus", help="folder of .txt files, or a .csv/.jsonl/.parquet file")
    run.add_argument("--out", help="run folder (default outputs/<run_name>)")
    run.add_argument("--run-name", help="run name (default from the parameters file or corpus name)")
    run.add_argument("--text-column", action="append", help="text column(s) of a table corpus; repeatable")
    for col in ("id", "title", "date", "source", "url"):
        run.add_argument(f"--{col}-column", help=f"{col} column of a table corpus")
    run.add_argument("--date-format", help="strftime format of the date column, e.g. %%m/%%d/%%Y")
    run.add_argument("--limit", type=int, help="use only the first N documents")
    run.add_argument("--until", choices=list(config.STAGES), help="stop after this stage")
    run.add_argument("--force", action="store_true", help="re-run stages even if nothing changed")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override one parameter (YAML value), e.g. --set topics.unit=sentence")
    ver = sub.add_parser("verify", help="check a run folder against its manifest: notebooks finished, file "
                         "hashes, upstream stages, links between tables")
    ver.add_argument("run_dir")
    sub.add_parser("distill", help="build the fast model2vec embedding model from the installed MiniLM")
    act = sub.add_parser("actors", help="actor dictionary tools").add_subparsers(dest="actors_command", required=True)
    sug = act.add_parser("suggest", help="propose dictionary entries from a finished run's NER candidates")
    sug.add_argument("run_dir", help="a run folder with the actors stage (e.g. outputs/seeds)")
    sug.add_argument("--out", required=True, help="the YAML file to write (pass it as actors.dictionary)")
    sug.add_argument("--top", type=int, default=50, help="at most this many proposed actors (default 50)")
    sug.add_argument("--min-mentions", type=int, default=2, help="leave out entities mentioned fewer times (default 2)")
    sug.add_argument("--surnames", choices=["auto", "context"], default="auto",
                     help="a surname alone: an alias where the corpus uses it alone and NER agrees (auto), or "
                          "always a context form that needs the full name in the same document")
    sug.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return ap


def _overrides(args) -> dict:
    import yaml

    o: dict = {}
    corpus: dict = {}
    if args.corpus:
        corpus["path"] = str(Path(args.corpus).resolve())
        if not args.run_name and not args.out:
            o["run_name"] = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(args.corpus).stem)[:64] or "corpus"
        if Path(args.corpus).is_file():
            # A table corpus does not inherit the parameter file's column names.
            corpus.update(format="auto", id_column=None, title_column=None, date_column=None,
                          source_column=None, url_column=None, date_format=None, text_columns=["text"])
    if args.text_column:
        corpus["text_columns"] = args.text_column
    for col in ("id", "title", "date", "source", "url"):
        if getattr(args, f"{col}_column"):
            corpus[f"{col}_column"] = getattr(args, f"{col}_column")
    if args.date_format:
        corpus["date_format"] = args.date_format
    if args.limit is not None:
        if args.limit < 1:
            from analysis.errors import ParameterError

            raise ParameterError(f"--limit {args.limit}: expected the number of documents to read, 1 or more "
                                 "(leave --limit out to read the whole corpus)")
        corpus["limit"] = args.limit
    if corpus:
        o["corpus"] = corpus
    from analysis.params import seeds_reference_resets

    # another corpus from the seeds' file: not the seeds' float32 and gold file (--set below still wins)
    for section, values in seeds_reference_resets(args.params, corpus.get("path")).items():
        o.setdefault(section, {}).update(values)
    if args.run_name:
        o["run_name"] = args.run_name
    elif args.out:
        o.setdefault("run_name", re.sub(r"[^A-Za-z0-9_.-]", "_", Path(args.out).name)[:64] or "run")
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from analysis.errors import ParameterError

            raise ParameterError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. topics.unit=sentence")
        node = o
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value)
    return o


def _run(args) -> int:
    from analysis.params import load_params
    from analysis.runner import run_pipeline

    p = load_params(args.params, _overrides(args))
    t0 = time.perf_counter()
    out = run_pipeline(p, Path(args.out) if args.out else None, until=args.until, force=args.force,
                       log=lambda m: print(m, flush=True))
    print(f"run '{p.run_name}' finished in {time.perf_counter() - t0:.1f} s: {out}")
    skipped = out / "tables" / "skipped.csv"
    if skipped.exists():
        import pandas as pd

        sk = pd.read_csv(skipped)
        if len(sk):
            reasons = "; ".join(f"{n} x {r}" for r, n in sk["reason"].value_counts().items())
            print(f"skipped {len(sk)} input row(s)/file(s): {reasons} (listed in {skipped})")
    report = out / "report.html"
    if report.exists():
        print(f"report: {report}")
    return 0


def _verify(args) -> int:
    from analysis.runner import verify_run

    problems = verify_run(Path(args.run_dir))
    if problems:
        for p in problems:
            print(p)
        print(f"verify: {len(problems)} problem(s) in {args.run_dir}")
        return 1
    print(f"verify: {args.run_dir} is what its manifest says: every stage's notebook finished, every file has "
          "its recorded hash, every stage was made from the stages now beside it, and the tables' keys link up")
    return 0


def _distill(args) -> int:
    from analysis.embeddings import distill_model2vec

    path = distill_model2vec()
    print(f"model2vec model written to {path}")
    return 0


def _actors(args) -> int:
    from analysis.errors import ParameterError
    from analysis.suggest import SurnameRule, suggest_from_run

    for name in ("top", "min_mentions"):
        if getattr(args, name) < 1:
            raise ParameterError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected 1 or more")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ParameterError(f"--out {out} exists; pass --force to overwrite it, or choose another file")
    t0 = time.perf_counter()
    s, run_name = suggest_from_run(Path(args.run_dir), top=args.top, min_mentions=args.min_mentions,
                                   surnames=SurnameRule(args.surnames))
    s.write(out, force=True, run_name=run_name, source=str(args.run_dir))
    top = ", ".join(f"{p.name} {p.mentions}" for p in s.proposals[:5]) or "none"
    mode = " --set actors.dictionary_mode=replace" if s.mode == "replace" else ""
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s: {len(s.proposals)} proposed actors (top: {top}), "
          f"{len(s.ambiguous)} ambiguous surfaces; review it, then rerun with --set actors.dictionary={out}{mode}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return {"run": _run, "verify": _verify, "distill": _distill, "actors": _actors}[args.command](args)
    except AnalysisError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; previous outputs are untouched", file=sys.stderr)
        return 130
