"""The runner's stage scheduling: which stages run side by side, and what a failure stops."""

from __future__ import annotations

import threading
import time

import pytest

from analysis.config import UPSTREAM as _UPSTREAM
from analysis.errors import StageError
from analysis.params import Params
from analysis.runner.schedule import run_stages as _run_stages

ALL = ["corpus", "topics", "actors", "sentiment", "summary"]


class Recorder:
    """A fake stage executor: records start and end order; topics waits (briefly) for actors to start."""

    def __init__(self, fail: str | None = None):
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.actors_started = threading.Event()
        self.fail = fail
        self.topics_saw_actors: bool | None = None
        self.stopped = threading.Event()         # set by a fake abort

    def __call__(self, stage: str) -> float:
        with self.lock:
            self.events.append(f"start {stage}")
        if stage == "actors":
            self.actors_started.set()
        if stage == "topics":
            # side by side, actors starts while topics runs; one at a time it never does
            self.topics_saw_actors = self.actors_started.wait(1.0)
            if self.fail:                        # a long stage: still running when the other fails
                self.stopped.wait(2.0)
        time.sleep(0.01)
        with self.lock:
            self.events.append(f"end {stage}")
        if stage == self.fail:
            raise StageError(f"stage '{stage}' failed: injected")
        return 1.0

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
    rec = Recorder()
    _run_stages(ALL, rec, 1, lambda line: None)
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
    import _thread

    stopped, actors_running, calls = threading.Event(), threading.Event(), []

    def run_one(stage: str) -> float:
        if stage == "actors":
            actors_running.set()
        if stage == "topics":
            actors_running.wait(2)
            _thread.interrupt_main()            # Ctrl-C arrives while topics and actors run
        assert stopped.wait(5), "abort was not called"
        return 1.0

    def abort(stages: list[str], attempt: int) -> None:
        calls.append((tuple(stages), attempt))
        stopped.set()

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        _run_stages(ALL[1:], run_one, 2, lambda line: None, abort=abort)
    assert calls and calls[0] == (("topics", "actors"), 0)
    assert time.perf_counter() - t0 < 4


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

