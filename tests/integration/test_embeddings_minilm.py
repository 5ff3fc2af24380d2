"""MiniLM itself: the encoder's own batching gives the library's vectors, whatever the batch, precision or process.

These load the model (once per precision, the session fixture ``minilm``), so they are integration tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import accel

pytestmark = pytest.mark.slow


def test_pretokenized_path_gives_the_vectors_of_encode(minilm):
    """The encoder (tokenise once, unpadded same-length batches) gives the vectors of the library's call."""
    from analysis.embeddings import encode_pretokenized

    model = minilm("float32")._load()          # the SentenceTransformer (float32 weights as loaded)
    texts = ["NATO met.", "The EU agreed new sanctions on Russian banks on Tuesday.", "Kyiv",
             " ".join(["Ukraine asked its allies for more air defence systems."] * 40)]   # truncated at 256
    want = model.encode(texts, batch_size=2, convert_to_numpy=True)
    got = encode_pretokenized(model, texts, "cpu", max_batch_tokens=300)         # several batches
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-5)
    assert encode_pretokenized(model, [], "cpu").shape == (0, 384)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_texts_vector_does_not_depend_on_its_batch(minilm, precision):
    """Encoded alone or among other texts of every length, a text gets the same vector, bit for bit.

    Padded batches broke this (up to 9e-4 apart in bfloat16): a cached vector, a sub-corpus or a Dask
    partition could then change the tables of the same corpus.
    """
    if precision == "bfloat16" and not accel.cpu_has_bf16():
        pytest.skip("no native bfloat16 on this CPU")
    enc = minilm(precision, batch_size=4)
    probe = ["Russia and Ukraine resumed talks in Istanbul on Tuesday.", "NATO met."]
    others = [f"Sentence number {i} about the EU, {'and NATO ' * (i % 7)}sanctions." for i in range(40)]
    alone = enc.encode(probe)
    crowd = enc.encode(others[:17] + probe[:1] + others[17:] + probe[1:])
    assert np.array_equal(alone[0], crowd[17]) and np.array_equal(alone[1], crowd[-1])


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_texts_vector_does_not_depend_on_how_many_texts_share_its_length(minilm, precision):
    """Among 0, 2, 4, 9 or 70 texts of its own token length, at any batch_size, a text gets one vector.

    Unpadded batches alone did not give this: on an AMX Xeon a short sentence came out up to 8e-4
    different in a batch of 3 than of 64, because the math library picks its kernels by the number of
    rows. Every batch of one token length now has one shape (filled up with copies of its first text).
    """
    if precision == "bfloat16" and not accel.cpu_has_bf16():
        pytest.skip("no native bfloat16 on this CPU")
    probe = "Russia and Ukraine resumed talks in Istanbul."
    tok = minilm(precision)._load().tokenizer
    width = len(tok(probe)["input_ids"])
    words = ["NATO", "talks", "Kyiv", "the", "EU", "troops", "grain", "gas", "Moscow", "sanctions", "ports"]
    same = [t for t in (" ".join(words[(i + k) % 11] for k in range(width - 3)) + "." for i in range(11))]
    same = [t for t in same + [f"{a} {b}" for a in same for b in ("met", "agreed")] if len(tok(t)["input_ids"]) == width]
    same = (same * 8)[:70]
    assert len(same) == 70 and len(set(same)) > 10
    seen = []
    for batch_size, n in [(64, 0), (64, 2), (4, 4), (64, 9), (64, 70), (8, 70)]:
        seen.append(minilm(precision, batch_size=batch_size).encode(same[:n] + [probe])[-1])
    assert all(np.array_equal(seen[0], v) for v in seen[1:])


def test_vectors_are_the_same_in_worker_processes_and_here(minilm, monkeypatch):
    """The CPU encoder's batches give the same vectors, in the same rows, on two workers as in this process."""
    import torch

    texts = [f"Sentence {i} about the EU, {'and NATO ' * (i % 23)}sanctions." for i in range(160)]
    enc = minilm("auto")
    real, processes = accel.map_single_threaded, []

    def recording(task, n_tasks, n_processes, done=None):
        processes.append(n_processes)
        return real(task, n_tasks, n_processes, done)

    monkeypatch.setattr(accel, "map_single_threaded", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(accel, "cpu_processes", lambda n: 1)
        here = enc.encode(texts)
        monkeypatch.setattr(accel, "cpu_processes", lambda n: 2)
        pooled = enc.encode(texts)
    finally:
        torch.set_num_threads(before)
    assert processes == [1, 2]                                 # the second pass really used two workers
    assert np.array_equal(here, pooled)
    assert np.array_equal(enc.encode(texts[7:8])[0], here[7])


def test_bfloat16_autocast_keeps_minilm_vectors(minilm):
    if not accel.cpu_has_bf16():
        pytest.skip("this CPU has no native bfloat16")
    texts = ["NATO allies pledged more air defence for Ukraine.", "The EU agreed new sanctions on Russia."]
    a = minilm("float32").encode(texts)
    b = minilm("bfloat16").encode(texts)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert (cos > 0.999).all() and not np.array_equal(a, b)
