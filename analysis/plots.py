"""Figures. Every function takes result tables and returns a matplotlib Figure; the caller saves it."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["document_lengths", "topic_figures", "topic_terms", "topic_sizes", "topic_map", "document_topic_heatmap",
           "topic_hierarchy", "topics_over_time", "thin_limit", "thin_periods", "top_actors", "document_actor_heatmap",
           "cooccurrence_network", "actors_by_group", "sentence_tone_by_document", "actor_tone", "topic_tone",
           "actor_topic_heatmap", "tone_by_outlet", "tone_timelines", "log_odds_words"]


def _short(label: str, n: int = 28) -> str:
    label = str(label)
    return label if len(label) <= n else label[: n - 1] + "…"


def _largest(counts: pd.Series, n: int) -> list:
    """The labels of the ``n`` largest values of ``counts`` (ties in their order there), sorted by label."""
    return sorted(counts.sort_values(ascending=False, kind="stable").index[:n])


def document_lengths(documents: pd.DataFrame) -> plt.Figure:
    """Words per document: one bar per document for small corpora, a histogram otherwise."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if len(documents) <= 40:
        labels = [_short(f"{d}: {t}") for d, t in zip(documents["doc_id"].str[:8], documents["title"])]
        y = np.arange(len(documents))
        ax.barh(y, documents["n_words"], color="#4C72B0")
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        for yi, (w, s) in enumerate(zip(documents["n_words"], documents["n_sentences"])):
            ax.text(w, yi, f" {w} words, {s} sentences", va="center", fontsize=7)
        ax.set_xlim(0, documents["n_words"].max() * 1.45)
        ax.set_xlabel("words (after cleaning)")
    else:
        ax.hist(documents["n_words"], bins=min(60, max(10, len(documents) // 50)), color="#4C72B0")
        ax.set_xlabel("words per document (after cleaning)")
        ax.set_ylabel("documents")
        med = float(np.median(documents["n_words"]))
        ax.axvline(med, color="k", lw=1, ls="--")
        ax.text(med, ax.get_ylim()[1] * 0.95, f" median {med:.0f}", fontsize=8)
    ax.set_title(f"Document lengths ({len(documents):,} documents)")
    fig.tight_layout()
    return fig


def _nothing_to_show(title: str, message: str) -> plt.Figure:
    """A small figure that says why it is empty (the file still exists for the report)."""
    fig, ax = plt.subplots(figsize=(6, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10)
    ax.set_title(title)
    return fig


def _topic_names(topics: pd.DataFrame) -> dict[int, str]:
    return {int(t): f"{t}: {_short(lbl, 40)}" for t, lbl in zip(topics["topic"], topics["label"])}


def topic_terms(topics: pd.DataFrame, max_topics: int = 12, representation: str = "ctfidf") -> plt.Figure:
    """Top terms of each topic with their weights, one panel per topic."""
    import json

    shown = topics[topics["topic"] != -1].head(max_topics)
    n = max(len(shown), 1)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (_, r) in zip(axes.flat, shown.iterrows()):
        terms = r["top_terms"] if not isinstance(r["top_terms"], str) else json.loads(r["top_terms"])
        terms = list(terms)[:10][::-1]
        ax.barh([t["term"] for t in terms], [t["weight"] for t in terms], color="#55A868")
        ax.set_title(_short(f"{r['topic']}: {r['label']}", 45), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    weights = {"ctfidf": "c-TF-IDF", "keybert_mmr": "KeyBERTInspired + MMR"}.get(representation, representation)
    fig.suptitle(f"Top terms per topic ({weights} weights)", fontsize=10)
    fig.tight_layout()
    return fig


def topic_sizes(topics: pd.DataFrame, segment_topics: pd.DataFrame | None = None) -> plt.Figure:
    """Units per topic (outliers in grey).

    With ``segment_topics`` each bar is split: the units the clustering placed itself, then those given
    their nearest topic (``clustered`` false).
    """
    names = _topic_names(topics)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(topics) + 1.2))
    labels = [names[t] for t in topics["topic"]]
    colors = ["#BBBBBB" if t == -1 else "#4C72B0" for t in topics["topic"]]
    given = None
    if segment_topics is not None and "clustered" in segment_topics:
        given = segment_topics[~segment_topics["clustered"] & (segment_topics["topic"] != -1)].groupby("topic").size()
    if given is not None and len(given):
        # the outlier topic (kept when reduce_outliers is off) stays one grey bar: nobody gave it its units
        given = topics["topic"].map(given).fillna(0).to_numpy()
        core = topics["size"].to_numpy() - given
        ax.barh(labels, core, color=colors)
        ax.barh(labels, given, left=core, color="#A6BDDB")
        from matplotlib.patches import Patch

        ax.legend([Patch(color="#4C72B0"), Patch(color="#A6BDDB")],
                  ["placed by the clustering", "nearest topic (outliers, units outside the fitting sample)"],
                  fontsize=7, loc="lower right")
    else:
        ax.barh(labels, topics["size"], color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("units")
    ax.set_title("Topic sizes")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def topic_map(coords: np.ndarray, segment_topics: pd.DataFrame, topics: pd.DataFrame,
              max_labelled: int = 12) -> plt.Figure:
    """2-D map of the units (PCA of the clustering space), coloured by topic.

    The ``max_labelled`` largest topics get a colour, a legend entry and their number at the middle of
    their units; the others are drawn in grey as one legend entry (a legend of dozens of entries squeezes
    the map into a strip, and tab20's colours repeat).
    """
    names = _topic_names(topics)
    sizes = segment_topics.loc[segment_topics["topic"] != -1, "topic"].value_counts()
    order = sorted(sizes.index, key=lambda x: (-int(sizes[x]), int(x)))
    labelled = order[:max_labelled]
    rest = [x for x in order if x not in set(labelled)]
    fig, ax = plt.subplots(figsize=(9.5, 6))
    small = len(coords) < 2000
    topic = segment_topics["topic"].to_numpy()
    if (topic == -1).any():
        m = topic == -1
        ax.scatter(coords[m, 0], coords[m, 1], s=10 if small else 2, color="#DDDDDD", label="outliers (-1)", alpha=0.8)
    if rest:
        m = np.isin(topic, rest)
        ax.scatter(coords[m, 0], coords[m, 1], s=10 if small else 2, color="#AAAAAA", alpha=0.6,
                   label=f"the other {len(rest)} topics")
    tab20 = plt.get_cmap("tab20")
    for i, t in enumerate(labelled):
        m = topic == t
        colour = tab20(2 * i if i < 10 else 2 * (i - 10) + 1)     # ten strong colours first, then their light pairs
        ax.scatter(coords[m, 0], coords[m, 1], s=12 if small else 3, color=colour, label=_short(names.get(int(t), str(t)), 40),
                   alpha=0.85)
        cx, cy = np.median(coords[m, 0]), np.median(coords[m, 1])
        ax.annotate(str(t), (cx, cy), ha="center", va="center", fontsize=8, weight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colour, "alpha": 0.85})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"Units coloured by topic ({len(coords):,} units)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False, markerscale=2)
    fig.tight_layout()
    return fig


def document_topic_heatmap(document_topics: pd.DataFrame, topics: pd.DataFrame, max_docs: int = 40,
                           max_topics: int = 20) -> plt.Figure:
    """Share of each document's units per topic (the largest documents when there are many).

    Only topics present in the shown documents are columns (at most ``max_topics``, those with most of
    their units). When every shown document sits in one topic (topics fitted on whole documents), the
    title says so: the figure then shows an assignment, not a mixture.
    """
    m = document_topics.pivot_table(index="doc_id", columns="topic", values="share", fill_value=0.0)
    units = document_topics.groupby("doc_id")["units"].sum()
    if len(m) > max_docs:
        keep = units.sort_values(ascending=False, kind="stable")
        m = m.loc[sorted(keep.index[:max_docs])]
    weight = (m.mul(units.reindex(m.index), axis=0)).sum()
    cols = _largest(weight[weight > 0], max_topics)
    n_present = int((weight > 0).sum())
    m = m[cols]
    names = _topic_names(topics)
    fig, ax = plt.subplots(figsize=(0.6 * max(m.shape[1], 3) + 4, 0.3 * m.shape[0] + 2))
    im = ax.imshow(m.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(m)), [_short(d, 24) for d in m.index], fontsize=7)
    ax.set_xticks(range(m.shape[1]), [_short(names.get(int(t), str(t)), 22) for t in m.columns],
                  rotation=40, ha="right", fontsize=7)
    if m.size <= 400:
        for (i, j), v in np.ndenumerate(m.to_numpy()):
            if v > 0:
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=6, color="k" if v < 0.6 else "w")
    fig.colorbar(im, ax=ax, label="share of the document's units")
    notes = []
    if n_present > len(cols):
        notes.append(f"the {len(cols)} of {n_present} topics with most of these documents' units")
    if len(m) and bool((m.max(axis=1) >= 1.0).all()):
        notes.append("one topic per document (fitted on whole documents; topics.unit: paragraph shows mixtures)")
    ax.set_title("Documents x topics" + "".join(f"\n{n}" for n in notes), fontsize=10)
    fig.tight_layout()
    return fig


def topic_hierarchy(hierarchy: pd.DataFrame, topics: pd.DataFrame) -> plt.Figure:
    """Dendrogram of topic merges (BERTopic's hierarchical_topics)."""
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(topics), 3) + 1.5))
    leaves = [t for t in topics["topic"] if t != -1]
    if len(hierarchy) == 0 or len(leaves) < 3:
        ax.text(0.5, 0.5, f"{len(leaves)} topics: no hierarchy to draw (needs 3 or more)", ha="center")
        ax.axis("off")
        return fig
    from scipy.cluster.hierarchy import dendrogram

    ids = {t: i for i, t in enumerate(sorted(leaves))}
    size = dict.fromkeys(range(len(ids)), 1)
    nxt = len(ids)
    z = []
    # BERTopic numbers parents in merge order; sorting by distance breaks ties (equal distances) wrongly.
    for _, r in hierarchy.sort_values("parent_id", key=lambda s: s.astype(int), kind="stable").iterrows():
        a, b = ids[int(r["child_left_id"])], ids[int(r["child_right_id"])]
        ids[int(r["parent_id"])] = nxt
        size[nxt] = size[a] + size[b]
        z.append([a, b, float(r["distance"]), size[nxt]])
        nxt += 1
    names = _topic_names(topics)
    dendrogram(np.array(z), orientation="left", ax=ax, labels=[names[t] for t in sorted(leaves)],
               leaf_font_size=8, color_threshold=0)
    ax.set_xlabel("distance between topics (c-TF-IDF)")
    ax.set_title("Topic hierarchy")
    fig.tight_layout()
    return fig


