"""The runner's stage scheduling: which stages run side by side, and what a failure stops."""

from __future__ import annotations

import threading

import pytest

from analysis.config import UPSTREAM as _UPSTREAM
from analysis.errors import StageError
from analysis.params import Params
from analysis.runner.schedule import run_stages as _run_stages

ALL = ["corpus", "topics", "actors", "sentiment", "summary"]


# Waits below end on an event the scheduler's behaviour sets; this bound only turns a broken scheduler's
# hang into a failure, and is never what a passing run waits for.
HANG_S = 60


class Recorder:
    """A fake stage executor: records start and end order; topics waits for what decides the test.

    Side by side (``at_once`` 2), topics waits until actors has started, so both are running at once. One
    at a time, topics waits until the scheduler has started everything it starts beside topics (it calls
    ``prepare`` after starting a round of stages, and logs "running" for each before it starts it), then
    records whether actors was among them.
    """

    def __init__(self, fail: str | None = None, at_once: int = 2):
        self.events: list[str] = []
        self.lines: list[str] = []               # the scheduler's progress lines (``log``)
        self.lock = threading.Lock()
        self.actors_started = threading.Event()
        self.topics_round_started = threading.Event()    # set by ``prepare`` once topics has been started
        self.fail = fail
        self.at_once = at_once
        self.topics_saw_actors: bool | None = None
        self.stopped = threading.Event()         # set by a fake abort

    def __call__(self, stage: str) -> float:
        with self.lock:
            self.events.append(f"start {stage}")
        if stage == "actors":
            self.actors_started.set()
        if stage == "topics":
            if self.at_once == 1:
                assert self.topics_round_started.wait(HANG_S), "prepare was not called after topics started"
                with self.lock:
                    self.topics_saw_actors = any(line.startswith("[actors] running") for line in self.lines)
            else:
                self.topics_saw_actors = self.actors_started.wait(HANG_S)
            if self.fail:                        # a long stage: still running when the other fails
                self.stopped.wait(HANG_S)
        with self.lock:
            self.events.append(f"end {stage}")
        if stage == self.fail:
            raise StageError(f"stage '{stage}' failed: injected")
        return 1.0

    def log(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def prepare(self, stages: list[str]) -> None:
        """Called by the scheduler after each round of starts: once topics is not among the stages to come, it has started."""
        if "topics" not in stages:
            self.topics_round_started.set()

    def pos(self, event: str) -> int:
        return self.events.index(event)


def test_topics_and_actors_run_side_by_side_and_sentiment_waits_for_both():
    rec, lines = Recorder(), []
    seconds = _run_stages(ALL, rec, 2, lines.append, summary=lambda s: f"summary of {s}")
    assert list(seconds) == ALL
    assert rec.topics_saw_actors is True
    assert rec.pos("start topics") > rec.pos("end corpus") and rec.pos("start actors") > rec.pos("end corpus")
    assert rec.pos("start sentiment") > max(rec.pos("end topics"), rec.pos("end actors"))
    assert rec.pos("start summary") > rec.pos("end sentiment")
    assert "[actors] summary of actors" in lines and lines[0] == "[corpus] running 01_corpus.ipynb ..."


def test_one_at_a_time_keeps_stage_order():
    rec = Recorder(at_once=1)
    _run_stages(ALL, rec, 1, rec.log, prepare=rec.prepare)
    assert rec.topics_saw_actors is False
    assert rec.events == [f"{kind} {s}" for s in ALL for kind in ("start", "end")]


def test_stages_kept_from_the_previous_run_do_not_block():
    rec = Recorder()
    # corpus and topics unchanged: actors and sentiment run, sentiment after actors
    assert list(_run_stages(["sentiment", "actors"], rec, 2, lambda line: None)) == ["actors", "sentiment"]
    assert rec.events == ["start actors", "end actors", "start sentiment", "end sentiment"]


def test_a_failure_stops_the_stage_beside_it_and_starts_nothing_after():
    rec, aborted, lines = Recorder(fail="actors"), [], []
    with pytest.raises(StageError, match="stage 'actors' failed"):
        _run_stages(ALL, rec, 2, lines.append, abort=lambda stages, attempt: (aborted.append(stages), rec.stopped.set()))
    assert aborted == [["topics"]] and "[actors] failed; stopping topics" in lines
    assert not any(e.endswith(("sentiment", "summary")) for e in rec.events)


def test_a_local_cluster_runs_stages_one_at_a_time():
    assert Params().compute.stages_in_parallel() == 2
    assert Params.model_validate({"compute": {"stages_at_once": 1}}).compute.stages_in_parallel() == 1
    assert Params.model_validate({"compute": {"scheduler": "local"}}).compute.stages_in_parallel() == 1


@pytest.fixture
def sigint_handled():
    """Python's own Ctrl-C handler for the test's duration.

    A process started in the background by a shell without job control (``cmd &`` in a script, as CI
    runners and ``nohup`` do) inherits SIGINT ignored, and Python then installs no handler, so
    ``_thread.interrupt_main`` would do nothing. A researcher's Ctrl-C reaches a foreground process,
    which has the handler.
    """
    import signal

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_an_interrupt_stops_the_running_kernels_and_is_raised(sigint_handled):
    """Ctrl-C while topics and actors run: both are stopped through ``abort`` (they end only then), and it is raised."""
    import _thread

    stopped, actors_running, calls, ended_by_abort = threading.Event(), threading.Event(), [], []

    def run_one(stage: str) -> float:
        if stage == "actors":
            actors_running.set()
        if stage == "topics":
            assert actors_running.wait(HANG_S)
            _thread.interrupt_main()            # Ctrl-C arrives while topics and actors run
        ended_by_abort.append(stopped.wait(HANG_S))   # a kernel runs until it is stopped
        return 1.0

    def abort(stages: list[str], attempt: int) -> None:
        calls.append((tuple(stages), attempt))
        stopped.set()

    with pytest.raises(KeyboardInterrupt):
        _run_stages(ALL[1:], run_one, 2, lambda line: None, abort=abort)
    assert calls and calls[0] == (("topics", "actors"), 0)
    assert ended_by_abort == [True, True]        # both stages ended because abort stopped them


def test_the_next_stages_are_prepared_when_their_upstream_stages_start():
    """``prepare`` hears of a stage once everything it waits for has started, before it starts itself.

    (The runner starts those stages' kernels then.)
    """
    rec, prepared = Recorder(), []

    def prepare(stages):
        with rec.lock:
            prepared.append(list(stages))
            rec.events.extend(f"prepare {s}" for s in stages)

    _run_stages(ALL, rec, 2, lambda m: None, prepare=prepare)
    assert prepared[0] == ["topics", "actors"]              # as soon as corpus starts
    for stage in ALL[1:]:
        first = rec.pos(f"prepare {stage}")
        assert first < rec.pos(f"start {stage}")
        assert first > max(rec.pos(f"start {u}") for u in _UPSTREAM[stage])
    # a stage kept from an earlier run is not waited for, and nothing is prepared twice over its start
    rec2, prepared2 = Recorder(), []
    _run_stages(["sentiment", "summary"], rec2, 2, lambda m: None, prepare=prepared2.append)
    assert prepared2[0] == ["summary"] and "start summary" in rec2.events



def test_a_stage_note_is_logged_as_the_stage_starts():
    rec, lines = Recorder(at_once=1), []
    _run_stages(ALL, rec, 1, lines.append, prepare=rec.prepare,
                note=lambda s: "heads-up" if s == "sentiment" else "")
    at = lines.index("[sentiment] running 04_sentiment.ipynb ...")
    assert lines[at + 1] == "[sentiment] heads-up"
    assert sum(line.endswith("heads-up") for line in lines) == 1


@pytest.mark.parametrize(("mentions", "setup", "used", "method", "expected"), [
    (6_000, "MiniLM on cpu in float32", "float32", "model", True),
    (4_000, "MiniLM on cpu in float32", "float32", "model", False),      # few mentions: quick anyway
    (6_000, "MiniLM on cpu in bfloat16", "bfloat16", "model", False),    # the faster precision is used
    (6_000, "MiniLM on cuda in float16", "float16", "model", False),
    (6_000, "MiniLM on cpu in float32", "float32", "clause", False),     # no targeted model
])
def test_the_sentiment_stage_warns_of_a_long_float32_targeted_pass(tmp_path, mentions, setup, used, method,
                                                                   expected):
    import json

    import pandas as pd

    from analysis.runner.pipeline import _stage_note

    (tmp_path / "tables").mkdir()
    (tmp_path / "logs").mkdir()
    pd.DataFrame({"doc_id": ["d"] * mentions}).to_parquet(tmp_path / "tables" / "actor_mentions.parquet")
    (tmp_path / "logs" / "stage-corpus.json").write_text(json.dumps(
        {"models": {"minilm": {"setup": setup, "precision": {"requested": "auto", "used": used}}}}))
    params = Params.model_validate({"sentiment": {"targeted_method": method}})
    note = _stage_note(tmp_path, params, "sentiment")
    assert bool(note) is expected
    if expected:
        assert f"{mentions:,} mentions in float32" in note and "targeted_method=clause" in note
    assert _stage_note(tmp_path, params, "topics") == ""
