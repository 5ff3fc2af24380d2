"""Figures that must not fail on the shapes small or unusual corpora give."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_topic_hierarchy_with_tied_distances_follows_merge_order():
    # BERTopic's hierarchy for four orthogonal topics: every distance is 1.0, parents in merge order 4, 5, 6.
    # BERTopic gives the ids as strings: "10" must come after "9".
    hierarchy = pd.DataFrame({"parent_id": ["10", "9", "8", "7", "6"], "parent_name": ["x"] * 5,
                              "child_left_id": ["3", "8", "7", "6", "0"], "child_right_id": ["9", "2", "5", "4", "1"],
                              "distance": [1.0] * 5})
    topics = pd.DataFrame({"topic": range(6), "label": list("abcdef")})
    fig = plots.topic_hierarchy(hierarchy, topics)
    labels = sorted(t.get_text() for t in fig.axes[0].get_yticklabels())
    assert len(labels) == 6 and all(": " in t for t in labels)


def test_actor_topic_heatmap_without_mentions_says_so():
    ats = pd.DataFrame(columns=["actor_id", "topic", "mentions", "mean_tone"])
    fig = plots.actor_topic_heatmap(ats, pd.DataFrame({"topic": [0], "label": ["a"]}),
                                    pd.DataFrame(columns=["actor_id"]))
    assert any("no actor mentions" in t.get_text() for t in fig.axes[0].texts)


def test_actors_per_source_and_month_draw():
    actors = pd.DataFrame({"actor_id": ["RUS", "UKR"]})
    per_source = pd.DataFrame({"source": [f"outlet{i}" for i in range(20)] * 2, "actor_id": ["RUS"] * 20 + ["UKR"] * 20,
                               "per_1k_words": [float(i) for i in range(40)]})
    fig = plots.actors_by_group(per_source, "source", actors, "per_1k_words")
    assert "15 of 20" in fig.axes[0].get_title() and len(fig.axes[0].get_xticklabels()) == 15
    months = pd.DataFrame({"month": ["2022-02", "2022-03"] * 2, "actor_id": ["RUS", "RUS", "UKR", "UKR"],
                           "mentions": [3, 4, 5, 6]})
    assert len(plots.actors_by_group(months, "month", actors).axes[0].lines) == 2


def test_topic_sizes_split_clustered_from_reassigned_units():
    topics = pd.DataFrame({"topic": [0, 1], "label": ["a", "b"], "size": [3, 2]})
    st = pd.DataFrame({"topic": [0, 0, 0, 1, 1], "clustered": [True, True, False, True, True]})
    bars = [(round(p.get_x()), round(p.get_width())) for p in plots.topic_sizes(topics, st).axes[0].patches]
    # topic 0: 2 placed by the clustering, then 1 reassigned; topic 1: 2 and none
    assert bars == [(0, 2), (0, 2), (2, 1), (2, 0)]
    # outliers kept in topic -1 (reduce_outliers off) are one grey bar, not units given a nearest topic
    kept = pd.DataFrame({"topic": [-1, 0, 1], "label": ["outliers", "a", "b"], "size": [2, 3, 2]})
    st_kept = pd.DataFrame({"topic": [-1, -1, 0, 0, 0, 1, 1], "clustered": [False, False] + [True] * 5})
    assert len(plots.topic_sizes(kept, st_kept).axes[0].patches) == 3
    mixed = pd.concat([st_kept, pd.DataFrame({"topic": [0], "clustered": [False]})])
    bars = [(round(p.get_x()), round(p.get_width())) for p in
            plots.topic_sizes(kept.assign(size=[2, 4, 2]), mixed).axes[0].patches]
    assert bars == [(0, 2), (0, 3), (0, 2), (2, 0), (3, 1), (2, 0)]
    # all clustered (or no table): one bar per topic
    assert len(plots.topic_sizes(topics, st.assign(clustered=True)).axes[0].patches) == 2
    assert len(plots.topic_sizes(topics).axes[0].patches) == 2


def test_topics_over_time_shades_periods_with_few_units():
    # months of 600, 5, 500 and 700 units: the median is 550, so the month of 5 is shaded (limit 55)
    periods = ["2022-01-01", "2022-02-01", "2022-03-01", "2022-04-01"]
    units = {0: [300, 4, 250, 350], 1: [300, 1, 250, 350]}
    over_time = pd.DataFrame([{"period": p, "topic": t, "units": n[i], "share": n[i] / sum(u[i] for u in units.values())}
                              for t, n in units.items() for i, p in enumerate(periods)])
    topics = pd.DataFrame({"topic": [0, 1], "label": ["0_a", "1_b"]})
    fig = plots.topics_over_time(over_time, topics)
    shares, counts = fig.axes
    assert [round(b.get_height()) for b in counts.containers[0]] == [600, 5, 500, 700]
    shaded = [p for p in shares.patches if p.get_facecolor()[:3] == (0.88, 0.88, 0.88)]
    assert len(shaded) == 1                      # one month shaded in the shares panel
    legend = [t.get_text() for t in shares.get_legend().get_texts()]
    assert "shaded: 54 units or fewer in the period" in legend
    # no thin month: nothing shaded, nothing said
    even = over_time[over_time["period"] != "2022-02-01"]
    fig = plots.topics_over_time(even, topics)
    assert not any("shaded" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_actor_topic_heatmap_shows_tone_only_on_enough_sentences_and_caps_topics():
    # 20 topics; RUS has 5 sentences in every topic, UKR 1 (too few for a tone) except in topic 0
    rows = [{"actor_id": a, "topic": t, "mentions": m, "mean_tone": -0.2, "n_sentences": n}
            for t in range(20) for a, m, n in (("RUS", 5 + t, 5), ("UKR", 1, 3 if t == 0 else 1))]
    ats = pd.DataFrame(rows)
    topics = pd.DataFrame({"topic": range(20), "label": [f"{t}_x" for t in range(20)]})
    fig = plots.actor_topic_heatmap(ats, topics, pd.DataFrame({"actor_id": ["RUS", "UKR"]}), max_topics=15)
    ax = fig.axes[0]
    assert "the 15 of 20 topics with most mentions" in ax.get_title()
    assert [t.get_text().split(":")[0] for t in ax.get_xticklabels()] == [str(t) for t in range(5, 20)]
    tone = ax.images[0].get_array()
    assert not tone.mask[0].any()            # RUS: coloured everywhere
    assert tone.mask[1].all()                # UKR: one sentence per shown topic, grey
    counts = sorted(int(t.get_text()) for t in ax.texts)
    assert counts == sorted([1] * 15 + list(range(10, 25)))


def test_topic_map_labels_the_largest_topics_and_groups_the_rest():
    import numpy as np

    rng = np.random.default_rng(0)
    sizes = {t: 40 - t for t in range(20)}          # topic 0 largest
    topic = np.repeat(list(sizes), list(sizes.values()))
    topic = np.concatenate([topic, [-1] * 15])
    st = pd.DataFrame({"topic": topic})
    coords = rng.normal(size=(len(st), 2)) + topic[:, None]
    topics = pd.DataFrame({"topic": range(20), "label": [f"{t}_w{t}" for t in range(20)]})
    fig = plots.topic_map(coords, st, topics, max_labelled=12)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["outliers (-1)", "the other 8 topics"] and len(legend) == 14
    assert sorted(int(a.get_text()) for a in ax.texts) == list(range(12))


def test_cooccurrence_network_draws_only_strong_pairs():
    import itertools

    ids = [f"A{i}" for i in range(8)]
    actors = pd.DataFrame({"actor_id": ids, "mentions": range(80, 0, -10), "type": ["state"] * 4 + ["person"] * 4})
    # every pair shares i + j sentences: 0 to 13
    cooc = pd.DataFrame([{"actor_a": a, "actor_b": b, "sentences": i + j, "documents": 1, "pmi": 0.0}
                         for (i, a), (j, b) in itertools.combinations(enumerate(ids), 2)])
    fig = plots.cooccurrence_network(cooc, actors, max_edges=10, min_sentences=3)
    ax = fig.axes[0]
    eligible = int((cooc["sentences"] >= 3).sum())
    assert f"the 10 strongest of {eligible}" in ax.get_title()
    assert len(ax.collections[0].get_paths()) == 10            # the edges drawn
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["state", "person"]
    # the 10 strongest pairs (13, 12, 11, 11, 10, 10, 9, 9, 9 sentences, then A1-A7 of the 8s) leave A0 alone
    assert ax.get_title().endswith("not drawn, no pair shown: A0")
    assert {t.get_text() for t in ax.texts} == set(ids) - {"A0"}


def test_document_topic_heatmap_shows_present_topics_and_says_when_each_document_has_one():
    topics = pd.DataFrame({"topic": range(30), "label": [f"{t}_x" for t in range(30)]})
    single = pd.DataFrame({"doc_id": [f"d{i}" for i in range(5)], "topic": [3, 3, 7, 9, 12], "share": 1.0, "units": 1})
    ax = plots.document_topic_heatmap(single, topics).axes[0]
    assert [t.get_text().split(":")[0] for t in ax.get_xticklabels()] == ["3", "7", "9", "12"]
    assert "one topic per document" in ax.get_title()
    mixed = pd.DataFrame({"doc_id": ["a", "a", "b"], "topic": [1, 2, 2], "share": [0.5, 0.5, 1.0], "units": [2, 2, 3]})
    ax = plots.document_topic_heatmap(mixed, topics).axes[0]
    assert "one topic per document" not in ax.get_title()


def test_sentence_tone_groups_by_source_above_max_docs():
    docs = pd.DataFrame({"doc_id": [f"d{i:02d}" for i in range(40)], "source": ["a.com", "b.com", ""] * 13 + ["a.com"]})
    sents = pd.DataFrame({"doc_id": docs["doc_id"].repeat(2).to_numpy(), "method": "vader",
                          "compound": 0.1, "adjusted_compound": 0.2})
    ax = plots.sentence_tone_by_document(sents, "vader", documents=docs).axes[0]
    assert ax.get_title() == "Sentence tone per source"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a.com (n=28)", "b.com (n=26)"]
    ax = plots.sentence_tone_by_document(sents, "vader").axes[0]        # no sources known
    assert ax.get_title() == "Sentence tone per document (the first 30 of 40 by id)"
    few = sents[sents["doc_id"] < "d05"]
    ax = plots.sentence_tone_by_document(few, "vader", documents=docs).axes[0]
    assert ax.get_title() == "Sentence tone per document" and len(ax.get_yticklabels()) == 5


def test_document_actor_heatmap_says_which_documents_it_shows():
    counts = pd.DataFrame({"doc_id": [f"d{i:02d}" for i in range(50)], "actor_id": "RUS", "mentions": range(1, 51)})
    ax = plots.document_actor_heatmap(counts, pd.DataFrame({"actor_id": ["RUS"]})).axes[0]
    assert ax.get_title().endswith("the 40 of 50 documents with most mentions of these actors")
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "d10"      # d00-d09 have the fewest


def test_actors_per_month_shades_months_with_few_words():
    months = pd.DataFrame({"month": ["2022-01", "2022-02", "2022-03", "2022-04"] * 2, "actor_id": ["RUS"] * 4 + ["UKR"] * 4,
                           "mentions": [1, 40, 50, 45] * 2, "per_1k_words": [5.0, 4.0, 5.0, 4.5] * 2,
                           "words_in_month": [200, 10_000, 12_000, 9_000] * 2})
    fig = plots.actors_by_group(months, "month", pd.DataFrame({"actor_id": ["RUS", "UKR"]}), "per_1k_words")
    ax = fig.axes[0]
    assert ax.get_title().endswith("(1 of 4)") and ax.get_ylabel() == "per 1k words"
    assert [round(p.get_x() + p.get_width() / 2, 6) for p in ax.patches if p.get_facecolor()[:3] == (0.88, 0.88, 0.88)] == [0.0]


def test_actor_figures_name_actors_by_display_name():
    actors = pd.DataFrame({"actor_id": ["RUS", "CHARLES_MICHEL"], "name": ["Russia", "Charles Michel"],
                           "type": ["state", "person"], "mentions": [9, 4], "documents": [3, 2]})
    sent = pd.DataFrame({"actor_id": ["RUS", "CHARLES_MICHEL"], "method": ["vader", "vader"], "mean": [-0.3, 0.1],
                         "ci_low": [-0.4, 0.0], "ci_high": [-0.2, 0.2], "flagged": [False, True], "n_sentences": [9, 4]})
    fig = plots.actor_tone(sent, actors, "vader")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["Russia (n=9)", "Charles Michel (n=4)"]
    counts = pd.DataFrame({"doc_id": ["d1", "d2"], "actor_id": ["RUS", "CHARLES_MICHEL"], "mentions": [9, 4]})
    fig = plots.document_actor_heatmap(counts, actors)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Russia", "Charles Michel"]
    cooc = pd.DataFrame({"actor_a": ["CHARLES_MICHEL"], "actor_b": ["RUS"], "sentences": [2], "documents": [1]})
    fig = plots.cooccurrence_network(cooc, actors)
    assert {t.get_text() for t in fig.axes[0].texts} == {"Russia", "Charles Michel"}
