"""Per-document work on Dask when a scheduler is set, in plain pandas otherwise; same tables either way.

The per-document parts of the corpus, actors and sentiment stages (cleaning and segmentation, mention
extraction, sentence and target scoring) are written as functions of a slice of documents; embeddings
are not distributed (they are computed once, from the cache, in the driver). :func:`map_documents` runs such a function over the
whole table directly (``compute.scheduler`` unset, the default), or through
``dask.dataframe.map_partitions`` on a ``LocalCluster`` (``scheduler: local``) or an existing cluster
(``scheduler: tcp://host:8786``). Partitions are contiguous slices in document order and their results
are concatenated in that order. That alone does not make a table the pandas one: a function that sorts
its output (mentions by doc_id, say) sorts each slice on its own, and the slices' concatenation is then
in another order whenever the corpus's order is not that sort's. So a stage puts every table it builds
from these results in an order of its own (:func:`analysis.tables.sort_rows` by the table's key), and
computes anything that sums floats or draws random numbers per key from values in a fixed order, never
from the order the slices came back in. A test compares the tables, byte for byte, across pandas and
Dask with several partition counts (tests/integration/test_engines.py).

A partition function may return several tables; each is shipped back as Parquet bytes, so dtypes and
column order survive the trip unchanged.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"doc_id": ["a", "b"], "text": ["x", "yy"]})
    >>> map_documents(lambda d: (d.assign(n=d["text"].str.len()),), df, None)[0]["n"].tolist()
    [1, 2]
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import pandas as pd

from analysis.errors import ParameterError

__all__ = ["map_documents", "dask_client", "close_clients"]

log = logging.getLogger(__name__)
_CLIENTS: dict[str, object] = {}


def dask_client(scheduler: str, workers: int = 2):
    """A ``distributed.Client`` for ``local`` (a LocalCluster of ``workers`` processes) or an address.

    Clients are kept for the life of the process (starting a cluster costs seconds).
    """
    key = f"{scheduler}:{workers}"
    if key in _CLIENTS:
        return _CLIENTS[key]
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError("parameter 'compute.scheduler' needs the `distributed` package (in requirements.lock)") from None
    try:
        if scheduler == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise ParameterError(f"parameter 'compute.scheduler': cannot reach Dask scheduler {scheduler!r} ({e}); "
                             "use 'local' for a cluster on this machine, or leave it empty") from None
    _CLIENTS[key] = client
    return client


def close_clients() -> None:
    """Shut down the clients (and local clusters) this process started."""
    for c in _CLIENTS.values():
        cluster = getattr(c, "cluster", None)
        c.close()
        if cluster is not None:
            cluster.close()
    _CLIENTS.clear()


def _to_bytes(frames) -> pd.DataFrame:
    """One row per table of a partition: its position and its Parquet bytes."""
    rows = []
    for i, f in enumerate(frames):
        buf = io.BytesIO()
        f.to_parquet(buf, index=False)
        rows.append((i, buf.getvalue()))
    return pd.DataFrame(rows, columns=["table", "parquet"])


def _from_bytes(cells) -> list[pd.DataFrame]:
    return [pd.read_parquet(io.BytesIO(b)) for b in cells]


def map_documents(func: Callable[[pd.DataFrame], tuple[pd.DataFrame, ...]], documents: pd.DataFrame,
                  compute) -> list[pd.DataFrame]:
    """Apply ``func`` (documents slice -> tuple of tables) to all documents; concatenate per table.

    Args:
        func: must depend only on the rows it is given (and on objects it closes over); each row of its
            output must depend only on its document, not on the other documents of the slice.
        documents: the table to split, in its order.
        compute: the ``compute`` parameters section, or ``None`` for plain pandas.
    """
    if compute is None or not compute.scheduler or len(documents) == 0:
        return list(func(documents.reset_index(drop=True)))
    import dask
    import dask.dataframe as dd

    client = dask_client(compute.scheduler, compute.workers)
    n_parts = max(1, min(len(documents), compute.partitions or 4 * compute.workers))
    # Each partition returns its tables as Parquet bytes, one row per table: the driver never runs the
    # stage itself (which would load its models here too).
    meta = pd.DataFrame({"table": pd.Series(dtype="int64"), "parquet": pd.Series(dtype=object)})
    # Dask would turn text columns into pyarrow strings; the stages must see the frames pandas sees.
    with dask.config.set({"dataframe.convert-string": False, "scheduler": client}):
        ddf = dd.from_pandas(documents.reset_index(drop=True), npartitions=n_parts, sort=False)
        packed = ddf.map_partitions(lambda part: _to_bytes(func(part.reset_index(drop=True))), meta=meta)
        inner = getattr(func, "func", func)                           # a functools.partial: its function
        log.info("running %s over %d partitions on %s", getattr(inner, "__name__", type(inner).__name__), n_parts, client)
        rows = packed.compute()
    out = []
    for i in sorted(rows["table"].unique()):
        parts = _from_bytes(rows.loc[rows["table"] == i, "parquet"].tolist())   # in partition order
        kept = [p for p in parts if len(p)] or parts[:1]       # all empty: one keeps the columns and dtypes
        out.append(pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0].reset_index(drop=True))
    return out
