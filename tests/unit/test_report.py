"""The HTML report escapes corpus text and embeds its figures."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import schema  # noqa: E402
from analysis.report import write_report  # noqa: E402
from analysis.tables import write_table  # noqa: E402


def test_script_in_corpus_renders_as_text(tmp_path):
    write_table(schema.example("documents", doc_id=["x"], title=["<script>alert(1)</script>"], text=["t"]),
                tmp_path / "tables", "documents")
    write_table(pd.DataFrame({"finding": ["NATO & <b>EU</b>"]}), tmp_path / "tables", "findings")
    (tmp_path / "figures").mkdir()
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(tmp_path / "figures" / "document_lengths.png")
    (tmp_path / "manifest.json").write_text(json.dumps({"run_name": "<i>r</i>", "parameters": {"a": "<x>"}}))
    page = write_report(tmp_path).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;EU&lt;/b&gt;" in page and "<i>r</i>" not in page
    assert 'src="data:image/png;base64,' in page and 'href="tables/documents.csv"' in page


def test_preview_cuts_digests_but_keeps_text(tmp_path):
    digest = "3e41b0749f4f999bebd82d955242fa10ed0139f1471fb667efa3274" + "0" * 9
    write_table(schema.example("documents", doc_id=["x"], title=["UK leads NATO push"], text_sha256=[digest], text=["t"]),
                tmp_path / "tables", "documents")
    page = write_report(tmp_path).read_text()
    assert "<td>3e41b0749f4f…</td>" in page and digest not in page
    assert "<td>UK leads NATO push</td>" in page


def test_every_figure_of_the_report_has_a_caption():
    from analysis.report import _SECTIONS, CAPTIONS

    figures = {f for _, _, _, figs in _SECTIONS for f in figs}
    assert figures == set(CAPTIONS)