# A period whose units are fewer than this share of the median period's, or fewer than
# THIN_PERIOD_MIN_UNITS, is drawn shaded: its shares rest on a handful of units, and a topic's share
# there can swing by several points on a dozen documents.
THIN_PERIOD_SHARE = 0.1
THIN_PERIOD_MIN_UNITS = 10


def thin_limit(units_per_period: pd.Series) -> float:
    """Periods with fewer units than this are thin (see THIN_PERIOD_SHARE)."""
    return max(THIN_PERIOD_MIN_UNITS, THIN_PERIOD_SHARE * float(units_per_period.median()))


def thin_periods(units_per_period: pd.Series) -> pd.Series:
    """True for periods with too few units for their shares to mean much (see THIN_PERIOD_SHARE).

    >>> thin_periods(pd.Series([5, 400, 500, 600], index=list("abcd"))).tolist()
    [True, False, False, False]
    """
    return units_per_period < thin_limit(units_per_period)


def topics_over_time(over_time: pd.DataFrame, topics: pd.DataFrame, max_topics: int = 10) -> plt.Figure:
    """Share of units per topic per period, above the number of units in each period.

    Periods with few units (:func:`thin_periods`) are shaded in both panels.
    """
    from matplotlib.patches import Patch

    names = _topic_names(topics)
    top = [t for t in topics["topic"] if t != -1][:max_topics]
    piv = over_time.pivot_table(index="period", columns="topic", values="share", fill_value=0.0)
    totals = over_time.groupby("period")["units"].sum().reindex(piv.index)
    when = pd.to_datetime(piv.index)
    gaps = np.diff(when.values).astype("timedelta64[D]").astype(float) if len(when) > 1 else np.array([30.0])
    width = pd.Timedelta(days=0.8 * float(gaps.min()))
    thin = thin_periods(totals).to_numpy()
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for t in top:
        if t in piv:
            ax.plot(when, piv[t], marker="o", ms=3, label=names[t])
    for w in when[thin]:
        for a in (ax, ax_n):
            a.axvspan(w - width / 2, w + width / 2, color="0.88", zorder=0, lw=0)
    handles, labels = ax.get_legend_handles_labels()
    if thin.any():
        handles.append(Patch(color="0.88"))
        labels.append(f"shaded: {math.ceil(thin_limit(totals)) - 1:,} units or fewer in the period")
    ax.set_ylabel("share of the period's units")
    ax.set_title("Topics over time")
    ax.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    ax_n.bar(when, totals.to_numpy(), width=width, color=np.where(thin, "0.65", "#4C72B0"))
    ax_n.set_ylabel("units", fontsize=8)
    ax_n.tick_params(axis="y", labelsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


_TYPE_COLORS = {"state": "#4C72B0", "international_organisation": "#55A868", "person": "#C44E52",
                "government_body": "#8172B2", "armed_forces": "#CCB974", "media": "#64B5CD", "other": "#999999"}


def _actor_names(actors: pd.DataFrame, width: int = 28) -> dict[str, str]:
    """actor_id -> the display name figures show ("Russia", not "RUS"); ids stay in the tables."""
    if "name" not in actors:
        return {}
    return {a: _short(str(n), width) for a, n in zip(actors["actor_id"], actors["name"])}


def top_actors(actors: pd.DataFrame, n: int = 25) -> plt.Figure:
    """Most mentioned actors, coloured by type."""
    top = actors.head(n)
    fig, ax = plt.subplots(figsize=(7.5, 0.3 * max(len(top), 3) + 1.2))
    ax.barh(top["name"].map(lambda s: _short(s, 34)), top["mentions"],
            color=[_TYPE_COLORS.get(t, "#999999") for t in top["type"]])
    ax.invert_yaxis()
    ax.set_xlabel("mentions (dictionary matches)")
    ax.set_title("Top actors by type")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for t, c in _TYPE_COLORS.items() if t in set(top["type"])]
    ax.legend(handles, [t for t in _TYPE_COLORS if t in set(top["type"])], fontsize=7, loc="lower right")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def document_actor_heatmap(doc_counts: pd.DataFrame, actors: pd.DataFrame, max_docs: int = 40,
                           max_actors: int = 20) -> plt.Figure:
    """Mentions of the top actors per document."""
    keep = actors["actor_id"].head(max_actors).tolist()
    m = doc_counts[doc_counts["actor_id"].isin(keep)].pivot_table(
        index="doc_id", columns="actor_id", values="mentions", fill_value=0)
    m = m.reindex(columns=[a for a in keep if a in m.columns])
    n_docs = len(m)
    if len(m) > max_docs:
        m = m.loc[m.sum(1).sort_values(ascending=False, kind="stable").index[:max_docs]].sort_index()
    fig, ax = plt.subplots(figsize=(0.45 * max(m.shape[1], 4) + 3, 0.3 * max(m.shape[0], 3) + 2))
    im = ax.imshow(m.to_numpy(), cmap="Oranges", aspect="auto")
    names = _actor_names(actors)
    ax.set_xticks(range(m.shape[1]), [names.get(a, a) for a in m.columns], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(m.shape[0]), [_short(d, 24) for d in m.index], fontsize=7)
    if m.size <= 600:
        for (i, j), v in np.ndenumerate(m.to_numpy()):
            if v:
                ax.text(j, i, int(v), ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="mentions")
    ax.set_title("Documents x actors" + (f"\nthe {len(m)} of {n_docs:,} documents with most mentions of these actors"
                                         if n_docs > len(m) else ""), fontsize=10 if n_docs > len(m) else None)
    fig.tight_layout()
    return fig


