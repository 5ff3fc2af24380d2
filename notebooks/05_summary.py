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
# # 05 Summary: actors x topics x tone
#
# Joins the three analyses: for each actor and topic, the mentions, the documents, and the tone of the sentences naming the actor (95% bootstrap interval). `example_segment_ids` link every cell back to its sentences in the `segments` table. The findings below are generated from the tables.

# %% tags=["parameters"]
params_file = "params/seeds.yaml"  # named parameters file (notebooks/params/) or a run's params.json
run_dir = ""  # the run's output folder; empty: outputs/lab/<run_name> (notebooks run by hand)

# %%
from IPython.display import Image, Markdown, display

from analysis import plots, runner, summary

P, run = runner.notebook_setup("summary", params_file, run_dir)
result = summary.summarise(P, run)
result.write(run)

# %% [markdown]
# ## Findings

# %%
display(Markdown("\n".join(f"- {f}" for f in result.findings)))

# %% [markdown]
# ## Actor x topic table

# %%
result.actor_topic_sentiment.sort_values("mentions", ascending=False).head(30)

# %%
fig = plots.actor_topic_heatmap(result.actor_topic_sentiment, run.read_table("topics"), run.read_table("actors"),
                                min_sentences=P.sentiment.min_sentences)
display(Image(filename=run.save_figure(fig, "actor_topic")))

# %% [markdown]
# ## The sentences behind one cell
# Change `actor` and `topic` to read the evidence for any cell.

# %%
# NBVAL_CHECK_OUTPUT
# (nbval compares this output on the seeds; `make record-nbval` refreshes it)
actor, topic = None, None  # e.g. actor, topic = "RUS", 2; None: the cell with the most mentions
print(result.evidence(run.read_table("segments"), actor, topic))

# %% [markdown]
# ## Outlets and periods
# Tone toward each actor per outlet and per period, with 95% intervals that resample documents, not mentions; the differences between outlets that survive a Benjamini-Hochberg correction over all of them (`source_contrasts`); the words and actors that set each outlet and period apart (`distinctive_terms`). How to read them: `docs/comparisons.md`. A corpus without outlets or dates gets empty tables, and the line below says why.

# %%
# NBVAL_CHECK_OUTPUT
comparison, actors = result.comparison, run.read_table("actors")
print(comparison.summary())

# %%
fig = plots.tone_by_outlet(comparison.actor_source_sentiment, actors, comparison.apart(),
                           min_sentences=P.sentiment.min_sentences, reason=comparison.why_empty("source"))
display(Image(filename=run.save_figure(fig, "tone_by_outlet")))

# %%
comparison.source_contrasts.sort_values(["q_value", "actor_id", "source_a", "source_b"]).head(20)

# %%
fig = plots.tone_timelines(comparison.actor_period_sentiment, actors, period=P.summary.period,
                           min_sentences=P.sentiment.min_sentences, reason=comparison.why_empty("period"))
display(Image(filename=run.save_figure(fig, "tone_over_time")))

# %%
fig = plots.log_odds_words(comparison.log_odds, *(comparison.log_odds_sources or ("", "")),
                           reason=comparison.reasons.get("source", ""))
display(Image(filename=run.save_figure(fig, "log_odds_words")))

# %%
# last cell: marks the stage finished, so the next notebook, `verify` and `make report` accept its tables
run.finish()
