"""Cell lists of the source notebooks (see tools/nbgen.py). Notebooks stay thin: parameters, calls
into ``analysis``, display. No def or class here.
"""

COMMON = '''params_file = "params/seeds.yaml"  # named parameters file (notebooks/params/) or a run's params.json
run_dir = ""  # the run's output folder; empty: outputs/<run_name>
'''

NB01 = [
    ("md", "# 01 Corpus: load, clean, segment, de-duplicate\n\n"
           "Loads the corpus named by the parameters, removes web boilerplate lines (every removed line is "
           "kept in `removed_lines`), splits documents into paragraphs and sentences with character offsets "
           "into the cleaned text, and reports duplicate and retold documents.\n\n"
           "Change a parameter in the next cell and re-run all cells; `None` means *as in the parameters file*.", []),
    ("code", COMMON + '''corpus_path = None  # str: folder of .txt files, or a .csv/.jsonl/.parquet file; None: from params_file
text_columns = None  # list[str]: text column(s) of a table corpus, joined by a newline
''', ["parameters"]),
    ("code", '''from IPython.display import Image, display

from analysis import corpus, plots, runner

P, run = runner.notebook_setup(params_file, run_dir, corpus=dict(path=corpus_path, text_columns=text_columns))
result = corpus.build_corpus(P)
result.write(run)''', []),
    ("md", "## Summary", []),
    ("code", "# NBVAL_CHECK_OUTPUT\nprint(result.summary())", []),
    ("code", 'result.documents.drop(columns=["text"]).head(20)', []),
    ("md", "## Removed boilerplate lines\nEvery line dropped by cleaning, with its reason. Nothing is removed silently.", []),
    ("code", "result.removed_lines.head(50)", []),
    ("md", "## Skipped inputs\nRows or files that did not become documents, and why.", []),
    ("code", "result.skipped.head(50)", []),
    ("md", "## Duplicates\n`exact`: same cleaned text; `near`: word 5-shingle Jaccard over the threshold; "
           "`similar`: the two documents share a retold sentence (embedding cosine over the threshold), "
           "i.e. the same story written twice.", []),
    ("code", "result.duplicates", []),
    ("md", "## Document lengths", []),
    ("code", 'display(Image(filename=run.save_figure(plots.document_lengths(result.documents), "document_lengths")))', []),
]

NOTEBOOKS = {"01_corpus.ipynb": NB01}
