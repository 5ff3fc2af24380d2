"""Notebook kernels for a run's stages: started ahead of their turn, stopped on failure, left to exit.

Each stage's notebook runs in a kernel of its own (a separate process), so a table does not depend on
which stages ran beside it.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from analysis import config
from analysis.errors import StageError

__all__ = ["Kernels", "PRESTART_IMPORTS", "KERNEL_START_TIMEOUT_S", "check_loopback", "execute_stage"]


# Modules a stage's kernel imports before its turn (:class:`Kernels`): the slow imports of its notebook
# and of the package code it calls. bertopic alone takes about 6 s to import, spaCy 2 s, transformers 2 s.
# The package's own modules come first, as in the notebooks (``analysis.config`` sets environment
# variables that the libraries read when imported).
PRESTART_IMPORTS = {
    "topics": ("analysis.topics", "analysis.plots", "analysis.embeddings", "torch", "sentence_transformers",
               "bertopic", "bertopic.representation", "bertopic.vectorizers", "bertopic.dimensionality",
               "umap", "hdbscan", "sklearn.cluster", "sklearn.decomposition", "sklearn.feature_extraction.text",
               "sklearn.metrics"),
    "actors": ("analysis.actors", "analysis.plots", "spacy"),
    "sentiment": ("analysis.sentiment", "analysis.plots", "analysis.targeted", "transformers",
                  "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto",
                  "transformers.models.bert.modeling_bert", "vaderSentiment.vaderSentiment"),
    "summary": ("analysis.summary", "analysis.plots", "analysis.report"),
}
# Arguments nbclient gives the kernels it starts itself (no IPython history database)
_KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]
# A kernel's first start in a fresh clone (byte-compiling, two runs at once on 2 cores) took over
# papermill's default 60 s once; a kernel that never starts still fails, later.
KERNEL_START_TIMEOUT_S = 300


class Kernels:
    """The notebook kernels of one run: started ahead of their stage, and left to exit in the background.

    Each stage's notebook runs in a kernel of its own (a separate process), started in ``cwd`` with its
    standard error appended to ``logs/<stage>.kernel.log``, so a failed run still prints one clear line.
    Two things take the kernels' own start-up and shut-down off the run's critical path:

    - :meth:`prestart` starts the kernels of the stages that come next while the running stages work,
      and has each import its stage's slow modules (:data:`PRESTART_IMPORTS`) in a silent request,
      which neither numbers a cell nor leaves a name behind. nbclient then takes that kernel instead of
      starting one (:meth:`manager_class`). Importing a module changes no table; a test compares runs
      with and without.
    - Once a notebook has finished, its kernel exits in a background thread (the interpreter's
      finalisation with torch and bertopic loaded takes 1-2.5 s) while the next stage already runs.

    :meth:`close` waits for the kernels exiting and stops prestarted ones that no stage took (after a
    failure); the run calls it before it returns or raises. :meth:`stop` terminates the kernels of
    running stages (Ctrl-C, or another stage failed).
    """

    def __init__(self, staging: Path, cwd: Path, prestart: bool = True):
        self.staging, self.cwd, self.enabled = staging, cwd, prestart
        self.running: dict[str, Any] = {}        # stage -> kernel manager of its notebook
        self.ready: dict[str, tuple[Any, Any]] = {}   # stage -> (thread starting it, kernel manager)
        self.exiting: list[Any] = []             # threads waiting for kernels to exit
        self._lock = threading.Lock()
        self._base = self._base_class()

    def _base_class(self):
        from jupyter_client.manager import AsyncKernelManager

        kernels = self

        class StageKernel(AsyncKernelManager):
            stage = ""
            exit_later = False

            async def start_kernel(self, **kw):
                kw["cwd"] = str(kernels.cwd)
                log = kernels.staging / "logs" / f"{self.stage}.kernel.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                with open(log, "ab") as f:            # the kernel keeps its own copy of the descriptor
                    kw["stderr"] = f
                    await super().start_kernel(**kw)

            async def shutdown_kernel(self, now: bool = False, restart: bool = False):
                # nbclient's shutdown after the notebook: the kernel exits in the background instead
                # (see Kernels.release), once nbclient has closed its connections
                if now or restart:
                    return await super().shutdown_kernel(now=now, restart=restart)
                self.exit_later = True

            async def cleanup_resources(self, restart: bool = False):
                if not self.exit_later:
                    return await super().cleanup_resources(restart=restart)

        return StageKernel

    def manager_class(self, stage: str):
        """The kernel manager class papermill is given for ``stage``: it takes the prestarted kernel."""
        kernels = self

        class Kernel(self._base):
            def __new__(cls, *args, **kw):
                km = kernels._take(stage)
                if km is None:                        # none prestarted: nbclient starts this one
                    km = super().__new__(cls, *args, **kw)
                    km.stage = stage
                with kernels._lock:
                    kernels.running[stage] = km
                return km

        return Kernel

    def _take(self, stage: str):
        with self._lock:
            thread, km = self.ready.pop(stage, (None, None))
        if thread is None:
            return None
        thread.join()
        proc = getattr(km.provisioner, "process", None)
        if km.has_kernel and (proc is None or proc.poll() is None):
            return km
        self._exit(km)
        return None

    def prestart(self, stages: list[str]) -> None:
        """Start the kernels of ``stages`` (not yet running) and import their modules, in the background."""
        if not self.enabled:
            return
        for stage in stages:
            with self._lock:
                if stage in self.ready or stage in self.running or stage not in PRESTART_IMPORTS:
                    continue
                km = self._base(kernel_name="python3")
                km.stage = stage
                thread = threading.Thread(target=self._prestart, args=(km,), name=f"kernel-{stage}", daemon=True)
                self.ready[stage] = (thread, km)
            thread.start()

    @staticmethod
    def _prestart(km) -> None:
        import asyncio

        code = "\n".join(f"__import__({m!r})" for m in PRESTART_IMPORTS[km.stage])

        async def start():
            await km.start_kernel(extra_arguments=_KERNEL_ARGS)
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=KERNEL_START_TIMEOUT_S)
                msg_id = kc.execute(code, silent=True, store_history=False)
                while await km.is_alive():            # until the imports are done (or the kernel is gone)
                    try:
                        reply = await kc.get_shell_msg(timeout=1)
                    except Exception:                 # noqa: BLE001 - queue.Empty: still importing
                        continue
                    if reply.get("parent_header", {}).get("msg_id") == msg_id:
                        break
            finally:
                kc.stop_channels()

        try:
            asyncio.run(start())
        except Exception:                              # noqa: BLE001 - the stage then starts its own kernel
            pass

    def release(self, stage: str) -> None:
        """After ``stage``'s notebook: its kernel exits in the background."""
        with self._lock:
            km = self.running.pop(stage, None)
        if km is not None:
            self._exit(km)

    def _exit(self, km) -> None:
        import asyncio

        base = self._base

        def shut():
            try:
                if km.has_kernel:
                    km.exit_later = False
                    asyncio.run(super(base, km).shutdown_kernel())     # the real one (not deferred)
            except Exception:                          # noqa: BLE001 - already gone
                pass

        thread = threading.Thread(target=shut, name=f"kernel-exit-{km.stage}", daemon=True)
        thread.start()
        with self._lock:
            self.exiting.append(thread)

    def stop(self, stages: list[str], attempt: int = 0) -> None:
        """Terminate the kernels (and their worker processes) of running ``stages``: SIGTERM, then SIGKILL.

        Kernels run in a session of their own, so a Ctrl-C in the terminal reaches only this process; the
        threads waiting on those kernels end once the kernels are gone (nbclient checks every second).
        """
        import signal

        sig = signal.SIGTERM if attempt == 0 else signal.SIGKILL
        with self._lock:
            kms = [self.running.get(s) for s in stages]
        for km in kms:
            _signal_kernel(km, sig)

    def close(self) -> None:
        """Wait for the kernels exiting; kill the prestarted ones that no stage took."""
        import signal

        with self._lock:
            left, self.ready = list(self.ready.values()), {}
        for _, km in left:
            _signal_kernel(km, signal.SIGKILL)
        for thread, km in left:
            thread.join()
            self._exit(km)
        with self._lock:
            exiting, self.exiting = self.exiting, []
        for thread in exiting:
            thread.join()