def cooccurrence_network(cooc: pd.DataFrame, actors: pd.DataFrame, max_actors: int = 20, max_edges: int = 40,
                         min_sentences: int = 1) -> plt.Figure:
    """Actors (node size = mentions, colour = type) linked by co-mentions in one sentence.

    An edge is a pair named together in at least ``min_sentences`` sentences; of those, the
    ``max_edges`` with most sentences are drawn, wider with more (square-root scale, so that one
    dominant pair does not flatten the others). In a large corpus most pairs of the most-mentioned
    actors share a sentence somewhere, and drawing them all gives a hairball.
    """
    import networkx as nx
    from matplotlib.patches import Patch

    keep = actors.head(max_actors)
    g = nx.Graph()
    for a, m in zip(keep["actor_id"], keep["mentions"]):
        g.add_node(a, mentions=int(m))
    pairs = cooc[cooc["actor_a"].isin(g.nodes) & cooc["actor_b"].isin(g.nodes) & (cooc["sentences"] >= min_sentences)]
    n_pairs = len(pairs)
    pairs = pairs.sort_values(["sentences", "actor_a", "actor_b"], ascending=[False, True, True], kind="stable").head(max_edges)
    for a, b, s in zip(pairs["actor_a"], pairs["actor_b"], pairs["sentences"]):
        g.add_edge(a, b, weight=int(s))
    fig, ax = plt.subplots(figsize=(8, 6.5))
    if g.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "no actor mentions", ha="center")
        ax.axis("off")
        return fig
    isolated = [n for n in g.nodes if g.degree(n) == 0] if g.number_of_edges() else []
    g.remove_nodes_from(isolated)           # laid out alone, they squeeze the connected actors into a knot
    pos = nx.spring_layout(g, seed=0, weight="weight", k=2.5 / math.sqrt(max(g.number_of_nodes(), 1)))
    w = [g[u][v]["weight"] for u, v in g.edges()]
    nx.draw_networkx_edges(g, pos, ax=ax, width=[0.4 + 5 * math.sqrt(x / max(w)) for x in w] if w else 1, alpha=0.35)
    sizes = [80 + 1200 * g.nodes[n]["mentions"] / max(keep["mentions"]) for n in g.nodes]
    types = keep.set_index("actor_id").loc[list(g.nodes), "type"]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=sizes, node_color=[_TYPE_COLORS.get(x, "#999") for x in types],
                           alpha=0.85)
    names = _actor_names(actors, 20)
    nx.draw_networkx_labels(g, pos, ax=ax, labels={n: names.get(n, n) for n in g.nodes}, font_size=7)
    shown = f"the {len(w)} strongest of {n_pairs}" if n_pairs > len(w) else f"all {len(w)}"
    floor = f" in {min_sentences}+ sentences" if min_sentences > 1 else ""
    alone = f"\nnot drawn, no pair shown: {', '.join(names.get(a, a) for a in isolated[:6])}{' ...' if len(isolated) > 6 else ''}" if isolated else ""
    ax.set_title("Actor co-occurrence (same sentence)\n"
                 f"pairs named together{floor}: {shown}; width = sentences{alone}", fontsize=10)
    present = [x for x in _TYPE_COLORS if x in set(types)]
    ax.legend([Patch(color=_TYPE_COLORS[x]) for x in present], [x.replace("_", " ") for x in present], fontsize=7,
              loc="upper left", bbox_to_anchor=(1, 1), frameon=False, title="type", title_fontsize=7)
    ax.axis("off")
    fig.tight_layout()
    return fig


