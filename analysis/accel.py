"""Where and in what precision the neural models run: one place for the CUDA and bfloat16 checks.

Both neural models of the pipeline (MiniLM for embeddings, the targeted sentiment classifier built on
it) take their device and numeric precision from here, so the choice is made, and recorded, the same
way for both.

``precision="auto"`` resolves to

- on a CUDA GPU, ``float16`` when it is measured faster than float32 there, else float32;
- on a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX), ``bfloat16`` only when it is measured
  faster than float32 on this machine: native bfloat16 is much faster with AMX tiles, but can be slower
  than float32 with AVX512-BF16 alone. PyTorch autocast then runs the matrix products in bfloat16 and
  keeps the rest in float32 (same validation macro-F1 for the targeted model, cosine 0.99998 to the
  float32 vectors: see docs/sentiment.md and bench/README.md);
- ``float32`` elsewhere (a CPU without bfloat16 would emulate it, slower than float32).

The measurement (:func:`calibrate`) times a few fixed batches of the model's own layer shapes in both
precisions, well under a second, and its verdict is cached per CPU model, torch version and model
weights (``<cache>/precision/``); stages record it, with both timings, in the run's manifest.

Results are deterministic for a given kind of CPU and resolved precision, whatever its core count
(every MiniLM product on the CPU runs on one thread: :func:`map_single_threaded`); the resolved
precision is in the run's stage summaries, and cached embeddings are kept apart per precision.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np

from analysis.errors import ParameterError

__all__ = ["cuda_available", "cpu_has_bf16", "cpu_name", "calibrate", "measured_precision", "CALIBRATION_MARGIN", "resolve_device", "resolve_precision", "resolve", "autocast",
           "store_linear_weights", "length_batches", "batch_rows", "CPU_PRODUCT_TOKENS", "fixed_rows", "fill_rows",
           "id_batch", "CPU_MAX_ROWS", "one_thread", "cpu_processes", "map_single_threaded", "run_batches",
           "PROCESS_MIN_TOKENS", "quiet_model_loading"]

PRECISIONS = ("auto", "float32", "bfloat16", "float16")

# Token rows of every MiniLM matrix product on the CPU: each batch holds ceil(512 / length) texts of
# one token length, so a product's shape depends on the token length alone; see :func:`length_batches`.
# A length with few texts is filled up with copies: smaller products need less filling, larger ones
# run faster per token; 512 rows balance the two (figures in bench/README.md, "Product sizes").
CPU_PRODUCT_TOKENS = 512
# ... and at most 32 texts: short texts (single words for the topic terms' vectors, 3-6 tokens) would
# otherwise fill a call of a few words up to the product size with copies.
CPU_MAX_ROWS = 32

# Below this many tokens a MiniLM pass runs in this process, on one thread: forking workers costs more
# than it saves on small passes (such as the seeds' sentences, about 3,500 tokens).
PROCESS_MIN_TOKENS = 4_096


def cuda_available() -> bool:
    """True when PyTorch sees a CUDA device (never on CI)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def cpu_has_bf16() -> bool:
    """True when this CPU does bfloat16 arithmetic natively (AVX512-BF16 or AMX tiles)."""
    import torch

    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(c()) for c in checks if c is not None)


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; an explicit ``cuda`` without a GPU is an error."""
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise ParameterError("parameter 'embeddings.device' is cuda but PyTorch sees no CUDA device; "
                             "use auto or cpu")
    if device not in ("cpu", "cuda"):
        raise ParameterError(f"parameter 'embeddings.device': allowed auto, cpu, cuda; got {device!r}")
    return device


# A lower precision must be at least this much faster than float32 to be chosen: run-to-run noise of
# the calibration stays well inside it, so ``auto`` is never slower than float32 by more than noise.
CALIBRATION_MARGIN = 0.9


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    import platform

    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _layer_shapes() -> tuple[int, int]:
    """Hidden and intermediate sizes of the installed MiniLM (both models of the pipeline share them)."""
    import json

    from analysis.embeddings import minilm_path

    cfg = json.loads((minilm_path() / "config.json").read_text())
    return int(cfg["hidden_size"]), int(cfg["intermediate_size"])


def calibrate(device: str, low: str, timer=None, repeats: int = 3, tokens: int = 256) -> dict:
    """Time the model's layer shapes in float32 and in ``low`` precision on ``device``.

    One transformer layer's matrix products (four attention projections and the two feed-forward
    products of MiniLM's sizes) on ``tokens`` token rows, run as the pipeline runs them (weights stored
    in the precision, under autocast), alternately in both precisions after a warm-up; the best of
    ``repeats`` rounds counts.

    Args:
        device: ``cpu`` or ``cuda``.
        low: ``bfloat16`` (CPU) or ``float16`` (GPU).
        timer: a clock returning seconds (tests pass a fake one); default ``time.perf_counter``.
        repeats: timed rounds per precision.
        tokens: token rows of each product.

    Returns:
        ``{"float32_s", "<low>_s", "chosen", "margin"}``: ``chosen`` is ``low`` only when it took at
        most :data:`CALIBRATION_MARGIN` of float32's time.
    """
    import time

    import torch

    timer = timer or time.perf_counter
    hidden, inter = _layer_shapes()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, hidden, generator=gen).to(device)
    shapes = [(hidden, hidden)] * 4 + [(hidden, inter), (inter, hidden)]

    if device == "cuda":
        x = torch.randn(tokens * 32, hidden, generator=gen).to(device)   # the GPU path's large batches

    def layers(prec: str):
        mods = [torch.nn.Linear(a, b).to(device) for a, b in shapes]
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[prec]
        return [m.to(dtype) for m in mods] if prec != "float32" else mods

    def once(mods, prec: str) -> float:
        # the GPU path converts the whole model to float16 (no autocast); the CPU stores bfloat16
        # weights and runs under autocast, one thread per product
        inp = x.half() if prec == "float16" else x
        cast = contextlib.nullcontext() if device == "cuda" else autocast(device, prec)
        with torch.inference_mode(), one_thread(), cast:
            t0 = timer()
            for m in mods[:4]:
                m(inp)
            mods[5](torch.nn.functional.gelu(mods[4](inp)))
            if device == "cuda":
                torch.cuda.synchronize()
            return timer() - t0

    mods = {"float32": layers("float32"), low: layers(low)}
    for prec in mods:
        once(mods[prec], prec)                     # warm-up: kernel selection, caches
    best = {prec: float("inf") for prec in mods}
    for _ in range(repeats):
        for prec in mods:
            best[prec] = min(best[prec], once(mods[prec], prec))
    chosen = low if best[low] <= CALIBRATION_MARGIN * best["float32"] else "float32"
    return {"float32_s": round(best["float32"], 6), f"{low}_s": round(best[low], 6), "chosen": chosen,
            "margin": CALIBRATION_MARGIN}


_MEASURED: dict[str, dict] = {}


def measured_precision(device: str, timer=None) -> dict:
    """The calibration verdict for ``device`` on this machine, measured once and cached on disk.

    The cache key is the CPU model (or GPU name), the torch version and the model's weights hash (the
    weights themselves are verified when the model loads). Kept in memory for the process too.
    Returns the record: what was measured, on what, and ``chosen``.
    """
    if timer is None and device in _MEASURED:
        return _MEASURED[device]
    import json

    import torch

    from analysis import config
    from analysis.embeddings import MINILM_SHA256
    from analysis.fingerprint import digest

    low = "float16" if device == "cuda" else "bfloat16"
    hw = torch.cuda.get_device_name() if device == "cuda" else cpu_name()
    facts = {"device": device, "hardware": hw, "torch": torch.__version__, "model_sha256": MINILM_SHA256,
             "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "")}   # it switches AMX on and off
    if device == "cpu" and not cpu_has_bf16():
        rec = {**facts, "chosen": "float32", "reason": "no native bfloat16 on this CPU (not measured)"}
    else:
        path = config.cache_dir() / "precision" / f"{digest(facts)[:24]}.json"
        if path.exists() and timer is None:
            rec = json.loads(path.read_text())
        else:
            rec = {**facts, **calibrate(device, low, timer)}
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(rec, indent=2, sort_keys=True))
            tmp.replace(path)
    if timer is None:
        _MEASURED[device] = rec
    return rec


def resolve_precision(precision: str = "auto", device: str = "cpu") -> str:
    """The precision the models will run in on ``device`` (a resolved device: cpu or cuda).

    ``auto`` takes the lower precision only where :func:`measured_precision` found it faster.
    """
    if precision not in PRECISIONS:
        raise ParameterError(f"parameter 'embeddings.precision': allowed {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "auto":
        return measured_precision(device)["chosen"]
    if precision == "float16" and device != "cuda":
        raise ParameterError("parameter 'embeddings.precision' is float16, which only the GPU path supports; "
                             "on CPU use auto, bfloat16 or float32")
    return precision


def resolve(device: str = "auto", precision: str = "auto") -> tuple[str, str]:
    """The (device, precision) the models will run in, from the ``embeddings`` parameters."""
    dev = resolve_device(device)
    return dev, resolve_precision(precision, dev)


@contextlib.contextmanager
def autocast(device: str, precision: str) -> Iterator[None]:
    """Run the enclosed forward passes in ``precision`` (mixed: matrix products low, reductions float32)."""
    if precision == "float32":
        yield
        return
    import torch

    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[precision]
    with torch.autocast(device_type=device, dtype=dtype):
        yield


def store_linear_weights(module, precision: str):
    """Keep the weights of ``module``'s linear layers in ``precision`` once, for :func:`autocast`.

    Autocast casts every linear layer's float32 weight to bfloat16 again at every call (it keeps no
    cast between calls in inference), a large share of a small model's time. Casting them once gives
    the very same numbers (the same rounding of the same values; a test checks that the outputs are
    identical). Only linear layers change: embeddings and layer norms stay float32, as autocast treats them. A
    no-op for float32 and for float16, whose GPU path converts the whole model. Returns ``module``.
    """
    if precision != "bfloat16":
        return module
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            m.to(torch.bfloat16)
    return module


def length_batches(lengths, max_batch_size: int, max_batch_tokens: int | None = None,
                   longest_first: bool = False, fixed_tokens: int | None = None) -> list[np.ndarray]:
    """Batches of positions whose sequences all have the same token length: no padding at all.

    A padded batch changes the shape of every matrix product, and with it the rounding: the same
    sentence came out up to 1e-7 (float32) or 9e-4 (bfloat16) different depending on which texts
    shared its batch, so a cached vector, a Dask partition or a sub-corpus could change a table.
    Without padding no time is spent on padding, and a text's output no longer depends on the other
    texts' lengths. It can still depend on the number of rows: the math libraries pick kernels (and
    with them the order of the sums) by the product's shape. On a 2-core AMX Xeon a sentence's MiniLM
    vector moved by up to 8e-4 between a batch of 3 and one of 64 texts of its length, in float32 as
    in bfloat16. So callers give every batch of one token length the same number of rows, filling a
    short one with copies (:func:`fill_rows`): then a product's shape, and a text's result, depend on
    the text alone, on any CPU. The targeted classifier uses a fixed ``batch_size`` rows; the MiniLM
    encoder on the CPU ``fixed_tokens`` (:data:`CPU_PRODUCT_TOKENS`): ``ceil(fixed_tokens / length)``
    rows (at most :data:`CPU_MAX_ROWS`), so short texts go many at a time and long ones few, every
    product about 512 token rows.

    Batches hold at most ``max_batch_size`` sequences and, when given, ``max_batch_tokens`` tokens; with
    ``fixed_tokens`` every batch of a length holds up to :func:`fixed_rows` sequences,
    whatever the other two say. The order is fixed (by length, then position).

    Example:
        >>> [b.tolist() for b in length_batches([3, 5, 3, 3], 2)]
        [[0, 2], [3], [1]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths if longest_first else lengths, kind="stable")
    out = []
    if not len(order):
        return out
    cuts = np.flatnonzero(np.diff(lengths[order])) + 1
    for group in np.split(order, cuts):
        size = batch_rows(int(lengths[group[0]]), max_batch_size, max_batch_tokens, fixed_tokens)
        out.extend(group[i:i + size] for i in range(0, len(group), size))
    return out


