"""Device and precision: one resolution for both neural models, clear errors, no cache mix-ups."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import accel
from analysis.embeddings import Embedder
from analysis.errors import ParameterError


def test_auto_precision_follows_the_measurement(monkeypatch):
    verdicts = {"cpu": "bfloat16", "cuda": "float16"}
    monkeypatch.setattr(accel, "measured_precision", lambda device: {"chosen": verdicts[device]})
    assert accel.resolve_precision("auto", "cpu") == "bfloat16"
    assert accel.resolve_precision("auto", "cuda") == "float16"
    verdicts.update(cpu="float32", cuda="float32")
    assert accel.resolve_precision("auto", "cpu") == "float32"
    assert accel.resolve_precision("auto", "cuda") == "float32"
    assert accel.resolve_precision("float32", "cpu") == "float32"


def test_impossible_choices_are_named(monkeypatch):
    with pytest.raises(ParameterError, match="embeddings.precision.*float16.*GPU"):
        accel.resolve_precision("float16", "cpu")
    with pytest.raises(ParameterError, match="embeddings.precision.*allowed"):
        accel.resolve_precision("int4", "cpu")
    monkeypatch.setattr(accel, "cuda_available", lambda: False)
    assert accel.resolve_device("auto") == "cpu"
    with pytest.raises(ParameterError, match="embeddings.device.*no CUDA"):
        accel.resolve_device("cuda")


class _ByPrecision(Embedder):
    """Encoder whose vectors depend on the precision it runs in (as real ones do, slightly)."""

    def _encode(self, texts):
        bump = 0.0 if self.precision_ == "float32" else 0.5
        return np.array([[len(t) + bump, 1.0] for t in texts], dtype=np.float32)


def test_cached_vectors_of_one_precision_never_answer_for_another(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(accel, "measured_precision", lambda device: {"chosen": "bfloat16"})
    a = _ByPrecision(show_progress_bar=False, precision="float32").encode(["nato"])
    b = _ByPrecision(show_progress_bar=False, precision="bfloat16").encode(["nato"])
    c = _ByPrecision(show_progress_bar=False, precision="auto").encode(["nato"])
    assert a[0, 0] == 4.0 and b[0, 0] == 4.5 and c[0, 0] == 4.5
    e = _ByPrecision(show_progress_bar=False, precision="float32")
    assert e.encode(["nato"])[0, 0] == 4.0 and e.n_cached_ == 1


def test_linear_weights_stored_in_bfloat16_give_the_autocast_numbers():
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(48, 96), torch.nn.GELU(), torch.nn.LayerNorm(96), torch.nn.Linear(96, 8))
    x = torch.randn(5, 48)
    with torch.inference_mode(), accel.autocast("cpu", "bfloat16"):
        before = net(x).float()
    assert accel.store_linear_weights(net, "bfloat16") is net
    assert net[0].weight.dtype == torch.bfloat16 and net[2].weight.dtype == torch.float32   # layer norm kept
    with torch.inference_mode(), accel.autocast("cpu", "bfloat16"):
        after = net(x).float()
    assert torch.equal(before, after)
    plain = torch.nn.Linear(4, 4)
    accel.store_linear_weights(plain, "float32")
    assert plain.weight.dtype == torch.float32


def test_length_batches_group_by_length_and_give_each_length_one_shape():
    lengths = [3, 5, 3, 3, 5, 100]
    got = [b.tolist() for b in accel.length_batches(lengths, 2)]
    assert got == [[0, 2], [3], [1, 4], [5]]
    # fixed_tokens=12: every batch of 3-token texts has 4 rows, of 5-token texts 3, of 100-token ones 1,
    # whatever max_batch_size says; the short ones are filled up to that shape
    got = [b.tolist() for b in accel.length_batches(lengths * 2, 2, fixed_tokens=12)]
    assert got == [[0, 2, 3, 6], [8, 9], [1, 4, 7], [10], [5], [11]]
    assert [accel.fixed_rows(w, 12) for w in (3, 5, 100)] == [4, 3, 1]
    assert accel.fixed_rows(3, 1024) == accel.CPU_MAX_ROWS           # a few words are not filled to 1,024 rows
    assert accel.fill_rows(np.array([8, 9]), 4).tolist() == [8, 9, 8, 8]
    assert accel.fill_rows(np.array([8, 9]), 1).tolist() == [8, 9]


def test_small_passes_stay_in_this_process_and_large_ones_use_every_thread(monkeypatch):
    import sys

    import torch

    assert accel.cpu_processes(accel.PROCESS_MIN_TOKENS - 1) == 1
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    assert accel.cpu_processes(accel.PROCESS_MIN_TOKENS) == (3 if sys.platform.startswith("linux") else 1)


@pytest.mark.parametrize("before", [None, "false"])
def test_parallel_tokenizers_is_undone_after_the_block_even_on_error(monkeypatch, before):
    import os

    if before is None:
        monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    else:
        monkeypatch.setenv("TOKENIZERS_PARALLELISM", before)
    with pytest.raises(RuntimeError):
        with accel.parallel_tokenizers():
            assert os.environ["TOKENIZERS_PARALLELISM"] == "true"
            raise RuntimeError("inside")
    assert os.environ.get("TOKENIZERS_PARALLELISM") == before