def actors_by_group(table: pd.DataFrame, group: str, actors: pd.DataFrame, value: str = "mentions",
                    max_actors: int = 10, max_groups: int = 15) -> plt.Figure:
    """Mentions of the top actors per month (lines) or per source (bars).

    Per source, the ``max_groups`` sources with the most mentions of those actors are shown.
    """
    keep = actors["actor_id"].head(max_actors).tolist()
    piv = table[table["actor_id"].isin(keep)].pivot_table(index=group, columns="actor_id", values=value,
                                                         fill_value=0).reindex(columns=keep).fillna(0)
    piv = piv.rename(columns=_actor_names(actors))
    fig, ax = plt.subplots(figsize=(9, 4.2))
    if group == "month":
        piv.plot(ax=ax, kind="line", marker="o")
        title = f"Top actors per {group}"
        if "words_in_month" in table:
            words = table.groupby("month")["words_in_month"].first().reindex(piv.index)
            thin = thin_periods(words).to_numpy()
            for x in np.flatnonzero(thin):         # the line plot puts month i at x = i
                ax.axvspan(x - 0.4, x + 0.4, color="0.88", zorder=0, lw=0)
            if thin.any():
                title += (f"; shaded: months with under a tenth of the median month's words "
                          f"({int(thin.sum())} of {len(thin)})")
    else:
        shown = piv.sum(axis=1).sort_values(ascending=False, kind="stable").index[:max_groups]
        piv.loc[shown].plot(ax=ax, kind="bar")
        title = f"Top actors per {group}" + (f" (the {len(shown)} of {len(piv)} with most)" if len(piv) > len(shown) else "")
        ax.tick_params(axis="x", labelsize=7)
    ax.set_ylabel(value.replace("_", " "))
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def sentence_tone_by_document(sentences: pd.DataFrame, method: str, max_docs: int = 30,
                              documents: pd.DataFrame | None = None, max_sources: int = 15) -> plt.Figure:
    """Distribution of sentence tone (raw and domain-adjusted compound) per document, or per source.

    Up to ``max_docs`` documents, one pair of boxes per document. Above that, when ``documents`` gives
    sources, one pair per source (the ``max_sources`` with most sentences): thirty documents picked by
    id out of thousands say nothing about the corpus.
    Otherwise the first ``max_docs`` documents, and the title says of how many.
    """
    s = sentences[sentences["method"] == method]
    all_docs = sorted(s["doc_id"].unique())
    by, title = "doc_id", "Sentence tone per document"
    if len(all_docs) > max_docs and documents is not None and "source" in documents:
        src = documents.set_index("doc_id")["source"].astype(str)
        sourced = s.assign(source=s["doc_id"].map(src).fillna(""))
        sourced = sourced[sourced["source"] != ""]
        if len(sourced):
            counts = sourced["source"].value_counts()
            s, by, groups = sourced, "source", _largest(counts, max_sources)
            title = "Sentence tone per source" + (f" (the {len(groups)} of {len(counts)} with most sentences)"
                                                  if len(counts) > len(groups) else "")
    if by == "doc_id":
        groups = all_docs[:max_docs]
        if len(all_docs) > len(groups):
            title += f" (the first {len(groups)} of {len(all_docs):,} by id)"
    n = s.groupby(by).size()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(groups) + 1.5))
    raw = [s.loc[s[by] == g, "compound"].to_numpy() for g in groups]
    adj = [s.loc[s[by] == g, "adjusted_compound"].to_numpy() for g in groups]
    y = np.arange(len(groups))
    b1 = ax.boxplot(raw, positions=y - 0.18, widths=0.3, vert=False, patch_artist=True, showfliers=by == "doc_id")
    b2 = ax.boxplot(adj, positions=y + 0.18, widths=0.3, vert=False, patch_artist=True, showfliers=by == "doc_id")
    for b, c in ((b1, "#DDDDDD"), (b2, "#4C72B0")):
        for patch in b["boxes"]:
            patch.set_facecolor(c)
    labels = [_short(g, 24) for g in groups] if by == "doc_id" else [f"{_short(g, 24)} (n={n[g]:,})" for g in groups]
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(f"sentence compound ({method}); grey raw, blue domain-adjusted")
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def actor_tone(actor_sentiment: pd.DataFrame, actors: pd.DataFrame, method: str, max_actors: int = 25) -> plt.Figure:
    """Mean tone of the sentences naming each actor with its bootstrap 95% interval (flagged: hollow)."""
    a = actor_sentiment[actor_sentiment["method"] == method].set_index("actor_id")
    order = [x for x in actors["actor_id"] if x in a.index][:max_actors]
    a = a.loc[order]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(a), 3) + 1.5))
    y = np.arange(len(a))
    ax.errorbar(a["mean"], y, xerr=[a["mean"] - a["ci_low"], a["ci_high"] - a["mean"]], fmt="none", ecolor="#888")
    flagged = a["flagged"].astype(bool).to_numpy()
    ax.scatter(a["mean"][~flagged], y[~flagged], color="#C44E52", zorder=3, label="enough sentences")
    ax.scatter(a["mean"][flagged], y[flagged], facecolors="white", edgecolors="#C44E52", zorder=3,
               label="too few sentences (flagged, not ranked)")
    names = _actor_names(actors)
    ax.set_yticks(y, [f"{names.get(i, i)} (n={n})" for i, n in zip(a.index, a["n_sentences"])], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel(f"mean tone ({method}), 95% bootstrap interval")
    ax.set_title("Tone toward each actor (target-dependent)" if not method.endswith("_sentence")
                 else "Tone of sentences naming each actor", pad=18)
    # above the axes, where no actor's interval can run under it
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def topic_tone(topic_sentiment: pd.DataFrame, topics: pd.DataFrame) -> plt.Figure:
    """Mean sentence tone per topic with its 95% interval."""
    names = _topic_names(topics)
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(topic_sentiment), 3) + 1.2))
    y = np.arange(len(topic_sentiment))
    ts = topic_sentiment
    ax.errorbar(ts["mean"], y, xerr=[ts["mean"] - ts["ci_low"], ts["ci_high"] - ts["mean"]], fmt="o", color="#8172B2")
    ax.set_yticks(y, [f"{names.get(int(t), t)} (n={n})" for t, n in zip(ts["topic"], ts["n_sentences"])], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("mean adjusted compound, 95% bootstrap interval")
    ax.set_title("Tone by topic")
    fig.tight_layout()
    return fig


def actor_topic_heatmap(ats: pd.DataFrame, topics: pd.DataFrame, actors: pd.DataFrame, max_actors: int = 15,
                        max_topics: int = 15, min_sentences: int = 3) -> plt.Figure:
    """Mentions per actor and topic; cell colour is the mean tone, the number is the mention count.

    Only a cell whose tone rests on at least ``min_sentences`` sentences is coloured; the others are
    grey with their count (the tone of one or two sentences is noise). Above ``max_topics`` topics, the ones with the most mentions of
    the shown actors are drawn, in topic order, and the title says how many of how many.
    """
    keep = [a for a in actors["actor_id"] if a in set(ats["actor_id"])][:max_actors]
    if not keep:
        return _nothing_to_show("Actors x topics", "no actor mentions in this corpus")
    sub = ats[ats["actor_id"].isin(keep)]
    per_topic = sub.groupby("topic")["mentions"].sum()
    shown = _largest(per_topic, max_topics)
    sub = sub[sub["topic"].isin(shown)]
    mentions = sub.pivot_table(index="actor_id", columns="topic", values="mentions", fill_value=0).reindex(
        index=keep, columns=shown).fillna(0)
    enough = sub[sub["n_sentences"] >= min_sentences]
    tone = enough.pivot_table(index="actor_id", columns="topic", values="mean_tone").reindex(index=keep, columns=shown)
    names = _topic_names(topics)
    fig, ax = plt.subplots(figsize=(0.8 * max(len(shown), 2) + 4, 0.35 * max(len(keep), 3) + 2.2))
    ax.set_facecolor("0.9")                 # cells without enough sentences (NaN tone) show the background
    im = ax.imshow(tone.to_numpy(dtype=float), cmap="RdBu", vmin=-0.5, vmax=0.5, aspect="auto")
    dark = np.abs(np.nan_to_num(tone.to_numpy(dtype=float))) > 0.3
    for (i, j), v in np.ndenumerate(mentions.to_numpy()):
        if v:
            ax.text(j, i, int(v), ha="center", va="center", fontsize=7, color="white" if dark[i, j] else "black")
    actor_names = _actor_names(actors)
    ax.set_yticks(range(len(keep)), [actor_names.get(a, a) for a in keep], fontsize=7)
    ax.set_xticks(range(len(shown)), [_short(names.get(int(t), str(t)), 24) for t in shown],
                  rotation=35, ha="right", fontsize=7)
    fig.colorbar(im, ax=ax, label="mean sentence tone (adjusted compound)")
    which = f"the {len(shown)} of {len(per_topic)} topics with most mentions; " if len(per_topic) > len(shown) else ""
    ax.set_title("Actors x topics: mentions (numbers) and tone (colour)\n"
                 f"{which}grey: fewer than {min_sentences} sentences, no tone shown", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ outlets and periods (compare)


def _panel_grid(n: int, ncols: int = 4, width: float = 3.2, height: float = 2.6, sharex: bool = False):
    """``n`` small panels in rows of ``ncols``; the unused ones hidden.

    With ``sharex`` the x tick labels show under the lowest panel of each column only (fewer labels to
    lay out, so the figure draws faster).
    """
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols + 0.6, height * nrows + 1.1), squeeze=False,
                             sharex=sharex)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    if sharex and n > ncols:
        # a column whose last panel is hidden shows its labels under the panel above it
        for ax in axes.flat[n - ncols:n]:
            ax.xaxis.set_tick_params(labelbottom=True)
    return fig, list(axes.flat[:n])