def batch_rows(width: int, max_batch_size: int, max_batch_tokens: int | None = None,
               fixed_tokens: int | None = None) -> int:
    """Sequences per batch of sequences ``width`` tokens long, under :func:`length_batches`' limits.

    Example:
        >>> batch_rows(27, 32, 512), batch_rows(27, 32), batch_rows(27, 32, fixed_tokens=512)
        (18, 32, 19)
    """
    width = max(int(width), 1)
    if fixed_tokens:
        return fixed_rows(width, fixed_tokens)
    return max(1, min(max_batch_size, (max_batch_tokens // width) if max_batch_tokens else max_batch_size))


def fixed_rows(width: int, fixed_tokens: int) -> int:
    """Rows of every batch of sequences ``width`` tokens long: ``ceil(fixed_tokens / width)``, capped.

    The cap is :data:`CPU_MAX_ROWS`, so a call of a few short words is not filled up to hundreds of rows.
    """
    return min(-(-fixed_tokens // max(int(width), 1)), CPU_MAX_ROWS)


def fill_rows(idx: np.ndarray, rows: int) -> np.ndarray:
    """``idx`` filled up to ``rows`` positions with copies of its first (a batch shape fixed in advance).

    Example:
        >>> fill_rows(np.array([4, 7]), 4).tolist()
        [4, 7, 4, 4]
    """
    return np.concatenate([idx, np.repeat(idx[:1], max(rows - len(idx), 0))])


def id_batch(ids: list[list[int]], rows: np.ndarray, device: str = "cpu"):
    """The token ids of ``rows`` (all of one length) as an int64 tensor on ``device``."""
    import torch

    return torch.tensor([ids[j] for j in rows], dtype=torch.int64, device=device)


@contextlib.contextmanager
def tokenizers_parallelism(on: bool) -> Iterator[None]:
    """``TOKENIZERS_PARALLELISM`` set to ``on`` inside the block, and put back as it was after it.

    ``analysis.config`` turns the Rust tokenizers' threads off for the whole process. The one batch call
    that tokenises a MiniLM pass turns them on (:func:`parallel_tokenizers`). Worker processes must
    then be forked with them off, said explicitly: a child forked with ``true`` after the parent's
    thread pool existed hangs for ever at its first batch call (that pool's threads are not in the
    child), and one forked with the variable unset prints a warning. A test forks workers that
    tokenise after the parent did so on every core.
    """
    import os

    env = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if on else "false"
    try:
        yield
    finally:
        if env is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = env


def parallel_tokenizers():
    """The Rust tokenizers on every core inside the block (see :func:`tokenizers_parallelism`).

    The token ids are the same either way; only the time changes.
    """
    return tokenizers_parallelism(True)


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Quiet the transformers library inside the block: no loading bar, no load report (restored after).

    Loading the installed MiniLM printed a "Loading weights" bar and a "LOAD REPORT" table naming
    ``embeddings.position_ids`` as UNEXPECTED (a buffer that sentence-transformers checkpoints carry and
    recent transformers versions no longer use) into every executed notebook: noise that reads like an
    error. Real errors still raise; the weights are sha256-checked before loading.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch on one thread inside the block (the thread count it had is restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_processes(n_tokens: int) -> int:
    """Single-threaded worker processes for a CPU pass over ``n_tokens`` tokens.

    As many as PyTorch has threads (one per core unless ``OMP_NUM_THREADS`` or
    ``torch.set_num_threads`` say otherwise), 1 below :data:`PROCESS_MIN_TOKENS`, and 1 where
    this process cannot fork workers (not Linux, or already a daemonic worker: a Dask worker, a pool).
    """
    import multiprocessing as mp
    import sys

    import torch

    if n_tokens < PROCESS_MIN_TOKENS or not sys.platform.startswith("linux") or mp.current_process().daemon:
        return 1
    return max(1, torch.get_num_threads())


_TASK = None


def _run_task(i: int):
    return i, _TASK(i)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def map_single_threaded(task, n_tasks: int, processes: int, done=None) -> list:
    """``[task(0), ..., task(n_tasks - 1)]``, every call on one thread, in ``processes`` processes.

    Why one thread: with two threads a product is split between them, and the math library chooses
    its kernels, and the order of its sums, by the number of threads too, so a probability could move
    in its last digits with the machine's core count. On one thread a result depends on the input
    alone, and single-threaded processes also use the cores better than one process with several
    threads (bench/README.md, "One thread per product").

    Workers are forked, so ``task`` (a closure over the loaded model and the tokenised texts) is not
    pickled, and tasks are handed out one at a time (give the largest first). ``done(i)`` is called in
    this process as each result arrives. With ``processes`` 1 the tasks run here, on one thread.

    Raises:
        ModelError: a worker process died (killed for lack of memory, most likely); the message says
            how to run in one process instead. An exception inside ``task`` is raised as it is.
    """
    global _TASK
    out: list = [None] * n_tasks
    if processes <= 1 or n_tasks <= 1:
        with one_thread():
            for i in range(n_tasks):
                out[i] = task(i)
                if done:
                    done(i)
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from analysis.errors import ModelError

    _TASK = task
    n_done = 0
    # workers forked with the tokenizers' threads off, said explicitly (tokenizers_parallelism): the
    # parent's may have run on every core. An executor, not multiprocessing.Pool: a worker killed by the
    # kernel breaks it (and this call) instead of leaving the pool waiting for a result that never comes.
    with tokenizers_parallelism(False):
        pool = ProcessPoolExecutor(min(processes, n_tasks), mp_context=mp.get_context("fork"),
                                   initializer=_worker_init)
        try:
            futures = {pool.submit(_run_task, i): i for i in range(n_tasks)}
            for f in as_completed(futures):
                i, res = f.result()
                out[i] = res
                n_done += 1
                if done:
                    done(i)
        except BrokenProcessPool:
            raise ModelError(f"a worker process died after {n_done} of {n_tasks} batches (most likely killed "
                             "for lack of memory); run with OMP_NUM_THREADS=1 to compute in one process, or "
                             "on a machine with more memory") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _TASK = None
    return out


def run_batches(task, batch_tokens: list[int], single_threaded: bool, done=None) -> list:
    """``[task(0), ..., task(n - 1)]`` for ``n`` batches of ``batch_tokens[i]`` token rows each.

    ``single_threaded`` (the CPU): through :func:`map_single_threaded`, in :func:`cpu_processes` of
    the total tokens, so a result depends on its input alone; ``task`` must return something that
    pickles (NumPy arrays). Otherwise (a GPU) in this process, in order. ``done(i)`` as each arrives.
    """
    if single_threaded:
        return map_single_threaded(task, len(batch_tokens), cpu_processes(sum(batch_tokens)), done)
    out = []
    for i in range(len(batch_tokens)):
        out.append(task(i))
        if done:
            done(i)
    return out
