"""Random generators keyed by the run's seed and the cell they serve, so no cell's draws depend on another's.

A bootstrap interval drawn from one generator shared by every cell of a table depends on how many
numbers the cells before it drew: add an actor, drop a topic, or compute the cells in another order
(a Dask partition, a sub-corpus) and the intervals of all the others move. :func:`keyed_rng` gives each
cell a generator of its own, seeded by the run's seed and the cell's key (the table, then e.g. actor_id
and method), so a cell's draws depend on that cell alone.

Example:
    >>> a = keyed_rng(42, "actor_sentiment", "NATO", "vader_sentence").integers(0, 100, 3)
    >>> b = keyed_rng(42, "actor_sentiment", "NATO", "vader_sentence").integers(0, 100, 3)
    >>> bool((a == b).all())
    True
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

__all__ = ["keyed_rng", "key_int"]


def key_int(*key) -> int:
    """A stable 256-bit integer for ``key`` (the sha256 of its parts as JSON strings; any Python, any OS).

    The parts are turned into strings first, so ``3`` and ``"3"`` (a topic read back as text) are one key.

    Example:
        >>> key_int("topic_sentiment", 3) == key_int("topic_sentiment", "3")
        True
    """
    text = json.dumps([str(k) for k in key], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


def keyed_rng(seed: int, *key) -> np.random.Generator:
    """A generator seeded by the run's ``seed`` and ``key`` alone: ``default_rng([seed, key_int(*key)])``.

    Args:
        seed: the run's seed (parameter ``seed``), a non-negative integer.
        *key: what identifies the cell: its table's name, then its key columns' values.
    """
    return np.random.default_rng([int(seed), key_int(*key)])