def _most_mentioned(actors: pd.DataFrame, present, n: int) -> list[str]:
    """The ``n`` most mentioned actors (the actors table's order) among ``present``."""
    present = set(present)
    return [a for a in actors["actor_id"] if a in present][:n]


def tone_by_outlet(per_source: pd.DataFrame, actors: pd.DataFrame, apart=(), max_actors: int = 12,
                   max_sources: int = 12, min_sentences: int = 3, reason: str = "") -> plt.Figure:
    """Forest plot: tone toward each actor per outlet, with 95% intervals over documents; one panel per actor.

    The ``max_actors`` most mentioned actors among those named by two outlets or more (one outlet is no
    comparison), and in each the ``max_sources`` outlets with most mentions of it. The (actor_id, source)
    pairs in ``apart`` (those whose tone differs from all the other outlets together,
    :func:`analysis.compare.apart_from_the_rest`) are red; a hollow point rests on fewer than
    ``min_sentences`` sentences; a point without a bar rests on one document.
    """
    if per_source.empty:
        return _nothing_to_show("Tone toward actors by outlet", reason or "no outlet names an actor")
    outlets = per_source.groupby("actor_id")["source"].nunique()
    keep = _most_mentioned(actors, outlets.index[outlets >= 2], max_actors)
    if not keep:
        return _nothing_to_show("Tone toward actors by outlet", "no actor is named by two outlets")
    names = _actor_names(actors)
    apart = set(apart)
    fig, axes = _panel_grid(len(keep), sharex=True)
    cut = 0
    for ax, actor in zip(axes, keep):
        rows = per_source[per_source["actor_id"] == actor]
        top = rows.sort_values(["mentions", "source"], ascending=[False, True], kind="stable").head(max_sources)
        cut += len(rows) - len(top)
        top = top.sort_values("source", kind="stable")
        y = np.arange(len(top))
        x = top["target_tone"].to_numpy(dtype=float)
        lo, hi = top["ci_low"].to_numpy(dtype=float), top["ci_high"].to_numpy(dtype=float)
        ax.errorbar(x, y, xerr=[np.nan_to_num(x - lo), np.nan_to_num(hi - x)], fmt="none", ecolor="#999", lw=1)
        red = np.array([(actor, s) in apart for s in top["source"]])
        few = top["flagged"].to_numpy(dtype=bool)
        for mask, face, edge in ((~few & ~red, "#4C72B0", "#4C72B0"), (~few & red, "#C44E52", "#C44E52"),
                                 (few, "white", "#4C72B0")):
            ax.scatter(x[mask], y[mask], s=18, facecolors=face, edgecolors=edge, zorder=3)
        ax.set_yticks(y, [f"{_short(s, 18)} ({n})" for s, n in zip(top["source"], top["n_sentences"])], fontsize=6.5)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xticks([-1, -0.5, 0, 0.5, 1])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(names.get(actor, actor), fontsize=9)
    n_actors = per_source["actor_id"].nunique()
    left = []
    if n_actors > len(keep):
        left.append(f"the {len(keep)} most mentioned of the {int((outlets >= 2).sum())} actors named by two outlets "
                    f"or more ({n_actors} in all)")
    if cut:
        left.append(f"per actor the {max_sources} outlets naming it most ({cut} outlet rows left out)")
    fig.suptitle("Tone toward each actor by outlet (targeted score, 95% interval resampling documents; "
                 "sentences in brackets)\n" + ("; ".join(left) + "; " if left else "")
                 + "red: differs from the other outlets together at q < 0.05; "
                 f"hollow: under {min_sentences} sentences", fontsize=9)
    fig.tight_layout()
    return fig


