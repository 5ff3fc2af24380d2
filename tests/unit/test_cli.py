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
