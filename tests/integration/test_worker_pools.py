"""The single-threaded worker pool of the CPU models: task order, one thread, a dead worker, forking after tokenising.

These fork worker processes (and one loads MiniLM's tokenizer in a child interpreter), so they are not unit tests.
"""

from __future__ import annotations

import pytest

from analysis import accel


def _square_threads_pid(i: int):
    import os

    import torch

    return i * i, torch.get_num_threads(), os.getpid()


def test_single_threaded_map_keeps_task_order_and_one_thread_here_and_in_workers():
    import os

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        here = accel.map_single_threaded(_square_threads_pid, 7, 1)
        assert torch.get_num_threads() == 2                       # restored after the in-process run
        seen = []
        pooled = accel.map_single_threaded(_square_threads_pid, 7, 2, done=seen.append)
    finally:
        torch.set_num_threads(before)
    assert [r[:2] for r in here] == [r[:2] for r in pooled] == [(i * i, 1) for i in range(7)]
    assert {r[2] for r in here} == {os.getpid()}
    assert os.getpid() not in {r[2] for r in pooled}              # the pool really ran them elsewhere
    assert sorted(seen) == list(range(7))


def _dies_at_two(i: int) -> int:
    import os

    if i == 2:
        os._exit(3)                     # as a worker killed for lack of memory would
    return i


def test_a_worker_that_dies_is_a_clear_error_not_a_hang():
    from analysis.errors import ModelError

    with pytest.raises(ModelError, match=r"worker process died after \d of 5 batches.*OMP_NUM_THREADS=1"):
        accel.map_single_threaded(_dies_at_two, 5, 2)


_FORK_AFTER_PARALLEL_TOKENIZING = """
from analysis import accel
from analysis.embeddings import minilm_path
from transformers import AutoTokenizer

tok = AutoTokenizer.from_pretrained(str(minilm_path()))
texts = [f"NATO and the EU answered Russia on day {i}." for i in range(5000)]
with accel.parallel_tokenizers():
    tok(texts)                                   # the parent's thread pool now exists

def task(i):
    return [len(x) for x in tok(texts[:2000])["input_ids"]][:3]   # a batch call in a forked worker

print(accel.map_single_threaded(task, 2, 2))
"""


@pytest.mark.slow
def test_workers_forked_after_the_parent_tokenised_on_every_core_can_tokenise():
    """A worker forked with the tokenizers' parallelism on, after the parent used it, hangs for ever."""
    import os
    import signal
    import subprocess
    import sys

    # its own session: a hang is stopped with its forked workers, not left behind. The timeout only
    # bounds a hang (the failure this test is about); a working pool answers in seconds.
    proc = subprocess.Popen([sys.executable, "-c", _FORK_AFTER_PARALLEL_TOKENIZING], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("a forked worker hung in the tokenizer")
    assert proc.returncode == 0, err[-2000:]
    assert out.strip() == "[[12, 12, 12], [12, 12, 12]]"
    assert "huggingface/tokenizers" not in err          # no fork warning either
