"""Target-dependent sentiment: tone toward a marked span, from MiniLM with low-rank adapters.

The classifier reads a sentence with its target wrapped in two marker tokens
(``... [unused0] Russia [unused1] ...``; both are spare tokens of MiniLM's vocabulary, so no resize),
runs the installed all-MiniLM-L6-v2 with low-rank adapters (LoRA) on every linear layer, and classifies
the concatenation of three pooled vectors (all tokens, the target's tokens, the opening marker) into
negative / neutral / positive with a linear head.

Only what training changed is shipped: the adapters, biases and layer norms, the two marker embeddings
and the head (``analysis/data/targeted_model.safetensors``, about 3 MB). The base weights come from the
installed model package and are checked against their sha256 before use. The model card
(``targeted_model.json``) records the training data hash, the seed, the hyper-parameters and the
validation scores; ``python -m analysis.train_targeted`` rebuilds both files.

Example:
    >>> scorer = TargetedScorer.load()                                            # doctest: +SKIP
    >>> scorer.score(["NATO condemned Russia's aggression."], [(15, 21)])          # doctest: +SKIP
       polarity     score  p_negative  p_neutral  p_positive
    0  negative -0.93...
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from analysis import config
from analysis.errors import ModelError

__all__ = [
    "LABELS",
    "MODEL_FILE",
    "CARD_FILE",
    "LoRALinear",
    "TargetedConfig",
    "TargetedClassifier",
    "mark_target",
    "TargetedScorer",
    "DATA_FILES",
]

log = logging.getLogger(__name__)

LABELS = ("negative", "neutral", "positive")
MARK_OPEN, MARK_CLOSE = "[unused0]", "[unused1]"
# the files of analysis/data this module loads (part of stage fingerprints): the model, whose metadata
# holds the card (targeted_model.json is a readable copy of it that nothing loads)
DATA_FILES = ("targeted_model.safetensors",)
MODEL_FILE = config.TARGETED_MODEL_FILE
CARD_FILE = MODEL_FILE.with_suffix(".json")
LORA_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")
# Token rows of a product on the CPU: a batch of marked texts n tokens long holds 512 // n of them (at
# most ``batch_size``), so texts of a rare length are filled up with few copies (a fixed 32 texts per
# batch filled far more; bench/README.md, "Product sizes").
PRODUCT_TOKENS = 512


@dataclass(frozen=True)
class TargetedConfig:
    """Architecture of the classifier (stored in the model card so loading rebuilds the same network)."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.1
    max_length: int = 128
    context_chars: int = 300
    extra: dict = field(default_factory=dict)


def mark_target(sentence: str, start: int, end: int, context_chars: int = 300) -> str:
    """The sentence with its target wrapped in markers, cut to ``context_chars`` on each side.

    Raises:
        ValueError: the span is empty or outside the sentence.
    """
    if not 0 <= start < end <= len(sentence):
        raise ValueError(f"target span ({start}, {end}) is outside its sentence of {len(sentence)} characters")
    left, right = sentence[max(0, start - context_chars):start], sentence[end:end + context_chars]
    if start > context_chars:                       # do not start mid-word
        left = left.split(" ", 1)[-1]
    if len(sentence) - end > context_chars:
        right = right.rsplit(" ", 1)[0]
    return f"{left}{MARK_OPEN} {sentence[start:end]} {MARK_CLOSE}{right}"