def _signal_kernel(km, sig) -> None:
    prov = getattr(km, "provisioner", None)
    pgid = getattr(prov, "pgid", None)
    try:
        if pgid:
            os.killpg(pgid, sig)
        elif getattr(prov, "process", None) is not None:
            prov.process.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass



def check_loopback(timeout: float = 5.0) -> None:
    """Fail at once, in one line, when notebook kernels cannot be reached on 127.0.0.1.

    Kernels talk to the runner over TCP on the loopback interface; without it (interface down, no free
    port) jupyter_client would wait for minutes and then print its own traceback.

    Raises:
        StageError: saying what failed and what to check.
    """
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with socket.create_connection(server.getsockname(), timeout=timeout):
                pass
    except OSError as exc:
        raise StageError(f"the notebook kernels could not start: no TCP connection to 127.0.0.1 is possible "
                         f"({exc.strerror or exc}); check that the loopback interface is up (`ip link set lo "
                         "up`) and that local ports are free") from None


def execute_stage(stage: str, staging: Path, kernels: Kernels) -> float:
    import papermill as pm

    nb = config.STAGES[stage]
    out_nb = staging / "notebooks" / nb
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    out_nb.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(config.NOTEBOOKS_DIR / nb), str(out_nb),
            parameters={"params_file": str(staging / "params.json"), "run_dir": str(staging)},
            kernel_name="python3", progress_bar=False, log_output=False, request_save_on_cell_execute=False,
            start_timeout=KERNEL_START_TIMEOUT_S,
            kernel_manager_class=kernels.manager_class(stage),
        )
    except pm.PapermillExecutionError as exc:
        # The kernel's own message (e.g. a CorpusError) is what the researcher needs to read.
        msg = f"{exc.ename}: {exc.evalue}".strip()
        raise StageError(f"stage '{stage}' ({nb}) failed: {msg} [executed notebook: {out_nb}]") from None
    except Exception as exc:          # noqa: BLE001 - the kernel machinery's own errors: one line instead
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise StageError(f"stage '{stage}' ({nb}): the notebook kernel could not start or stopped "
                         f"answering ({type(exc).__name__}: {first}); its log is "
                         f"{staging / 'logs' / f'{stage}.kernel.log'}") from None
    finally:
        kernels.release(stage)
    return time.perf_counter() - t0


