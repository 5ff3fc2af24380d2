"""Cell lists of the source notebooks (see tools/nbgen.py).

Notebooks stay thin: parameters, calls into ``analysis``, display. No def or class here.
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

P, run = runner.notebook_setup("corpus", params_file, run_dir, corpus=dict(path=corpus_path, text_columns=text_columns))
result = corpus.build_corpus(P)
result.write(run)''', []),
    ("md", "## Summary", []),
    ("code", "# NBVAL_CHECK_OUTPUT\n# (nbval compares this output on the seeds; tools/nbgen.py --record refreshes it)\nprint(result.summary())", []),
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

NB02 = [
    ("md", "# 02 Topics: BERTopic on the corpus units\n\n"
           "Fits a reproducible BERTopic model (every part explicit, see `analysis/topics.py`) on cached "
           "MiniLM embeddings and writes `topics`, `segment_topics`, `document_topics`, `topic_quality`, "
           "`topic_hierarchy` (and `topics_over_time` / `topics_per_source` when the corpus has dates / "
           "sources). `None` means *as in the parameters file*.", []),
    ("code", COMMON + '''unit = None  # str: auto | document | paragraph | sentence
n_neighbors = None  # int: UMAP neighbours (below the unit count); None: derived
min_cluster_size = None  # int: HDBSCAN minimum cluster size; None: derived from the unit count
nr_topics = None  # int | "auto": merge topics down to this number; None: keep
representation = None  # str: ctfidf (topic terms from c-TF-IDF) | keybert_mmr (from KeyBERTInspired + MMR)
reduce_outliers = None  # bool: reassign outliers to their nearest topic
terms_from = None  # str: clusters (terms from HDBSCAN's clusters) | assigned (from every unit after reassignment)
seed = None  # int: random_state of UMAP, KMeans, KeyBERTInspired
''', ["parameters"]),
    ("code", '''from IPython.display import Image, display

from analysis import plots, runner, topics

P, run = runner.notebook_setup("topics", params_file, run_dir, topics=dict(
    unit=unit, n_neighbors=n_neighbors, min_cluster_size=min_cluster_size, nr_topics=nr_topics,
    representation=representation, reduce_outliers=reduce_outliers, terms_from=terms_from))
P = P.with_overrides({"seed": seed}) if seed is not None else P
documents, segments = run.read_table("documents"), run.read_table("segments")
result = topics.fit_topics(P, documents, segments)
result.write(run)''', []),
    ("md", "## Unit of analysis and set-up", []),
    ("code", "print(result.unit_reason)\nprint(result.model.setup_)", []),
    ("code", "# NBVAL_CHECK_OUTPUT\n# (nbval compares this output on the seeds; tools/nbgen.py --record refreshes it)\nprint(result.summary())", []),
    ("md", "## Topics", []),
    ("code", 'result.topics[["topic", "label", "size", "share", "ctfidf_terms", "keybert_terms", "representative_segment_ids"]]', []),
    ("md", "## Quality\n`npmi`: mean normalised PMI of each topic's top-10 terms, co-occurrence counted per unit "
           "of this corpus (-1..1, higher is more coherent); `diversity`: unique share of all top-10 terms; "
           "`_ctfidf` and `_keybert_mmr` rows score the two representations (the topic terms are the c-TF-IDF ones "
           "unless `representation: keybert_mmr`).", []),
    ("code", "result.quality", []),
    ("md", "## Figures", []),
    ("code", '''figures = {
    "topic_terms": plots.topic_terms(result.topics, representation=P.topics.representation),
    "topic_sizes": plots.topic_sizes(result.topics, result.segment_topics),
    "topic_map": plots.topic_map(result.model.reduced_, result.segment_topics, result.topics),
    "document_topics": plots.document_topic_heatmap(result.document_topics, result.topics),
    "topic_hierarchy": plots.topic_hierarchy(result.hierarchy, result.topics),
}
if len(result.over_time):
    figures["topics_over_time"] = plots.topics_over_time(result.over_time, result.topics)
for name, fig in figures.items():
    display(Image(filename=run.save_figure(fig, name)))''', []),
    ("md", "## Topics per source", []),
    ("code", "result.per_source.head(40)", []),
]

NB03 = [
    ("md", "# 03 Actors: who is mentioned, how often, with whom\n\n"
           "A curated actor dictionary (`analysis/data/actors.yaml`, extendable by parameter) sits in front of "
           "spaCy's statistical NER: dictionary matches win; entities the dictionary does not know are listed "
           "as candidates to review, never counted. Every count can be checked in the `kwic` table.", []),
    ("code", COMMON + '''dictionary = None  # str: your own actors YAML (project-root relative); None: as in params_file
dictionary_mode = None  # str: extend | replace (the default dictionary)
count_attributive = None  # bool: count demonyms such as "Russian aggression" for the state
min_mentions = None  # int: actors with fewer mentions are left out of the actors table
ner_discovery = None  # bool: run spaCy NER to list candidate actors
''', ["parameters"]),
    ("code", '''from IPython.display import Image, display

from analysis import actors, plots, runner

P, run = runner.notebook_setup("actors", params_file, run_dir, actors=dict(
    dictionary=dictionary, dictionary_mode=dictionary_mode, count_attributive=count_attributive,
    min_mentions=min_mentions, ner_discovery=ner_discovery))
documents, segments = run.read_table("documents"), run.read_table("segments")
result = actors.analyse_actors(P, documents, segments)
result.write(run)''', []),
    ("code", "# NBVAL_CHECK_OUTPUT\n# (nbval compares this output on the seeds; tools/nbgen.py --record refreshes it)\nprint(result.summary())", []),
    ("md", "## Actors", []),
    ("code", "result.actors.head(30)", []),
    ("md", "## Co-occurrence (same sentence; PMI over sentences)", []),
    ("code", 'result.cooccurrence.sort_values("sentences", ascending=False).head(20)', []),
    ("md", "## Ambiguous surfaces (not counted) and NER candidates to review", []),
    ("code", "result.ambiguous.head(20)", []),
    ("code", "result.candidates.head(30)", []),
    ("md", "## Keyword in context", []),
    ("code", "result.kwic.head(20)", []),
    ("md", "## Against a hand annotation\nWith `actors.gold` set (the seeds: `tests/data/gold_actor_mentions.csv`, "
           "annotated by reading the articles; guidelines in `tests/data/gold_actor_annotation.txt`), every "
           "mention is compared on exact span and actor; the disagreements are listed for review.", []),
    ("code", "# NBVAL_CHECK_OUTPUT\n# (nbval compares this output on the seeds; tools/nbgen.py --record refreshes it)\n"
             "print(result.gold_summary())", []),
    ("code", "result.disagreements", []),
    ("md", "## Figures", []),
    ("code", '''figures = {
    "top_actors": plots.top_actors(result.actors),
    "document_actors": plots.document_actor_heatmap(result.document_counts, result.actors),
    "actor_network": plots.cooccurrence_network(result.cooccurrence, result.actors),
}
if len(result.over_time):
    figures["actors_over_time"] = plots.actors_by_group(result.over_time, "month", result.actors, "per_1k_words")
if len(result.per_source):
    figures["actors_per_source"] = plots.actors_by_group(result.per_source, "source", result.actors, "per_1k_words")
for name, fig in figures.items():
    display(Image(filename=run.save_figure(fig, name)))''', []),
]

NB04 = [
    ("md", "# 04 Sentiment: sentence, document and actor-level tone\n\n"
           "VADER scores every sentence; a document's tone is the mean of its sentences and the shares of "
           "positive / neutral / negative sentences (thresholds below). AFINN, an independent lexicon, scores "
           "the same sentences so disagreement is visible. A domain adjustment file neutralises words whose "
           "everyday valence misleads in security news; raw and adjusted scores are both kept.", []),
    ("code", COMMON + '''method = None  # str: vader | afinn (the primary scorer)
positive_threshold = None  # float: sentences at or above this compound are positive (default 0.05)
negative_threshold = None  # float: sentences at or below this compound are negative (default -0.05)
lexicon_adjustments = None  # str: YAML of domain valence adjustments (project-root relative)
min_sentences = None  # int: actors with fewer sentences are flagged, not ranked
bootstrap_resamples = None  # int: resamples for the 95% intervals (seeded by the run's seed)
''', ["parameters"]),
    ("code", '''from IPython.display import Image, display

from analysis import plots, runner, sentiment

P, run = runner.notebook_setup("sentiment", params_file, run_dir, sentiment=dict(
    method=method, positive_threshold=positive_threshold, negative_threshold=negative_threshold,
    lexicon_adjustments=lexicon_adjustments, min_sentences=min_sentences, bootstrap_resamples=bootstrap_resamples))
result = sentiment.analyse_sentiment(
    P, run.read_table("documents"), run.read_table("segments"),
    run.read_table("actor_mentions") if run.has_table("actor_mentions") else None,
    run.read_table("segment_topics") if run.has_table("segment_topics") else None)
result.write(run)''', []),
    ("code", "# NBVAL_CHECK_OUTPUT\n# (nbval compares this output on the seeds; tools/nbgen.py --record refreshes it)\nprint(result.summary(P.sentiment.method))", []),
    ("md", "## Documents", []),
    ("code", "result.documents", []),
    ("md", "## Agreement between the two methods (on adjusted scores)", []),
    ("code", "result.agreement", []),
    ("md", "## Actors\n`vader_sentence`: tone of whole sentences naming the actor (domain-adjusted VADER). "
           "`targeted_model`: tone *toward* the actor in each sentence, from the shipped target-dependent "
           "classifier (p(positive) - p(negative), -1..1; its validation scores are in "
           "`analysis/data/targeted_model.json`); with `targeted_method: clause` this is `vader_clause`, the "
           "lexicon score of the clause around the mention. \"NATO condemned Russia's aggression\" is one "
           "negative sentence for both actors, but negative only toward Russia.", []),
    ("code", 'result.actors[~result.actors["flagged"]].sort_values("mean")', []),
    ("md", "## Figures", []),
    ("code", '''actor_table = run.read_table("actors") if run.has_table("actors") else None
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
    display(Image(filename=run.save_figure(fig, name)))''', []),
]

NB05 = [
    ("md", "# 05 Summary: actors x topics x tone\n\n"
           "Joins the three analyses: for each actor and topic, the mentions, the documents, and the tone of "
           "the sentences naming the actor (95% bootstrap interval). `example_segment_ids` link every cell "
           "back to its sentences in the `segments` table. The findings below are generated from the tables.", []),
    ("code", COMMON, ["parameters"]),
    ("code", '''from IPython.display import Image, Markdown, display

from analysis import plots, runner, summary

P, run = runner.notebook_setup("summary", params_file, run_dir)
result = summary.summarise(P, run)
result.write(run)''', []),
    ("md", "## Findings", []),
    ("code", 'display(Markdown("\\n".join(f"- {f}" for f in result.findings)))', []),
    ("md", "## Actor x topic table", []),
    ("code", 'result.actor_topic_sentiment.sort_values("mentions", ascending=False).head(30)', []),
    ("code", '''fig = plots.actor_topic_heatmap(result.actor_topic_sentiment, run.read_table("topics"), run.read_table("actors"),
                                min_sentences=P.sentiment.min_sentences)
display(Image(filename=run.save_figure(fig, "actor_topic")))''', []),
    ("md", "## The sentences behind one cell\nChange `actor` and `topic` to read the evidence for any cell.", []),
    ("code", '''# NBVAL_CHECK_OUTPUT\n# (nbval compares this output on the seeds; tools/nbgen.py --record refreshes it)
actor, topic = None, None  # e.g. actor, topic = "RUS", 2; None: the cell with the most mentions
print(result.evidence(run.read_table("segments"), actor, topic))''', []),
]

NOTEBOOKS = {"01_corpus.ipynb": NB01, "02_topics.ipynb": NB02, "03_actors.ipynb": NB03, "04_sentiment.ipynb": NB04,
             "05_summary.ipynb": NB05}
