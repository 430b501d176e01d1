"""A bounded pool of probe-analysis processes, each search with a time and a memory budget.

One uploaded photo must not stop the others' searches. Each search's probe analysis runs in one
of ``search.workers`` processes (models loaded once per process). The memory budget is the
kernel's: after loading its models a worker caps its own address space (``RLIMIT_AS``) at what it
holds plus ``memory_budget_mb``, so an allocation beyond it fails inside that worker only. The
time budget is the parent's: a search not answered within ``time_budget_s`` has its worker
killed (SIGKILL: a stuck C++ loop cannot be interrupted any other way) and replaced. Either way
that search ends with :class:`OverBudget` and the other workers go on serving. When every worker
is busy, a search waits up to ``queue_wait_s`` for one, then gets :class:`Busy` (503).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from nextofkin.errors import Busy, ModelError, OverBudget
from nextofkin.i18n import current_language, gettext, use_language
from nextofkin.identify.service import ProbeAnalysis, analyse_probes
from nextofkin.processes import die_with_parent
from nextofkin.settings import SearchSettings, VisionSettings
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry

log = logging.getLogger(__name__)

# What a worker holds: the face pipeline in service, whatever a test's stand-in loads otherwise.
P = TypeVar("P")
# What a worker runs per search: (its pipeline, photo paths, vision settings) -> analyses.
Task = Callable[[P, list[str], VisionSettings], list[ProbeAnalysis]]
# How a worker loads its pipeline once, at start.
Loader = Callable[[VisionSettings], P]


def analyse_task(
    pipeline: FacePipeline, photos: list[str], vision: VisionSettings
) -> list[ProbeAnalysis]:
    """The real task: decode each photo and find its face (see :func:`analyse_probes`)."""
    return analyse_probes(
        pipeline,
        [Path(p) for p in photos],
        max_pixels=vision.max_pixels,
        max_bytes=vision.max_bytes,
    )


def load_pipeline(vision: VisionSettings) -> FacePipeline:
    """The worker's face pipeline with every model loaded, so its memory is counted before the
    budget is set (the models load lazily, on first use)."""
    pipeline = FacePipeline.from_settings(vision, default_registry(vision))
    with contextlib.suppress(Exception):  # a blank photo runs every model: NoFaceFound
        pipeline.analyse_probe(np.full((200, 200, 3), 128, dtype=np.uint8))
    return pipeline


def _address_space() -> int:
    """This process's current virtual memory size in bytes (Linux), or 0 when unknown."""
    try:
        with Path("/proc/self/statm").open() as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _serve(
    conn: Connection,
    vision: VisionSettings,
    parent_pid: int,
    memory_budget: int,
    loader: Loader[P],
    task: Task[P],
) -> None:
    """A worker's life: load the models, cap the memory, then answer one search at a time."""
    die_with_parent(parent_pid, deathsig=False)  # started from a request thread: watchdog only
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(vision.threads)
    try:
        pipeline = loader(vision)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    base = _address_space()
    if base and memory_budget:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = base + memory_budget
        if hard == resource.RLIM_INFINITY or limit <= hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    conn.send(("ready", base))
    while True:
        try:
            language, photos = conn.recv()
        except (EOFError, OSError):
            return  # the pool closed our pipe: the server is stopping
        try:
            # The messages of a search (no face, unreadable photo) are made here, in the
            # language of the request that asked: the context variable does not cross processes.
            with use_language(language):
                conn.send(("done", task(pipeline, photos, vision)))
        except MemoryError:
            # Over the address-space cap. Start afresh rather than go on with a heap that may
            # be fragmented or half-freed by the failure.
            conn.send(("memory", None))
            return


@dataclass(eq=False)  # identity, not value: workers live in a set
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False


