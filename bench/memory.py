"""Peak memory of a benchmark process together with its worker processes.

``ru_maxrss`` counts one process only, but the actors stage and the CPU MiniLM passes run in forked
workers. :class:`TreeRss` samples, every 0.2 s, the memory of this process and all its descendants,
summed. Forked workers share the parent's pages copy-on-write; a plain sum of RSS counts those shared
pages once per process (3.9 GB where the machine needed 2.4 GB), so on Linux each process counts its
proportional set size (PSS: a page shared by three processes counts a third in each), which sums to
what the processes hold together. Elsewhere it falls back to RSS, an upper bound.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psutil


def _pss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class TreeRss:
    """``with TreeRss() as m: ...`` then ``m.peak_mb``: the largest summed PSS (else RSS) seen, in MB."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> float:
        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += _pss_bytes(p.pid) or p.memory_info().rss
            except psutil.Error:          # a worker that just exited
                pass
        self.peak_mb = max(self.peak_mb, total / 2**20)
        return self.peak_mb

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeRss:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
