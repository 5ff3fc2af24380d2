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
# # 04 Sentiment: sentence, document and actor-level tone
#
# VADER scores every sentence; a document's tone is the mean of its sentences and the shares of positive / neutral / negative sentences (thresholds below). AFINN, an independent lexicon, scores the same sentences so disagreement is visible. A domain adjustment file neutralises words whose everyday valence misleads in security news; raw and adjusted scores are both kept.

# %% tags=["parameters"]
params_file = "params/seeds.yaml"  # named parameters file (notebooks/params/) or a run's params.json
run_dir = ""  # the run's output folder; empty: outputs/lab/<run_name> (notebooks run by hand)
method = None  # str: vader | afinn (the primary scorer)
positive_threshold = None  # float: sentences at or above this compound are positive (default 0.05)
negative_threshold = None  # float: sentences at or below this compound are negative (default -0.05)
lexicon_adjustments = None  # str: YAML of domain valence adjustments (project-root relative)
min_sentences = None  # int: actors with fewer sentences are flagged, not ranked
bootstrap_resamples = None  # int: resamples for the 95% intervals (seeded by the run's seed)

# %%
from IPython.display import Image, display

from analysis import plots, runner, sentiment

P, run = runner.notebook_setup("sentiment", params_file, run_dir, sentiment=dict(
    method=method, positive_threshold=positive_threshold, negative_threshold=negative_threshold,
    lexicon_adjustments=lexicon_adjustments, min_sentences=min_sentences, bootstrap_resamples=bootstrap_resamples))
result = sentiment.analyse_sentiment(
    P, run.read_table("documents"), run.read_table("segments"),
    run.read_table("actor_mentions") if run.has_table("actor_mentions") else None,
    run.read_table("segment_topics") if run.has_table("segment_topics") else None)
result.write(run)

# %%
# NBVAL_CHECK_OUTPUT
# (nbval compares this output on the seeds; `make record-nbval` refreshes it)
print(result.summary(P.sentiment.method))

# %% [markdown]
# ## Documents

# %%
result.documents

# %% [markdown]
# ## Agreement between the two methods (on adjusted scores)

# %%
result.agreement

# %% [markdown]
# ## Actors
# `vader_sentence`: tone of whole sentences naming the actor (domain-adjusted VADER). `targeted_model`: tone *toward* the actor in each sentence, from the shipped target-dependent classifier (p(positive) - p(negative), -1..1; its validation scores are in `analysis/data/targeted_model.json`); with `targeted_method: clause` this is `vader_clause`, the lexicon score of the clause around the mention. "NATO condemned Russia's aggression" is one negative sentence for both actors, but negative only toward Russia.

# %%
result.actors[~result.actors["flagged"]].sort_values("mean")

# %% [markdown]
# ## Figures

# %%
actor_table = run.read_table("actors") if run.has_table("actors") else None
figures = {"sentence_tone": plots.sentence_tone_by_document(result.sentences, P.sentiment.method,
                                                           documents=run.read_table("documents"))}
if actor_table is not None and len(result.actors):
    figures["actor_tone"] = plots.actor_tone(result.actors, actor_table, f"{P.sentiment.method}_sentence")
    target_method = [m for m in result.actors["method"].unique() if not m.endswith("_sentence")]
    if target_method:
        figures["actor_target_tone"] = plots.actor_tone(result.actors, actor_table, target_method[0])
if len(result.topics):
    figures["topic_tone"] = plots.topic_tone(result.topics, run.read_table("topics"))
for name, fig in figures.items():
    display(Image(filename=run.save_figure(fig, name)))

# %%
# last cell: marks the stage finished, so the next notebook, `verify` and `make report` accept its tables
run.finish()