class ProbePool(Generic[P]):
    """``search.workers`` probe-analysis processes shared by every request of a server.

    Generic in what a worker loads: :func:`model_pool` gives the real one (the face pipeline and
    :func:`analyse_task`); tests pass a stand-in loader and task of their own.
    """

    def __init__(
        self, vision: VisionSettings, budget: SearchSettings, *, task: Task[P], loader: Loader[P]
    ) -> None:
        self.vision = vision
        self.budget = budget
        self._task = task
        self._loader = loader
        self._context = get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._closed = False
        for _ in range(budget.workers):
            self._idle.put(self._start())

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve,
            args=(
                child,
                self.vision,
                os.getpid(),
                self.budget.memory_budget_mb * 1024 * 1024,
                self._loader,
                self._task,
            ),
            name="nextofkin-search",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and put a fresh one (loading its models) in its place."""
        with self._lock:
            self._workers.discard(worker)
            closed = self._closed
        _kill(worker)
        if not closed:
            self._idle.put(self._start())

    def _wait_ready(self, worker: _Worker) -> None:
        if worker.ready:
            return
        if not worker.conn.poll(self.budget.start_timeout_s):
            self._replace(worker)
            raise ModelError(gettext("a search worker did not load the face models in time"))
        try:
            kind, detail = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._replace(worker)
            raise ModelError(gettext("a search worker died while loading the face models")) from exc
        if kind != "ready":
            self._replace(worker)
            raise ModelError(
                gettext(
                    "a search worker could not load the face models (%(detail)s)", detail=detail
                )
            )
        worker.ready = True

    def analyse(self, photos: Sequence[Path]) -> list[ProbeAnalysis]:
        """Analyse ``photos`` in a free worker, within the time and memory budget."""
        if self._closed:
            raise Busy(gettext("the search workers are shutting down"), retry_after=10)
        try:
            worker = self._idle.get(timeout=self.budget.queue_wait_s)
        except queue.Empty:
            raise Busy(
                gettext(
                    "all %(workers)s search workers are busy; try again shortly",
                    workers=self.budget.workers,
                ),
                retry_after=max(1, round(self.budget.queue_wait_s)),
            ) from None
        names = ", ".join(Path(p).name for p in photos) or "no photo"
        self._wait_ready(worker)
        started = time.monotonic()
        try:
            worker.conn.send((current_language(), [str(p) for p in photos]))
            answered = worker.conn.poll(self.budget.time_budget_s)
            reply = worker.conn.recv() if answered else None
        except (EOFError, OSError):
            reply = ("died", None)
        if reply is None:
            log.warning("search of %s over its time budget: worker killed", names)
            self._replace(worker)
            raise OverBudget(
                gettext(
                    "the search of %(names)s took more than its %(time_budget_s)g s budget "
                    "and was stopped; other searches were not affected",
                    names=names,
                    time_budget_s=self.budget.time_budget_s,
                )
            )
        kind, payload = reply
        if kind != "done":
            log.warning("search of %s ended by its worker (%s): worker replaced", names, kind)
            self._replace(worker)
            raise OverBudget(
                gettext(
                    "the search of %(names)s needed more than its %(limit)s MB memory budget "
                    "and was stopped; other searches were not affected",
                    names=names,
                    limit=self.budget.memory_budget_mb,
                )
                if kind == "memory"
                else gettext(
                    "the search of %(names)s stopped its worker (a crash, or out of memory); "
                    "other searches were not affected",
                    names=names,
                )
            )
        self._idle.put(worker)
        log.debug("probe analysis of %s: %.2f s", names, time.monotonic() - started)
        result: list[ProbeAnalysis] = payload
        return result

    def close(self) -> None:
        """Stop every worker (the server is stopping)."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
        for worker in workers:
            _kill(worker)


def _kill(worker: _Worker) -> None:
    with contextlib.suppress(OSError):
        worker.conn.close()
    if worker.process.is_alive() and worker.process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.join(timeout=5)


def model_pool(vision: VisionSettings, budget: SearchSettings) -> ProbePool[FacePipeline]:
    """The server's pool: each worker loads the face pipeline and analyses probe photos."""
    return ProbePool(vision, budget, task=analyse_task, loader=load_pipeline)