def tone_timelines(per_period: pd.DataFrame, actors: pd.DataFrame, max_actors: int = 12, period: str = "month",
                   min_sentences: int = 3, reason: str = "") -> plt.Figure:
    """Tone toward each actor per period with its 95% interval as a band; one panel per actor.

    Periods resting on fewer than ``min_sentences`` sentences (``flagged``) are shaded and drawn as hollow
    points; the band leaves them out.
    """
    if per_period.empty:
        return _nothing_to_show("Tone toward actors over time", reason or "no dated document names an actor")
    keep = _most_mentioned(actors, per_period["actor_id"], max_actors)
    names = _actor_names(actors)
    days = {"month": 31, "week": 7, "quarter": 92}[period]
    half = pd.Timedelta(days=0.45 * days)
    fig, axes = _panel_grid(len(keep), ncols=3, width=4.0, height=2.4, sharex=True)
    starts = pd.to_datetime(per_period.loc[per_period["actor_id"].isin(keep), "period_start"])
    span = (starts.min() - half, starts.max() + half)       # one time axis for all panels, to compare them
    for ax, actor in zip(axes, keep):
        rows = per_period[per_period["actor_id"] == actor].sort_values("period_start", kind="stable")
        when = pd.to_datetime(rows["period_start"])
        tone = rows["target_tone"].to_numpy(dtype=float)
        thin = rows["flagged"].to_numpy(dtype=bool)
        for w in when[thin]:
            ax.axvspan(w - half, w + half, color="0.88", lw=0, zorder=0)
        solid = np.where(thin, np.nan, tone)
        ax.fill_between(when, np.where(thin, np.nan, rows["ci_low"]), np.where(thin, np.nan, rows["ci_high"]),
                        color="#4C72B0", alpha=0.25, lw=0)
        ax.plot(when, solid, color="#4C72B0", marker="o", ms=3, lw=1.2)
        ax.scatter(when[thin], tone[thin], s=14, facecolors="white", edgecolors="#4C72B0", zorder=3)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylim(-1.05, 1.05)
        ax.set_yticks([-1, -0.5, 0, 0.5, 1])
        ax.set_xlim(*span)
        ax.tick_params(labelsize=7)
        ax.set_title(f"{names.get(actor, actor)} ({int(rows['n_sentences'].sum()):,} sentences)", fontsize=9)
    for ax in axes:
        for label in ax.get_xticklabels():
            label.set_rotation(30)
            label.set_ha("right")
    n_actors = per_period["actor_id"].nunique()
    which = f"the {len(keep)} most mentioned of {n_actors} actors; " if n_actors > len(keep) else ""
    fig.suptitle(f"Tone toward each actor per {period} (targeted score; band: 95% interval resampling documents)\n"
                 f"{which}shaded, hollow and outside the band: periods with fewer than {min_sentences} sentences",
                 fontsize=9)
    fig.tight_layout()
    return fig


