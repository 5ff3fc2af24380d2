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
# # 03 Actors: who is mentioned, how often, with whom
#
# A curated actor dictionary (`analysis/data/actors.yaml`, extendable by parameter) sits in front of spaCy's statistical NER: dictionary matches win; entities the dictionary does not know are listed as candidates to review, never counted. Every count can be checked in the `kwic` table.

# %% tags=["parameters"]
params_file = "params/seeds.yaml"  # named parameters file (notebooks/params/) or a run's params.json
run_dir = ""  # the run's output folder; empty: outputs/lab/<run_name> (notebooks run by hand)
dictionary = None  # str: your own actors YAML (project-root relative); None: as in params_file
dictionary_mode = None  # str: extend | replace (the default dictionary)
count_attributive = None  # bool: count demonyms such as "Russian aggression" for the state
min_mentions = None  # int: actors with fewer mentions are left out of the actors table
ner_discovery = None  # bool: run spaCy NER to list candidate actors

# %%
from IPython.display import Image, display

from analysis import actors, plots, runner, suggest

P, run = runner.notebook_setup("actors", params_file, run_dir, actors=dict(
    dictionary=dictionary, dictionary_mode=dictionary_mode, count_attributive=count_attributive,
    min_mentions=min_mentions, ner_discovery=ner_discovery))
documents, segments = run.read_table("documents"), run.read_table("segments")
result = actors.analyse_actors(P, documents, segments)
result.write(run)

# %%
# NBVAL_CHECK_OUTPUT
# (nbval compares this output on the seeds; `make record-nbval` refreshes it)
print(result.summary())

# %% [markdown]
# ## Actors

# %%
result.actors.head(30)

# %% [markdown]
# ## Co-occurrence (same sentence; PMI over sentences)

# %%
result.cooccurrence.sort_values("sentences", ascending=False).head(20)

# %% [markdown]
# ## Ambiguous surfaces (not counted) and NER candidates to review

# %%
result.ambiguous.head(20)

# %%
result.candidates.head(30)

# %% [markdown]
# ## Proposals for your dictionary
# The candidates grouped into actors, ranked by mentions: what `python -m analysis actors suggest RUN_DIR --out my_actors.yaml` writes as a dictionary file to review and pass as `actors.dictionary` (`docs/actors.md`).

# %%
proposals = suggest.suggest_for_stage(P, documents, result)
proposals.table().head(20)

# %%
proposals.ambiguous_table().head(20)

# %% [markdown]
# ## Keyword in context

# %%
result.kwic.head(20)

# %% [markdown]
# ## Against a hand annotation
# With `actors.gold` set (the seeds: `tests/data/gold_actor_mentions.csv`, annotated by reading the articles; guidelines in `tests/data/gold_actor_annotation.txt`), every mention is compared on exact span and actor; the disagreements are listed for review.

# %%
# NBVAL_CHECK_OUTPUT
# (nbval compares this output on the seeds; `make record-nbval` refreshes it)
print(result.gold_summary())

# %%
result.disagreements

# %% [markdown]
# ## Figures

# %%
figures = {
    "top_actors": plots.top_actors(result.actors),
    "document_actors": plots.document_actor_heatmap(result.document_counts, result.actors),
    "actor_network": plots.cooccurrence_network(result.cooccurrence, result.actors),
}
if len(result.over_time):
    figures["actors_over_time"] = plots.actors_by_group(result.over_time, "month", result.actors, "per_1k_words")
if len(result.per_source):
    figures["actors_per_source"] = plots.actors_by_group(result.per_source, "source", result.actors, "per_1k_words")
for name, fig in figures.items():
    display(Image(filename=run.save_figure(fig, name)))

# %%
# last cell: marks the stage finished, so the next notebook, `verify` and `make report` accept its tables
run.finish()
