"""Command-line options checked before anything runs: one line naming the option, exit 2."""

from __future__ import annotations

import pytest

from analysis.cli import main


@pytest.mark.parametrize("value", ["0", "-5"])
def test_limit_below_one_is_an_error_naming_the_option(value, capsys, tmp_path):
    assert main(["run", "--limit", value, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --limit {value}: expected the number of documents") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_no_loopback_fails_at_once_in_one_line(monkeypatch, capsys, tmp_path):
    import socket

    from analysis.runner import pipeline

    def refuse(*args, **kw):
        raise OSError(101, "Network is unreachable")

    started = []
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(pipeline, "execute_stage", lambda stage, *a, **kw: started.append(stage) or 0.0)
    assert main(["run", "--out", str(tmp_path / "run")]) == 2
    assert started == []                           # at once: before any stage's kernel
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the notebook kernels could not start: no TCP connection to 127.0.0.1" in err
    assert "Network is unreachable" in err and "loopback interface is up" in err
    assert list(tmp_path.iterdir()) == []          # nothing written


def test_verify_says_what_it_checked_or_names_each_problem(monkeypatch, capsys, tmp_path):
    from analysis import schema
    from analysis.runner.context import notebook_setup

    monkeypatch.setenv("ANALYSIS_OUTPUTS_DIR", str(tmp_path))
    _, run = notebook_setup("corpus", "", "")
    run.write_table(schema.example("documents", doc_id=["a"]), "documents")
    # the notebook stopped before its last cell (run.finish())
    assert main(["verify", str(run.dir)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "stage corpus: its notebook did not run to its last cell (it stopped at an error, was interrupted, or is "
        "still running); run notebooks/01_corpus.ipynb again, to its last cell", f"verify: 1 problem(s) in {run.dir}"]
    run.finish()
    assert main(["verify", str(run.dir)]) == 0
    assert capsys.readouterr().out == (
        f"verify: {run.dir} is what its manifest says: every stage's notebook finished, every file has its "
        "recorded hash, every stage was made from the stages now beside it, and the tables' keys link up\n")