def log_odds_words(pair: pd.DataFrame, source_a: str, source_b: str, n_labels: int = 15,
                   reason: str = "") -> plt.Figure:
    """Words of two outlets: z-score of the weighted log-odds (informative Dirichlet prior) against frequency.

    ``pair`` is :func:`analysis.compare.pair_log_odds`; the ``n_labels`` words of highest z on each side are
    named where |z| >= 1.96 (the dashed lines).
    """
    if pair.empty:
        return _nothing_to_show("Words of two outlets", reason or f"fewer than two words from {source_a} and "
                                f"{source_b} together (stop words left out): no word stands apart")
    total = (pair["count_a"] + pair["count_b"]).to_numpy(dtype=float)
    z = pair["z"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    strong = np.abs(z) >= 1.96
    ax.scatter(total[~strong], z[~strong], s=4, color="0.75", lw=0)
    colour = np.where(z > 0, "#C44E52", "#4C72B0")
    ax.scatter(total[strong], z[strong], s=8, color=colour[strong], lw=0)
    order = np.argsort(-z, kind="stable")
    gap = max(float(np.abs(z).max()), 2.5) / 22        # a label's height, in z
    decades = np.log10(max(total.max(), 10)) + 0.3
    per_char = 0.017 * decades                        # a character's width at fontsize 7, in decades of x
    for side in (order[:n_labels], order[::-1][:n_labels]):
        placed: list[tuple[float, float, float]] = []     # (x from, x to, y) of the labels drawn
        for i in side:
            if abs(z[i]) < 1.96:
                break
            word, x0 = str(pair["feature"].iloc[i]), np.log10(total[i]) + 0.1
            x1, y = x0 + per_char * len(word), z[i]
            # moved to the nearest height, above or below, where it overlaps no label drawn before
            for step in range(200):
                y = z[i] + (step + 1) // 2 * gap / 2 * (1 if step % 2 else -1)
                if not any(a < x1 and x0 < b and abs(y - yy) < gap for a, b, yy in placed):
                    break
            placed.append((x0, x1, y))
            ax.annotate(word, (total[i], z[i]), xytext=(10 ** x0, y), fontsize=7, color=colour[i], va="center",
                        arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.5} if abs(y - z[i]) > gap / 2 else None)
    ax.set_xscale("log")
    ax.set_xlim(right=max(total.max(), 10) * 5)       # room for the labels of the most frequent words
    for v in (1.96, -1.96):
        ax.axhline(v, color="k", lw=0.6, ls="--")
    ax.set_xlabel(f"the word's count in both outlets (log scale; {len(pair):,} words)")
    ax.set_ylabel(f"z: up {source_a}, down {source_b}")
    ax.set_title(f"Words of {source_a} (red) against {source_b} (blue): weighted log-odds z-scores\n"
                 f"the {n_labels} highest on each side named; grey: |z| < 1.96; stop words left out", fontsize=10)
    fig.tight_layout()
    return fig


def topic_figures(result, representation: str) -> dict[str, plt.Figure]:
    """The topics stage's figures by file name, from its :class:`analysis.topics.TopicsResult`.

    A corpus too small for topics gets one figure saying why, instead of empty plots.
    """
    if result.model is None:
        return {"topic_sizes": _nothing_to_show("Topics", result.skipped.replace("; ", ";\n"))}
    figures = {
        "topic_terms": topic_terms(result.topics, representation=representation),
        "topic_sizes": topic_sizes(result.topics, result.segment_topics),
        "topic_map": topic_map(result.model.reduced_, result.segment_topics, result.topics),
        "document_topics": document_topic_heatmap(result.document_topics, result.topics),
        "topic_hierarchy": topic_hierarchy(result.hierarchy, result.topics),
    }
    if len(result.over_time):
        figures["topics_over_time"] = topics_over_time(result.over_time, result.topics)
    return figures
