"""The order stages run in: each once its upstream stages are done, a bounded number at a time."""

from __future__ import annotations

import threading

from analysis import config

__all__ = ["run_stages"]


def run_stages(todo: list[str], run_one, at_once: int, log, summary=lambda stage: "",
               abort=lambda stages, attempt: None, prepare=lambda stages: None,
               note=lambda stage: "") -> dict[str, float]:
    """Run the stages ``todo`` with ``run_one(stage) -> seconds``, each once its upstream stages are done.

    A stage starts as soon as none of its upstream stages (``config.UPSTREAM``) is still to run, at most
    ``at_once`` at a time, in stage order among those ready: with 2, topics and actors (both read
    only the corpus stage's tables) run side by side. Each stage's notebook runs in its own kernel
    process, so a table does not depend on which stages ran beside it. After a failure no further
    stage starts and the ones running are stopped (``abort``), then the first failure is raised. Each time stages start, ``prepare(stages)`` is called
    with the stages still to run whose upstream stages have all started: the next to start, whose
    kernels can be readied meanwhile. Progress lines go to
    ``log`` from this thread only, with ``note(stage)`` (when not empty) as a stage starts and
    ``summary(stage)`` after each stage that finished. Interrupted
    here (Ctrl-C), it calls ``abort(running stages, attempt)`` every 2 s until their threads end,
    and re-raises.

    Returns:
        Seconds per executed stage, in stage order.
    """
    import queue

    order = {s: i for i, s in enumerate(config.STAGES)}
    pending = sorted(todo, key=order.get)
    threads: dict[str, threading.Thread] = {}       # the stages started and not yet collected
    finished: queue.Queue = queue.Queue()
    seconds: dict[str, float] = {}
    failure: BaseException | None = None
    stop_round = 0                                   # abort's attempt: SIGTERM first, then harder
    started: set[str] = set()

    def work(stage: str) -> None:
        try:
            finished.put((stage, run_one(stage), None))
        except BaseException as exc:                 # noqa: BLE001 - handed to the main thread
            finished.put((stage, None, exc))

    def alive() -> list[str]:
        return sorted((s for s, t in threads.items() if t.is_alive()), key=order.get)

    def stop(stages: list[str]) -> None:
        nonlocal stop_round
        abort(stages, stop_round)
        stop_round += 1

    try:
        while pending or threads:
            busy = set(pending) | set(threads)
            for stage in [s for s in pending if not busy & set(config.UPSTREAM[s])][:max(0, at_once - len(threads))]:
                pending.remove(stage)
                log(f"[{stage}] running {config.STAGES[stage]} ...")
                if line := note(stage):
                    log(f"[{stage}] {line}")
                threads[stage] = threading.Thread(target=work, args=(stage,), name=f"stage-{stage}")
                threads[stage].start()
                started.add(stage)
            if nxt := [s for s in pending if set(config.UPSTREAM[s]) & set(todo) <= started]:
                prepare(nxt)
            if not threads:                          # nothing can start: only after a failure
                break
            while True:       # with a timeout: a Ctrl-C is acted on within half a second
                try:
                    stage, secs, exc = finished.get(timeout=0.5)
                    break
                except queue.Empty:
                    # after a failure, again: a kernel still starting when it came is stopped now
                    if failure is not None and (running := alive()):
                        stop(running)
            threads.pop(stage).join()
            if exc is not None:
                if failure is None:                  # the run has failed: stop the others, start nothing
                    failure = exc
                    if others := alive():
                        log(f"[{stage}] failed; stopping {', '.join(others)}")
                        stop(others)
                pending.clear()
                continue
            seconds[stage] = secs
            log(f"[{stage}] done in {secs:.1f} s")
            if line := summary(stage):
                log(f"[{stage}] {line}")
    except BaseException:
        # interrupted: stop what runs, every 2 s (a kernel that started late is caught next round)
        while running := alive():
            stop(running)
            for s in running:
                threads[s].join(timeout=2 / len(running))
        raise
    if failure is not None:
        raise failure
    return dict(sorted(seconds.items(), key=lambda kv: order[kv[0]]))


