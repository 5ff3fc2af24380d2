"""One self-contained HTML page per run: figures embedded, no code, every corpus string escaped."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import pandas as pd

from analysis import config

__all__ = ["CAPTIONS", "write_report"]

_TITLES = {s.name: s.title for s in config.REGISTRY}
_SECTIONS = [
    ("findings", "Findings", ["findings"], []),
    ("corpus", _TITLES["corpus"], ["documents", "removed_lines", "duplicates", "skipped"], ["document_lengths"]),
    ("topics", _TITLES["topics"], ["topics", "topic_quality"], ["topic_terms", "topic_sizes", "topic_map", "document_topics",
                                                      "topic_hierarchy", "topics_over_time"]),
    ("actors", _TITLES["actors"], ["actors", "actor_cooccurrence", "actor_candidates", "actor_ambiguous",
                         "actor_gold_evaluation", "actor_gold_disagreements"],
     ["top_actors", "document_actors", "actor_network", "actors_over_time", "actors_per_source"]),
    ("sentiment", _TITLES["sentiment"], ["document_sentiment", "method_agreement", "actor_sentiment", "actor_mention_sentiment",
                                "topic_sentiment"],
     ["sentence_tone", "actor_tone", "actor_target_tone", "topic_tone"]),
    ("joined", _TITLES["summary"], ["actor_topic_sentiment"], ["actor_topic"]),
    ("outlets", "Outlets and periods", ["source_contrasts", "actor_source_sentiment", "actor_period_sentiment",
                                        "distinctive_terms"], ["tone_by_outlet", "tone_over_time", "log_odds_words"]),
]
_HIDE = {"documents": ["text"]}
# One line per figure under it in the report: how to read it.
CAPTIONS = {
    "document_lengths": "Words and sentences per document after cleaning.",
    "topic_terms": "The terms that set each topic apart (c-TF-IDF weights), for the largest topics.",
    "topic_sizes": "Units per topic: dark, placed there by the clustering; light, given their nearest topic "
                   "(outliers, units outside the fitting sample).",
    "topic_map": "Each unit in two dimensions (PCA of the clustering space); near units read alike. The largest "
                 "topics are coloured and numbered.",
    "document_topics": "Share of each document's units in each topic.",
    "topic_hierarchy": "Which topics merge first as the clustering is coarsened (distance between their c-TF-IDF "
                       "terms).",
    "topics_over_time": "Share of each period's units per topic, with the units per period below; shaded periods "
                        "rest on few units.",
    "top_actors": "Counted mentions per actor (dictionary matches; NER candidates are not counted).",
    "document_actors": "Mentions of the most-mentioned actors in the documents that mention them most.",
    "actor_network": "Actors named in the same sentence: node size is mentions, edge width is shared sentences.",
    "actors_over_time": "Mentions of the most-mentioned actors per 1,000 words of each month's documents (raw "
                        "counts would follow the corpus's volume); shaded months hold few words.",
    "actors_per_source": "Mentions per 1,000 words of each outlet, so outlets of different sizes compare.",
    "sentence_tone": "Sentence tone (lexicon compound): grey as scored, blue after the domain adjustments.",
    "actor_tone": "Mean tone of the sentences naming each actor, with a 95% bootstrap interval; hollow: too few "
                  "sentences to rank.",
    "actor_target_tone": "Tone toward each actor itself (the targeted model's p(positive) - p(negative), or the "
                         "lexicon clause score with sentiment.targeted_method: clause), with a 95% bootstrap interval.",
    "topic_tone": "Mean sentence tone per topic, with a 95% bootstrap interval.",
    "actor_topic": "Mentions (numbers) and sentence tone (colour) per actor and topic; grey cells rest on too few "
                   "sentences for a tone.",
    "tone_by_outlet": "Tone toward each actor per outlet (targeted score) with a 95% interval that resamples documents, "
                      "not mentions; red: the outlet differs from all the others together at q < 0.05 (Benjamini-"
                      "Hochberg over every contrast); hollow: too few sentences. How to read it: docs/comparisons.md.",
    "tone_over_time": "Tone toward each actor per period with its 95% interval (band); shaded periods rest on too few "
                      "sentences to read a change from them.",
    "log_odds_words": "The words of two outlets: weighted log-odds z-scores with an informative Dirichlet prior "
                      "(Monroe et al. 2008) against the word's frequency; beyond the dashed lines, |z| > 1.96.",
}


_HASH = re.compile(r"[0-9a-f]{32,}")


def _cell(v) -> str:
    """One preview cell: escaped, at most 300 characters; a hex digest (text_sha256) cut to 12 + an ellipsis.

    The full values are in the CSV and Parquet files the table links to; in the preview a 64-character
    digest took the width the titles needed.
    """
    s = str(v)
    if _HASH.fullmatch(s):
        s = s[:12] + "…"
    return html.escape(s)[:300]


def _table(df: pd.DataFrame, name: str, rows: int = 25) -> str:
    df = df.drop(columns=[c for c in _HIDE.get(name, []) if c in df.columns]).head(rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(run_dir: Path) -> Path:
    """Write ``report.html`` for a finished run folder and return its path."""
    manifest = json.loads((run_dir / "manifest.json").read_text()) if (run_dir / "manifest.json").exists() else {}
    toc, parts = [], []
    records = manifest.get("stage_records", {})
    for anchor, title, tables, figures in _SECTIONS:
        blocks = []
        if skipped := records.get(anchor, {}).get("skipped"):      # e.g. a corpus too small for topics
            blocks.append(f'<p class="skipped"><strong>{html.escape(str(skipped))}</strong></p>')
        for fig in figures:
            p = run_dir / "figures" / f"{fig}.png"
            if p.exists():
                data = base64.b64encode(p.read_bytes()).decode()
                blocks.append(f'<figure><img alt="{html.escape(fig)}" src="data:image/png;base64,{data}">'
                              f"<figcaption><code>{html.escape(fig)}.png</code> {html.escape(CAPTIONS.get(fig, ''))}"
                              "</figcaption></figure>")
        for t in tables:
            p = run_dir / "tables" / f"{t}.parquet"
            if not p.exists():
                continue
            df = pd.read_parquet(p)
            if t == "findings":
                blocks.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in df["finding"]) + "</ul>")
                continue
            blocks.append(f'<h3>{html.escape(t)} <small>({len(df):,} rows; <a href="tables/{t}.csv">CSV</a>, '
                          f'<a href="tables/{t}.parquet">Parquet</a>)</small></h3>' + _table(df, t))
        if blocks:
            toc.append(f'<li><a href="#{anchor}">{html.escape(title)}</a></li>')
            parts.append(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{"".join(blocks)}</section>')
    params = html.escape(json.dumps(manifest.get("parameters", {}), indent=2))
    corpus = manifest.get("corpus", {})
    prov = (f"<p>Corpus <code>{html.escape(str(corpus.get('path', '')))}</code>: {corpus.get('documents')} documents, "
            f"{corpus.get('skipped')} inputs skipped, sha256 <code>{html.escape(str(corpus.get('sha256', ''))[:16])}</code>. "
            f"Git commit <code>{html.escape(str(manifest.get('git_commit', ''))[:12])}</code>. Models: "
            + "; ".join(f"{html.escape(v.get('name', k))} (sha256 {html.escape(v.get('sha256', '')[:12])})"
                        for k, v in manifest.get("models", {}).items())
            + f". {len(manifest.get('tables', {}))} table files hashed in <a href=\"manifest.json\">manifest.json</a>.</p>")
    toc.append('<li><a href="#provenance">Parameters and provenance</a></li>')
    parts.append(f'<section id="provenance"><h2>Parameters and provenance</h2>{prov}<pre>{params}</pre></section>')
    name = html.escape(str(manifest.get("run_name", run_dir.name)))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Report: {name}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em;display:block;overflow-x:auto}}
td,th{{border:1px solid #ddd;padding:3px 6px;vertical-align:top;max-width:420px}}th{{background:#f4f4f4}}
img{{max-width:100%}}figure{{margin:1em 0}}figcaption{{font-size:12px;color:#666}}pre{{background:#f7f7f7;padding:1em;font-size:11px}}</style>
</head><body><h1>News discourse analysis: {name}</h1>
<nav><h2>Contents</h2><ol>{''.join(toc)}</ol></nav>{''.join(parts)}</body></html>
"""
    out = run_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
