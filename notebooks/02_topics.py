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
# # 02 Topics: BERTopic on the corpus units
#
# Fits a reproducible BERTopic model (every part explicit, see `analysis/topics.py`) on cached MiniLM embeddings and writes `topics`, `segment_topics`, `document_topics`, `topic_quality`, `topic_hierarchy` (and `topics_over_time` / `topics_per_source` when the corpus has dates / sources). `None` means *as in the parameters file*.

# %% tags=["parameters"]
params_file = "params/seeds.yaml"  # named parameters file (notebooks/params/) or a run's params.json
run_dir = ""  # the run's output folder; empty: outputs/lab/<run_name> (notebooks run by hand)
unit = None  # str: auto | document | paragraph | sentence
n_neighbors = None  # int: UMAP neighbours (below the unit count); None: derived
min_cluster_size = None  # int: HDBSCAN minimum cluster size; None: derived from the unit count
nr_topics = None  # int | "auto": merge topics down to this number; None: keep
representation = None  # str: ctfidf (topic terms from c-TF-IDF) | keybert_mmr (from KeyBERTInspired + MMR)
reduce_outliers = None  # bool: reassign outliers to their nearest topic
terms_from = None  # str: clusters (terms from HDBSCAN's clusters) | assigned (from every unit after reassignment)
seed = None  # int: random_state of UMAP, KMeans, KeyBERTInspired

# %%
from IPython.display import Image, display

from analysis import plots, runner, topics

P, run = runner.notebook_setup("topics", params_file, run_dir, seed=seed, topics=dict(
    unit=unit, n_neighbors=n_neighbors, min_cluster_size=min_cluster_size, nr_topics=nr_topics,
    representation=representation, reduce_outliers=reduce_outliers, terms_from=terms_from))
documents, segments = run.read_table("documents"), run.read_table("segments")
result = topics.fit_topics(P, documents, segments)
result.write(run)

# %% [markdown]
# ## Unit of analysis and set-up

# %%
print(result.unit_reason)
print(result.setup)

# %%
# NBVAL_CHECK_OUTPUT
# (nbval compares this output on the seeds; `make record-nbval` refreshes it)
print(result.summary())

# %% [markdown]
# ## Topics

# %%
result.topics[["topic", "label", "size", "share", "ctfidf_terms", "keybert_terms", "representative_segment_ids"]]

# %% [markdown]
# ## Quality
# `npmi`: mean normalised PMI of each topic's top-10 terms, co-occurrence counted per unit of this corpus (-1..1, higher is more coherent); `diversity`: unique share of all top-10 terms; `_ctfidf` and `_keybert_mmr` rows score the two representations (the topic terms are the c-TF-IDF ones unless `representation: keybert_mmr`).

# %%
result.quality

# %% [markdown]
# ## Figures

# %%
figures = plots.topic_figures(result, P.topics.representation)
for name, fig in figures.items():
    display(Image(filename=run.save_figure(fig, name)))

# %% [markdown]
# ## Topics per source

# %%
result.per_source.head(40)

# %%
# last cell: marks the stage finished, so the next notebook, `verify` and `make report` accept its tables
run.finish()