def _build(cfg: TargetedConfig):
    """Base MiniLM (sha256-checked) with adapters, marker embeddings and head; untrained parts random."""
    from transformers import AutoModel, AutoTokenizer

    from analysis.accel import quiet_model_loading
    from analysis.embeddings import minilm_path, verify_minilm

    verify_minilm()
    path = minilm_path()
    with quiet_model_loading():
        tok = AutoTokenizer.from_pretrained(path)
        tok.add_special_tokens({"additional_special_tokens": [MARK_OPEN, MARK_CLOSE]})
        base = AutoModel.from_pretrained(path)
    if len(tok) != base.config.vocab_size:
        raise ModelError(f"marker tokens were not found in the vocabulary of {path}")

    class LoRAClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.base = base
            for p in self.base.parameters():
                p.requires_grad = False
            for name, mod in list(self.base.named_modules()):
                for child_name, child in list(mod.named_children()):
                    full = f"{name}.{child_name}" if name else child_name
                    if isinstance(child, nn.Linear) and full.startswith("encoder.") and any(full.endswith(t) for t in LORA_TARGETS):
                        setattr(mod, child_name, LoRALinear(child, cfg.rank, cfg.alpha))
            for n, p in self.base.named_parameters():
                if n.endswith(".bias") or "LayerNorm" in n:
                    p.requires_grad = True
            ids = tok.convert_tokens_to_ids([MARK_OPEN, MARK_CLOSE])
            self.marker_ids = ids
            emb = self.base.embeddings.word_embeddings.weight
            # Markers start at the embedding of "[SEP]"-like neutrality: the mean token vector.
            self.markers = nn.Parameter(emb.detach().mean(0, keepdim=True).repeat(2, 1).clone())
            hidden = base.config.hidden_size
            self.dropout = nn.Dropout(cfg.dropout)
            self.head = nn.Linear(3 * hidden, len(LABELS))

        def forward(self, input_ids, attention_mask):
            return self.head(self.dropout(self.features(input_ids, attention_mask)))

        def features(self, input_ids, attention_mask):
            """Pooled vector: mean of all tokens, mean of the target's tokens, the opening marker."""
            emb = self.base.embeddings.word_embeddings(input_ids)
            is_open = (input_ids == self.marker_ids[0]).unsqueeze(-1)
            is_close = (input_ids == self.marker_ids[1]).unsqueeze(-1)
            emb = torch.where(is_open, self.markers[0], torch.where(is_close, self.markers[1], emb))
            h = self.base(inputs_embeds=emb, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            mean_all = (h * m).sum(1) / m.sum(1).clamp(min=1)
            # Target tokens: from the opening to the closing marker, inclusive.
            pos = torch.arange(input_ids.shape[1], device=input_ids.device)
            o = torch.where(input_ids == self.marker_ids[0], pos, input_ids.shape[1]).min(1).values
            c = torch.where(input_ids == self.marker_ids[1], pos, -1).max(1).values
            c = torch.where(c < o, (attention_mask.sum(1) - 1), c)       # closing marker cut off
            o = o.clamp(max=input_ids.shape[1] - 1)
            tm = ((pos[None, :] >= o[:, None]) & (pos[None, :] <= c[:, None])).unsqueeze(-1).to(h.dtype) * m
            mean_t = (h * tm).sum(1) / tm.sum(1).clamp(min=1)
            open_vec = h[torch.arange(h.shape[0]), o]
            return torch.cat([mean_all, mean_t, open_vec], -1)

        def trainable_state(self) -> dict:
            return {n: p.detach().contiguous() for n, p in self.named_parameters() if p.requires_grad}

    return tok, LoRAClassifier()


class LoRALinear(nn.Module):
    """``W x + (alpha / r) B A x`` with W frozen; ``merge()`` folds the update into W for inference."""

    def __init__(self, linear: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.linear = linear
        self.scale = alpha / rank
        g = torch.Generator().manual_seed(linear.in_features * 31 + linear.out_features)
        self.lora_a = nn.Parameter(torch.randn(rank, linear.in_features, generator=g) / math.sqrt(linear.in_features))
        self.lora_b = nn.Parameter(torch.zeros(linear.out_features, rank))
        self.merged = False

    def forward(self, x):
        out = self.linear(x)
        if self.merged:
            return out
        return out + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merge(self) -> None:
        with torch.no_grad():
            self.linear.weight += (self.lora_b @ self.lora_a) * self.scale
        self.merged = True


class TargetedClassifier:
    """Build, load and save the classifier; sklearn-like ``predict_proba`` over marked texts."""

    def __init__(self, cfg: TargetedConfig | None = None, seed: int = 13):
        self.cfg = cfg or TargetedConfig()
        torch.manual_seed(seed)
        self.tokenizer, self.module = _build(self.cfg)

    def encode(self, texts: list[str]):
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.cfg.max_length, return_tensors="pt")

    def logits(self, texts: list[str]):
        enc = self.encode(texts)
        dev = next(self.module.parameters()).device
        return self.module(enc["input_ids"].to(dev), enc["attention_mask"].to(dev))

    def predict_proba(self, texts: list[str], batch_size: int = 32, precision: str = "float32") -> np.ndarray:
        """Class probabilities (negative, neutral, positive) of marked texts.

        Texts are tokenised once and batched by exact token length (:func:`analysis.accel.length_batches`),
        so nothing is padded and a text's probabilities do not depend on the texts scored with it: a
        Dask partition or a sub-corpus scores a mention exactly as the whole corpus does. On the CPU
        every product runs on one thread, in one forked process per core
        (:func:`analysis.accel.map_single_threaded`), so they do not depend on the core count either.
        ``precision``: a resolved precision (:func:`analysis.accel.resolve_precision`); bfloat16 keeps
        the validation macro-F1 (docs/sentiment.md).
        """
        from analysis import accel

        self.module.eval()
        out = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
        if not len(texts):
            return out
        with accel.parallel_tokenizers():
            ids = self.tokenizer(list(texts), truncation=True, max_length=self.cfg.max_length, padding=False,
                                 return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        dev = next(self.module.parameters()).device
        # On the CPU a batch of texts ``n`` tokens long holds ``PRODUCT_TOKENS // n`` of them (at most
        # ``batch_size``); on a GPU ``batch_size``. The longest first: on the CPU the workers then
        # finish together.
        tokens = PRODUCT_TOKENS if dev.type == "cpu" else None
        batches = accel.length_batches([len(x) for x in ids], batch_size, tokens, longest_first=True)

        def rows(width: int) -> int:
            # the batch's own size for this length (at least 2 rows)
            return max(2, accel.batch_rows(width, batch_size, tokens))

        def proba(b: int) -> np.ndarray:
            # Every call for one token length has the same rows (a short batch is filled up with copies
            # of its first row): the math libraries pick their kernels, and with them the order of the
            # sums, by the shape of the product, and on some CPUs (AMX Xeons) a row came out differently
            # in a batch of 2 than in a batch of 5. With one shape per token length, a mention's
            # probabilities depend only on its text.
            idx = batches[b]
            with torch.inference_mode(), accel.autocast(dev.type, precision):
                input_ids = accel.id_batch(ids, accel.fill_rows(idx, rows(len(ids[idx[0]]))), dev)
                logits = self.module(input_ids, torch.ones_like(input_ids))
                return torch.softmax(logits.float(), -1).cpu().numpy()[:len(idx)]

        # on the CPU one thread per product, one process per core: the same numbers on any core count
        # (accel.map_single_threaded)
        res = accel.run_batches(proba, [rows(len(ids[b[0]])) * len(ids[b[0]]) for b in batches], dev.type == "cpu")
        for idx, p in zip(batches, res):
            out[idx] = p
        return out

    def merge(self) -> TargetedClassifier:
        """Fold the adapters into the base weights (faster inference; no further training)."""
        for mod in self.module.modules():
            if isinstance(mod, LoRALinear):
                mod.merge()
        return self

    def save(self, path: Path, card: dict) -> None:
        from safetensors.torch import save_file

        state = self.module.trainable_state()
        meta = {"card": json.dumps(card, sort_keys=True)}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(path), metadata=meta)
        path.chmod(0o644)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> TargetedClassifier:
        """Rebuild the network and load the shipped trained parameters (safetensors, no pickle)."""
        from safetensors import safe_open

        if not Path(path).is_file():
            raise ModelError(f"targeted sentiment model {path} is missing; rebuild it with "
                             "`python -m analysis.train_targeted` or set sentiment.targeted_method: clause")
        with safe_open(str(path), framework="pt") as f:
            card = json.loads((f.metadata() or {}).get("card", "{}"))
            state = {k: f.get_tensor(k) for k in f.keys()}
        arch = card.get("architecture", {})
        self = cls(TargetedConfig(**{k: v for k, v in arch.items() if k in TargetedConfig.__dataclass_fields__}))
        expected = set(self.module.trainable_state())
        if set(state) != expected:
            missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
            raise ModelError(f"{path} does not match the classifier: missing {missing}, unexpected {extra}")
        with torch.no_grad():
            params = dict(self.module.named_parameters())
            for k, v in state.items():
                params[k].copy_(v)
        self.card = card
        return self


class TargetedScorer:
    """Tone toward target spans with the shipped classifier: ``score(sentences, spans) -> DataFrame``.

    ``score`` is ``p_positive - p_negative`` in [-1, 1]; ``polarity`` is the most probable class.
    """

    _cache: dict[str, TargetedScorer] = {}

    def __init__(self, classifier: TargetedClassifier, batch_size: int = 32, precision: str = "float32",
                 cache_name: str | None = None):
        self.classifier = classifier
        self.batch_size = batch_size
        self.precision = precision
        self.cache_name = cache_name
        self.n_scored_ = 0
        self.n_cached_ = 0

    @classmethod
    def load(cls, path: Path = MODEL_FILE, device: str = "auto", precision: str = "auto") -> TargetedScorer:
        """The classifier with its adapters merged, on ``device`` in ``precision`` (see :mod:`analysis.accel`)."""
        from analysis import accel

        dev, prec = accel.resolve(device, precision)
        key = f"{Path(path).resolve()}|{dev}|{prec}"
        if key not in cls._cache:
            clf = TargetedClassifier.load(path).merge()
            clf.module.to(dev)                      # GPU path; CPU machines and CI never need it
            accel.store_linear_weights(clf.module, prec)    # same numbers as autocast alone, faster
            from analysis.embeddings import cache_key, file_sha256

            # probabilities on disk, per model file, device, precision and code (see ``score``)
            name = cache_key(file_sha256(Path(path)), dev, prec, "analysis.targeted")
            cls._cache[key] = cls(clf, batch_size=32 if dev == "cpu" else 256, precision=prec, cache_name=name)
        return cls._cache[key]

    @property
    def card(self) -> dict:
        return getattr(self.classifier, "card", {})

    def _proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities of distinct marked texts, from the on-disk cache where it has them.

        A mention's probabilities depend on its marked text alone (see ``predict_proba``), so a stored
        value is the one scoring would give again, bit for bit, on this kind of machine. The cache
        (``<cache>/targeted/<model sha256>-<device>-<precision>-<code>/``, like the embedding cache) means that
        after a change to the actor dictionary, or with new articles added to a corpus, only the new
        mentions are scored.
        """
        from analysis import config
        from analysis.embeddings import EmbeddingCache, text_keys

        if self.cache_name is None:
            self.n_scored_, self.n_cached_ = len(texts), 0
            return self.classifier.predict_proba(texts, self.batch_size, self.precision)
        store = EmbeddingCache(config.cache_dir() / "targeted" / self.cache_name)
        keys = text_keys(texts)
        _, missing = store.get(keys)
        self.n_scored_, self.n_cached_ = len(missing), len(texts) - len(missing)
        if missing:
            store.put([keys[i] for i in missing],
                      self.classifier.predict_proba([texts[i] for i in missing], self.batch_size, self.precision))
        got, missing = store.get(keys)
        assert not missing
        return got

    def score(self, sentences: list[str], spans: list[tuple[int, int]]) -> pd.DataFrame:
        cc = self.classifier.cfg.context_chars
        texts = [mark_target(s, int(a), int(b), cc) for s, (a, b) in zip(sentences, spans)]
        if not texts:
            return pd.DataFrame({"polarity": pd.Series(dtype=str), "score": pd.Series(dtype=float),
                                 **{f"p_{lab}": pd.Series(dtype=float) for lab in LABELS}})
        # Each distinct marked text is scored once (news repeats boilerplate and agency copy).
        uniq, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
        p = self._proba(list(uniq)).astype(np.float64)[inverse]
        df = pd.DataFrame({"polarity": np.array(LABELS)[p.argmax(1)], "score": np.round(p[:, 2] - p[:, 0], 6)})
        for i, lab in enumerate(LABELS):
            df[f"p_{lab}"] = np.round(p[:, i], 6)
        return df
