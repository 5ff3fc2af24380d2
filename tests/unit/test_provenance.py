"""Fingerprints computed from imports, reuse decided by recorded hashes, verify's checks (no models)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import config, fingerprint, schema
from analysis.errors import AnalysisError, StageError
from analysis.params import load_params
from analysis.runner import provenance
from analysis.runner.context import RunContext, _check_upstream, notebook_setup
from analysis.runner.verify import verify_run


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A package ``analysis`` in tmp: a imports b inside a function, b imports c relatively; d stands alone.

    c declares that it loads words.yaml; d only names other.yaml (as a default path in the parameters does).
    """
    pkg = tmp_path / "analysis"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from analysis import b\n    return b\n")
    (pkg / "b.py").write_text("from .c import g\n")
    (pkg / "c.py").write_text("DATA_FILES = ('words.yaml',)\ndef g():\n    return 1\n")
    (pkg / "d.py").write_text("import os\nDEFAULT = 'analysis/data/other.yaml'\n")
    (pkg / "data" / "words.yaml").write_text("a: 1\n")
    (pkg / "data" / "other.yaml").write_text("b: 2\n")
    monkeypatch.setattr(config, "PACKAGE_DIR", pkg)
    monkeypatch.setattr(config, "PACKAGE_DATA_DIR", pkg / "data")
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    return pkg


def test_code_files_follow_imports_transitively(fake_package):
    files = fingerprint.code_files(["analysis.a"])
    assert set(files) == {"analysis/__init__.py", "analysis/a.py", "analysis/b.py", "analysis/c.py",
                          "analysis/data/words.yaml"}      # c declares words.yaml; d is not imported
    # d names other.yaml without declaring it: a name is not a load
    assert set(fingerprint.code_files(["analysis.d"])) == {"analysis/__init__.py", "analysis/d.py"}


def test_a_module_declaring_a_data_file_adds_it_to_the_modules_that_reach_it(fake_package):
    assert fingerprint.data_files("analysis.c") == ("words.yaml",) and fingerprint.data_files("analysis.d") == ()
    (fake_package / "d.py").write_text("import os\nDATA_FILES: tuple[str, ...] = ('other.yaml', 'absent.yaml')\n")
    # a declared file that does not exist is left out (the module that loads it says so when it runs)
    assert set(fingerprint.code_files(["analysis.d"])) == {"analysis/__init__.py", "analysis/d.py",
                                                           "analysis/data/other.yaml"}
    assert "analysis/data/other.yaml" not in fingerprint.code_files(["analysis.a"])


def test_changing_a_data_file_changes_only_the_code_of_the_modules_that_load_it(fake_package):
    before = {m: fingerprint.code_files([m]) for m in ("analysis.a", "analysis.d")}
    keys = {m: fingerprint.code_hash([m]) for m in before}
    (fake_package / "data" / "words.yaml").write_text("a: 2\n")
    assert fingerprint.code_files(["analysis.a"]) != before["analysis.a"]
    assert fingerprint.code_hash(["analysis.a"]) != keys["analysis.a"]
    assert fingerprint.code_files(["analysis.d"]) == before["analysis.d"]
    assert fingerprint.code_hash(["analysis.d"]) == keys["analysis.d"]


def test_a_data_file_declaration_must_be_a_literal_tuple_of_names(fake_package):
    (fake_package / "d.py").write_text("import os\nNAME = 'other.yaml'\nDATA_FILES = (NAME,)\n")
    with pytest.raises(AnalysisError, match=r"d\.py:3: DATA_FILES must be a literal tuple of file names") as err:
        fingerprint.code_files(["analysis.d"])
    assert "\n" not in str(err.value)            # the CLI prints it in one line


def _stage_code(p) -> dict[str, dict[str, str]]:
    return {s: provenance.stage_inputs(p, s, "corpus-sha", {})["code"] for s in config.STAGES}


