# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 Corpus: load, clean, segment, de-duplicate
#
# Loads the corpus named by the parameters, removes web boilerplate lines (every removed line is kept in `removed_lines`), splits documents into paragraphs and sentences with character offsets into the cleaned text, and reports duplicate and retold documents.
#
# Change a parameter in the next cell and re-run all cells; `None` means *as in the parameters file*.

# %% tags=["parameters"]
params_file = "params/seeds.yaml"  # named parameters file (notebooks/params/) or a run's params.json
run_dir = ""  # the run's output folder; empty: outputs/lab/<run_name> (notebooks run by hand)
corpus_path = None  # str: folder of .txt files, or a .csv/.jsonl/.parquet file; None: from params_file
text_columns = None  # list[str]: text column(s) of a table corpus, joined by a newline

# %%
from IPython.display import Image, display

from analysis import corpus, plots, runner

P, run = runner.notebook_setup("corpus", params_file, run_dir, corpus=dict(path=corpus_path, text_columns=text_columns))
result = corpus.build_corpus(P)
result.write(run)

# %% [markdown]
# ## Summary

# %%
# NBVAL_CHECK_OUTPUT
# (nbval compares this output on the seeds; `make record-nbval` refreshes it)
print(result.summary())

# %%
result.documents.drop(columns=["text"]).head(20)

# %% [markdown]
# ## Removed boilerplate lines
# Every line dropped by cleaning, with its reason. Nothing is removed silently.

# %%
result.removed_lines.head(50)

# %% [markdown]
# ## Skipped inputs
# Rows or files that did not become documents, and why.

# %%
result.skipped.head(50)

# %% [markdown]
# ## Duplicates
# `exact`: same cleaned text; `near`: word 5-shingle Jaccard over the threshold; `similar`: the two documents share a retold sentence (embedding cosine over the threshold), i.e. the same story written twice.

# %%
result.duplicates

# %% [markdown]
# ## Document lengths

# %%
display(Image(filename=run.save_figure(plots.document_lengths(result.documents), "document_lengths")))

# %%
# last cell: marks the stage finished, so the next notebook, `verify` and `make report` accept its tables
run.finish()
