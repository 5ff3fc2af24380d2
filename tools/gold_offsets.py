"""Turn the hand annotation of the seeds (tests/data/gold_actor_annotation.txt) into character offsets.

    python tools/gold_offsets.py [RUN_DIR]      # default outputs/seeds; writes tests/data/gold_actor_mentions.csv

Each annotated surface is searched, in text order, in the cleaned text of its document (the
``documents`` table of a run), as a whole word; an annotation that cannot be placed is an error.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests/data/gold_actor_annotation.txt"
TARGET = ROOT / "tests/data/gold_actor_mentions.csv"


def parse(text: str) -> list[tuple[str, str, str, str]]:
    """(doc_id, surface, actor_id, context) per annotation line."""
    rows, doc = [], None
    for n, line in enumerate(text.splitlines(), 1):
        if m := re.match(r"#\s*doc\s+(\S+)", line):
            doc = m.group(1)
            continue
        if not line.strip() or line.startswith("#"):
            continue
        head, _, context = line.partition(" @ ")
        surface, _, actor = head.strip().rpartition(" ")
        if not surface or not actor or doc is None:
            raise SystemExit(f"{SOURCE.name}:{n}: expected 'surface ACTOR_ID [@ context]' after a '# doc' line")
        rows.append((doc, surface, actor, context.strip() or surface))
    return rows


def place(texts: dict[str, str], rows) -> pd.DataFrame:
    out, pos = [], {}
    for doc, surface, actor, context in rows:
        text = texts[doc]
        word = re.compile(r"(?<![A-Za-z])" + re.escape(surface) + r"(?![A-Za-z])")
        last = pos.get(doc, 0)
        at = max(0, last - len(context))  # a context may begin before the previous mention ends
        while True:
            c = text.find(context, at)
            if c < 0:
                raise SystemExit(f"{doc}: '{context}' ({surface} -> {actor}) not found after offset {last}")
            m = word.search(text, c, c + len(context))
            if m and m.start() >= last:
                break
            at = c + 1
        out.append((doc, m.start(), m.end(), actor, surface))
        pos[doc] = m.end()
    return pd.DataFrame(out, columns=["doc_id", "start", "end", "actor_id", "surface"])


def main() -> None:
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "outputs/seeds"
    docs = pd.read_parquet(run / "tables/documents.parquet")
    gold = place(dict(zip(docs["doc_id"], docs["text"])), parse(SOURCE.read_text(encoding="utf-8")))
    gold.to_csv(TARGET, index=False)
    print(f"{len(gold)} gold mentions in {gold['doc_id'].nunique()} documents -> {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