def test_a_stage_counts_the_package_data_its_modules_load_and_no_other():
    p = load_params()
    code = _stage_code(p)
    model, actors = "analysis/data/targeted_model.safetensors", "analysis/data/actors.yaml"
    assert model in code["sentiment"] and model in code["summary"]          # summary imports analysis.sentiment
    assert model not in code["corpus"] and model not in code["topics"] and model not in code["actors"]
    assert actors in code["actors"] and not any(actors in code[s] for s in ("corpus", "topics", "sentiment"))
    # params.py names the default lexicon adjustments: the stage that reads them has them as an input file
    lexicon = "analysis/data/lexicon_adjustments.yaml"
    assert not any(lexicon in c for c in code.values())
    assert lexicon in provenance.stage_inputs(p, "sentiment", "x", {})["files"]
    assert config.TARGETED_MODEL_FILE.name in fingerprint.data_files("analysis.targeted")


@pytest.mark.parametrize("where", ["analysis/runner/provenance.py", "analysis/fingerprint.py",
                                   "docs/reproducibility.md"])
def test_what_a_stage_code_covers_is_described_as_the_fingerprint_computes_it(where):
    """The package data counts through DATA_FILES only (the test above): the descriptions say so, not "named"."""
    import re

    text = " ".join((config.PROJECT_ROOT / where).read_text(encoding="utf-8").split())
    assert "DATA_FILES" in text and re.search(r"a file (that )?a module (merely|only) names", text, re.I), where
    assert not re.search(r"data files? (they|it|the modules?) names?\b", text), where


def test_every_file_of_the_package_data_is_declared_by_a_module_that_loads_it():
    declared = {name for f in config.PACKAGE_DIR.rglob("*.py")
                for name in fingerprint.data_files(".".join(f.relative_to(config.PROJECT_ROOT).with_suffix("").parts)
                                                   .removesuffix(".__init__"))}
    present = {str(f.relative_to(config.PACKAGE_DATA_DIR)) for f in config.PACKAGE_DATA_DIR.rglob("*") if f.is_file()}
    assert declared <= present, "declared but missing: " + ", ".join(sorted(declared - present))
    # the model card is a readable copy of the metadata inside the model file: nothing loads it
    assert present - declared == {"targeted_model.json"}


# they name the package data only as default paths, which the stages that read them count as input files
_NAME_DEFAULT_PATHS = ("analysis/config.py", "analysis/params.py")


def _undeclared_data_names() -> dict[str, list[str]]:
    """Module -> the files of analysis/data its code names but its own DATA_FILES does not list.

    Named: in a string of the code (docstrings are prose and do not count), or through a constant of
    ``analysis.config`` that points into analysis/data (``config.TARGETED_MODEL_FILE``).
    """
    import ast
    import re
    from pathlib import PurePath

    data = sorted(str(f.relative_to(config.PACKAGE_DATA_DIR)) for f in config.PACKAGE_DATA_DIR.rglob("*") if f.is_file())
    constants = {k: str(v.relative_to(config.PACKAGE_DATA_DIR)) for k, v in vars(config).items()
                 if k.isupper() and isinstance(v, PurePath) and v.is_relative_to(config.PACKAGE_DATA_DIR)
                 and v != config.PACKAGE_DATA_DIR}
    found = {}
    for f in sorted(config.PACKAGE_DIR.rglob("*.py")):
        rel = str(f.relative_to(config.PROJECT_ROOT))
        if rel in _NAME_DEFAULT_PATHS or "__pycache__" in f.parts:
            continue
        tree = ast.parse(f.read_bytes(), filename=rel)
        prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        strings = [n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in prose]
        named = {name for name in data for text in strings
                 if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)", text)}
        named |= {constants[n.attr] for n in ast.walk(tree)
                  if isinstance(n, ast.Attribute) and n.attr in constants
                  and isinstance(n.value, ast.Name) and n.value.id == "config"}
        named |= {constants[a.name] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                  and n.module == "analysis.config" for a in n.names if a.name in constants}
        module = ".".join(PurePath(rel).with_suffix("").parts).removesuffix(".__init__")
        if missing := sorted(named - set(fingerprint.data_files(module))):
            found[rel] = missing
    return found


def test_every_module_that_names_a_file_of_the_package_data_declares_it():
    """A module that opens a file of analysis/data it does not declare drops it from its stages' fingerprints."""
    assert _undeclared_data_names() == {}, "list these in the module's own DATA_FILES (or stop naming them)"


def test_the_package_data_lint_finds_a_name_without_a_declaration(fake_package):
    (fake_package / "e.py").write_text('"""Reads analysis/data/words.yaml (a docstring is prose)."""\n'
                                       "PATH = 'data/words.yaml.bak'\n")
    assert _undeclared_data_names() == {"analysis/d.py": ["other.yaml"]}    # d names other.yaml, declares nothing
    (fake_package / "d.py").write_text("DATA_FILES = ('other.yaml',)\nDEFAULT = 'analysis/data/other.yaml'\n")
    (fake_package / "e.py").write_text("from pathlib import Path\nPATH = Path(__file__).parent / 'data' / 'words.yaml'\n")
    assert _undeclared_data_names() == {"analysis/e.py": ["words.yaml"]}


def test_retraining_the_shipped_model_reruns_only_the_stages_that_load_it(tmp_path, monkeypatch):
    """Changing a file of analysis/data changes the fingerprints of the stages that load it, and no other."""
    import shutil

    p = load_params()
    root = tmp_path.resolve() / "project"
    shutil.copytree(config.PACKAGE_DIR, root / "analysis", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(config, "PROJECT_ROOT", root)
    monkeypatch.setattr(config, "PACKAGE_DIR", root / "analysis")
    monkeypatch.setattr(config, "PACKAGE_DATA_DIR", root / "analysis" / "data")

    def fingerprints():
        return {s: fingerprint.digest(provenance.stage_inputs(p, s, "corpus-sha", {})) for s in config.STAGES}

    def changed_by(name):
        before = fingerprints()
        with open(root / "analysis" / "data" / name, "ab") as f:
            f.write(b"\n")
        after = fingerprints()
        return {s for s in before if before[s] != after[s]}

    assert changed_by("targeted_model.safetensors") == {"sentiment", "summary"}
    assert changed_by("actors.yaml") == {"actors"}
    assert changed_by("lexicon_adjustments.yaml") == {"sentiment"}      # an input file of the stage
    assert changed_by("targeted_model.json") == set()


def test_an_indirect_module_changes_the_stage_code_but_a_comment_not_the_cache_key(fake_package):
    before_files, before_key = fingerprint.code_files(["analysis.a"]), fingerprint.code_hash(["analysis.a"])
    c = fake_package / "c.py"
    c.write_text(c.read_text() + "# a comment\n")
    assert fingerprint.code_files(["analysis.a"])["analysis/c.py"] != before_files["analysis/c.py"]
    assert fingerprint.code_hash(["analysis.a"]) == before_key     # cached numbers stay valid
    c.write_text(c.read_text().replace("return 1", "return 2"))
    assert fingerprint.code_hash(["analysis.a"]) != before_key


def test_notebook_imports_read_the_code_cells(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": "import analysis.report"},
                    {"cell_type": "code", "source": ["%matplotlib inline\n", "from analysis import plots, topics\n"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert fingerprint.notebook_imports(path) == ["analysis", "analysis.plots", "analysis.topics"]


def test_every_stage_depends_on_the_modules_its_notebook_reaches():
    p = load_params()
    for stage in config.STAGES:
        code = provenance.stage_inputs(p, stage, "corpus-sha", {})["code"]
        assert f"notebooks/{config.STAGES[stage]}" in code
        assert f"analysis/{'corpus' if stage == 'corpus' else 'runner/context'}.py" in code
    # accel is imported by no notebook, only through embeddings and targeted
    assert "analysis/accel.py" in provenance.stage_inputs(p, "sentiment", "x", {})["code"]


def _record(folder: Path, rel: str, text: str) -> dict:
    f = folder / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)
    return {rel: fingerprint.file_sha256(f)}


def test_stale_reason_names_what_changed(tmp_path):
    p = load_params()
    inputs = provenance.stage_inputs(p, "topics", "c", {"corpus": "f"})
    rec = {"fingerprint": fingerprint.digest(inputs), "inputs": inputs,
           "outputs": _record(tmp_path, "tables/topics.csv", "topic\n0\n")}
    assert provenance.stale_reason(tmp_path, rec, inputs) is None
    other = provenance.stage_inputs(p.with_overrides({"topics": {"nr_topics": 3}}), "topics", "c", {"corpus": "f"})
    assert provenance.stale_reason(tmp_path, rec, other) == "parameters changed (topics.nr_topics: None -> 3)"
    hand_run = {**rec, "origin": "notebook", "finished": "2025-01-01T00:00:00+00:00"}
    assert provenance.stale_reason(tmp_path, hand_run, other).startswith(
        "last written from a notebook; parameters changed")
    code = json.loads(json.dumps(inputs))
    code["code"]["analysis/accel.py"] = "0" * 64
    assert provenance.stale_reason(tmp_path, rec, code) == "code changed: analysis/accel.py"
    (tmp_path / "tables/topics.csv").write_text("topic\n0\n1\n")
    assert provenance.stale_reason(tmp_path, rec, inputs) == "tables/topics.csv changed since it was written"
    assert provenance.stale_reason(tmp_path, {k: v for k, v in rec.items() if k != "outputs"}, inputs).startswith(
        "its record has no hashes")
    assert provenance.stale_reason(tmp_path, None, inputs) == "not run yet"


def _folder(tmp_path: Path, segments_doc: str = "d1") -> Path:
    """A two-stage run folder recorded as the runner records it."""
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    ctx = RunContext(run, load_params(), "corpus")
    ctx.write_table(schema.example("documents", doc_id=["d1", "d2"]), "documents")
    ctx.write_table(schema.example("segments", segment_id=["s1", "s2"], doc_id=[segments_doc] * 2), "segments")
    ctx.stage = "topics"
    ctx.write_table(schema.example("topics", topic=[0, 1]), "topics")
    ctx.write_table(schema.example("segment_topics", segment_id=["s1", "s2"], doc_id=["d1", "d1"], topic=[1, -1]),
                    "segment_topics")
    logs = {s: json.loads((run / "logs" / f"stage-{s}.json").read_text()) for s in ("corpus", "topics")}
    stages = {"corpus": {"fingerprint": "F", "inputs": {"upstream": {}}, "outputs": logs["corpus"]["outputs"]},
              "topics": {"fingerprint": "T", "inputs": {"upstream": {"corpus": "F"}},
                         "outputs": logs["topics"]["outputs"]}}
    provenance.write_manifest(run, {"stages": stages, "tables": provenance.recorded_tables(stages)})
    return run


def test_verify_passes_a_consistent_folder(tmp_path):
    assert verify_run(_folder(tmp_path)) == []


def test_verify_names_a_changed_table_an_unknown_one_and_a_stale_stage(tmp_path):
    run = _folder(tmp_path)
    pd.DataFrame({"topic": [0]}).to_parquet(run / "tables/topics.parquet")
    (run / "tables/extra.csv").write_text("x\n")
    m = json.loads((run / "manifest.json").read_text())
    m["stages"]["topics"]["inputs"]["upstream"]["corpus"] = "an older corpus run"
    provenance.write_manifest(run, m)
    problems = verify_run(run)
    assert "tables/topics.parquet: sha256 differs from the hash recorded when stage topics wrote it" in problems
    assert "tables/extra.csv: not in the manifest (no recorded stage wrote it)" in problems
    assert any(p.startswith("stage topics: made from another run of stage corpus") for p in problems)
    assert any(p.startswith("tables/segment_topics.parquet: column topic names 1 topic value(s)") for p in problems)


def test_verify_checks_the_links_between_tables(tmp_path):
    problems = verify_run(_folder(tmp_path, segments_doc="d9"))
    assert problems == ["tables/segments.parquet: column doc_id names 1 doc_id value(s) that "
                        "tables/documents.parquet lacks ('d9'); the two were written by different runs"]


def test_verify_refuses_a_manifest_without_output_hashes(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": {"corpus": {"fingerprint": "x"}}}))
    with pytest.raises(StageError, match="older version"):
        verify_run(tmp_path)


def test_a_notebook_run_by_hand_out_of_order_names_the_stage_to_run_first(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYSIS_OUTPUTS_DIR", str(tmp_path))
    with pytest.raises(StageError) as err:
        notebook_setup("topics", "", "")
    msg = str(err.value)
    assert "run notebooks/01_corpus.ipynb first" in msg and str(tmp_path / "lab" / "seeds") in msg
    assert "\n" not in msg
    assert err.value._render_traceback_() == [f"StageError: {msg}"]   # what Jupyter shows: one line
    assert not (tmp_path / "seeds").exists()


def test_a_notebook_run_by_hand_records_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYSIS_OUTPUTS_DIR", str(tmp_path))
    p, run = notebook_setup("corpus", "", "", corpus=dict(path=None))
    assert run.dir == tmp_path / "lab" / p.run_name and run.by_hand
    run.write_table(schema.example("documents", doc_id=["a"]), "documents")
    m = json.loads((run.dir / "manifest.json").read_text())
    rec = m["stages"]["corpus"]
    assert rec["origin"] == "notebook" and set(rec["outputs"]) == {"tables/documents.parquet", "tables/documents.csv"}
    assert rec["fingerprint"] == fingerprint.digest(rec["inputs"])
    assert rec["started"] and rec["finished"] is None          # until the notebook's last cell
    run.finish()
    assert json.loads((run.dir / "manifest.json").read_text())["stages"]["corpus"]["finished"]
    assert verify_run(run.dir) == []
    # run again: what it wrote before is forgotten, not left behind as if current
    _, run = notebook_setup("corpus", "", "")
    assert not (run.dir / "tables/documents.parquet").exists()
    assert json.loads((run.dir / "manifest.json").read_text())["stages"]["corpus"]["outputs"] == {}


def test_errors_render_as_one_line_in_jupyter():
    assert AnalysisError("x went wrong")._render_traceback_() == ["AnalysisError: x went wrong"]


def test_verify_accepts_documents_as_topic_units(tmp_path):
    """With topics.unit: document, segment_topics names doc_ids; any other table still may not."""
    run = _folder(tmp_path)
    ctx = RunContext(run, load_params(), "topics")
    ctx.write_table(schema.example("segment_topics", segment_id=["d2"], doc_id=["d2"], topic=[0]), "segment_topics")
    m = json.loads((run / "manifest.json").read_text())
    m["stages"]["topics"]["outputs"].update(json.loads((run / "logs" / "stage-topics.json").read_text())["outputs"])
    provenance.write_manifest(run, m)
    assert verify_run(run) == []


def test_stage_code_is_what_its_notebook_runs_not_the_runner_machinery():
    code = provenance.stage_inputs(load_params(), "corpus", "x", {})["code"]
    assert "analysis/runner/context.py" in code and "analysis/corpus.py" in code
    for other in ("analysis/runner/pipeline.py", "analysis/runner/kernels.py", "analysis/runner/verify.py",
                  "analysis/report.py", "analysis/topics.py"):
        assert other not in code, other


def test_verify_reads_an_id_starting_with_a_bracket_as_an_id(tmp_path):
    run = _folder(tmp_path)
    ctx = RunContext(run, load_params(), "corpus")
    ctx.write_table(schema.example("documents", doc_id=["[2022] report", "d1"]), "documents")
    ctx.write_table(schema.example("segments", segment_id=["s1", "s2"], doc_id=["[2022] report", "d1"]), "segments")
    m = json.loads((run / "manifest.json").read_text())
    m["stages"]["corpus"]["outputs"] = json.loads((run / "logs" / "stage-corpus.json").read_text())["outputs"]
    provenance.write_manifest(run, m)
    assert verify_run(run) == []


def test_a_notebook_that_stops_halfway_in_lab_leaves_a_stage_nothing_accepts(tmp_path, monkeypatch):
    """A cell fails after a table was written: the record is there, but says the stage did not finish."""
    monkeypatch.setenv("ANALYSIS_OUTPUTS_DIR", str(tmp_path))
    _, run = notebook_setup("corpus", "", "")
    run.write_table(schema.example("documents", doc_id=["a"]), "documents")
    # ... a later cell raises: run.finish() is never reached
    assert verify_run(run.dir) == ["stage corpus: its notebook did not run to its last cell (it stopped at an error, "
                                   "was interrupted, or is still running); run notebooks/01_corpus.ipynb again, "
                                   "to its last cell"]
    with pytest.raises(StageError) as err:
        notebook_setup("topics", "", "")
    msg = str(err.value)
    assert msg == (f"stage 'topics' needs stage 'corpus', but notebooks/01_corpus.ipynb did not run to its last "
                   f"cell (it stopped at an error, was interrupted, or is still running): run it again, to its last "
                   f"cell (it writes into {run.dir})")
    run.finish()
    assert verify_run(run.dir) == []
    notebook_setup("topics", "", "")                       # accepted now
    # a cell re-run in Lab after the last one rewrites a table: unfinished again until the last cell runs
    run.write_table(schema.example("documents", doc_id=["b"]), "documents")
    assert json.loads((run.dir / "manifest.json").read_text())["stages"]["corpus"]["finished"] is None
    assert len(verify_run(run.dir)) == 2        # corpus unfinished; topics made from its earlier record


def test_what_a_record_without_the_finished_mark_means(tmp_path):
    """Manifests older than the mark: the runner's records finished (it writes them after success), hand runs' may not."""
    p = load_params()
    inputs = provenance.stage_inputs(p, "corpus", "c", {})
    rec = {"fingerprint": fingerprint.digest(inputs), "inputs": inputs,
           "outputs": _record(tmp_path, "tables/documents.csv", "doc_id\na\n")}
    unfinished = ("the notebook that last wrote it did not run to its last cell (it stopped at an error, was "
                  "interrupted, or is still running)")
    unrecorded = ("there is no record that the notebook that last wrote it ran to its last cell (it was run by hand "
                  "with a version that did not record it)")
    assert provenance.is_finished(rec) and provenance.is_finished({**rec, "origin": "run"})
    assert provenance.stale_reason(tmp_path, {**rec, "origin": "run"}, inputs) is None
    assert not provenance.is_finished({**rec, "origin": "notebook"})
    assert provenance.stale_reason(tmp_path, {**rec, "origin": "notebook"}, inputs) == unrecorded
    assert provenance.stale_reason(tmp_path, {**rec, "origin": "notebook", "finished": "2025-01-01T00:00:00+00:00"},
                                   inputs) is None
    assert provenance.stale_reason(tmp_path, {**rec, "origin": "run", "finished": None}, inputs) == unfinished


def test_verify_keeps_passing_a_runner_folder_older_than_the_mark_but_not_a_hand_run(tmp_path):
    run = _folder(tmp_path)                  # records without "finished", as the runner wrote them before
    assert verify_run(run) == []
    m = json.loads((run / "manifest.json").read_text())
    m["stages"]["topics"]["origin"] = "notebook"
    provenance.write_manifest(run, m)
    assert verify_run(run) == ["stage topics: there is no record that its notebook ran to its last cell (it was run "
                               "by hand with a version that did not record it); run notebooks/02_topics.ipynb "
                               "again, to its last cell"]
    # the next notebook run by hand says the same of the stage it needs
    with pytest.raises(StageError, match=r"needs stage 'topics', but there is no record that "
                                         r"notebooks/02_topics\.ipynb ran to its last cell \(it was run by hand"):
        _check_upstream(run, "summary", m)


def test_finish_refuses_to_stamp_a_stage_after_a_cell_raised(tmp_path, monkeypatch):
    """IPython keeps the last error it showed in sys.last_value: one shown after setup refuses the stamp."""
    import sys

    monkeypatch.setenv("ANALYSIS_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "last_value", KeyError("an error shown before the notebook's setup"), raising=False)
    _, run = notebook_setup("corpus", "", "")
    run.write_table(schema.example("documents", doc_id=["a"]), "documents")
    run.finish()                                   # an error from before setup does not count
    assert verify_run(run.dir) == []

    _, run = notebook_setup("corpus", "", "")
    run.write_table(schema.example("documents", doc_id=["a"]), "documents")
    monkeypatch.setattr(sys, "last_value", ValueError("a cell failed"))      # ... then only the last cell runs
    with pytest.raises(StageError) as err:
        run.finish()
    assert str(err.value) == ("stage 'corpus' is not marked finished: a cell raised ValueError after the notebook's "
                              "setup; run notebooks/01_corpus.ipynb again from its first cell to its last")
    assert json.loads((run.dir / "manifest.json").read_text())["stages"]["corpus"]["finished"] is None
    assert "finished" not in json.loads((run.dir / "logs" / "stage-corpus.json").read_text())
    assert verify_run(run.dir)[0].startswith("stage corpus: its notebook did not run to its last cell")


def test_every_notebook_ends_by_finishing_its_stage():
    import jupytext

    for nb in config.STAGES.values():
        code = [c.source for c in jupytext.read(config.NOTEBOOKS_DIR / nb).cells if c.cell_type == "code"]
        assert code[-1].splitlines()[-1] == "run.finish()", f"{nb}: its last code cell must call run.finish()"
        assert sum("run.finish()" in src for src in code) == 1, nb


class _NoKernels:
    """Stands in for the runner's notebook kernels: the fake stages below run in this process."""

    def __init__(self, *args, **kw):
        pass

    def prestart(self, *args, **kw):
        pass

    stop = close = prestart


def test_the_runner_stamps_its_records_finished_and_never_reuses_an_unfinished_one(tmp_path, monkeypatch):
    from analysis.runner import pipeline

    def fake_stage(stage, staging, kernels):          # what notebooks/01_corpus.ipynb does, in brief
        _, run = notebook_setup(stage, str(staging / "params.json"), str(staging))
        assert not run.by_hand
        run.write_table(schema.example("documents", doc_id=["a"]), "documents")
        run.finish()
        return 0.0

    monkeypatch.setattr(pipeline, "Kernels", _NoKernels)
    monkeypatch.setattr(pipeline, "execute_stage", fake_stage)
    monkeypatch.setattr(provenance, "git_commit", lambda: "test")
    p = load_params()
    out, lines = tmp_path / "run", []
    pipeline.run_pipeline(p, out, until="corpus", log=lines.append)
    rec = provenance.read_manifest(out)["stages"]["corpus"]
    assert rec["origin"] == "run" and rec["finished"]
    assert "finished" not in provenance.read_manifest(out)["stage_records"]["corpus"]
    assert verify_run(out) == []
    lines.clear()
    pipeline.run_pipeline(p, out, until="corpus", log=lines.append)
    assert lines == ["[corpus] unchanged, kept from the previous run"]

    # a notebook pointed at the folder by hand, stopped halfway: same fingerprint, but not reused
    m = provenance.read_manifest(out)
    m["stages"]["corpus"].update(origin="notebook", finished=None)
    provenance.write_manifest(out, m)
    inputs, reasons = pipeline._plan(p, list(config.STAGES), m["stages"]["corpus"]["inputs"]["corpus"], m, out,
                                     False, None)
    assert inputs["corpus"] == m["stages"]["corpus"]["inputs"]
    assert reasons["corpus"].startswith("the notebook that last wrote it did not run to its last cell")
    assert reasons["topics"] == "upstream stage corpus runs again"
    lines.clear()
    pipeline.run_pipeline(p, out, until="corpus", log=lines.append)
    assert lines[0].startswith("[corpus] runs: the notebook that last wrote it did not run to its last cell")
    assert provenance.read_manifest(out)["stages"]["corpus"]["finished"]
