"""``nextofkin ingest ROOT --engine ray``: the analysis on a Ray cluster, loads in the driver.

The driver registers the export (as the one-machine ingest does), loads any whole shard a
killed run left behind, lists and hashes the pending files once, and hands shards of jobs to a
Ray Data pool of actors. Each actor loads the models once (on a GPU when the cluster has them)
and runs the one-machine ingest's own per-image function (:func:`process_image`), writing one
Parquet shard per batch; given the workspace's score-normalisation cohort (once per actor,
through Ray's object store), it adds each face's nearest cohort similarities (``neighbours``).
The driver streams the finished shards into the records, one transaction each; its caller
then derives owners, index, cohort and calibration under the same lock, as after every ingest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import ConfigError, ImageError, NextOfKinError
from nextofkin.gallery.analysis import ImageResult, init_worker, named, process_image
from nextofkin.gallery.cluster.listing import into_shards, list_pending
from nextofkin.gallery.cluster.loader import FaceLabel, load_shard
from nextofkin.gallery.cluster.neighbours import PendingNeighbours, ShardCohort
from nextofkin.gallery.cluster.shards import (
    ShardJob,
    ShardRow,
    finished_shards,
    jobs_from_json,
    jobs_to_json,
    read_shard,
    shard_name,
    write_shard,
)
from nextofkin.gallery.embedder import resolve_embedder, workspace_vision
from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.ingest import IngestReport, ProgressFn
from nextofkin.gallery.records import Source
from nextofkin.gallery.registration import (
    failures_of,
    pending_by_path,
    register_export,
    upsert_source,
)
from nextofkin.i18n import _
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import read_bytes, sha256_of
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


class ShardAnalyser:
    """A Ray Data actor: models loaded once, then one Parquet shard per batch of jobs."""

    def __init__(self, vision_json: str, shard_dir: str, cohort: Any = None) -> None:
        self.vision = VisionSettings.model_validate_json(vision_json)
        self.shard_dir = Path(shard_dir)
        # The cohort travels once per actor, through the object store (a reference here).
        self.cohort: ShardCohort | None = None
        if cohort is not None:
            import ray

            self.cohort = ray.get(cohort)
        init_worker(self.vision)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Analyse every shard of ``batch`` (one, as the engine sends them); name them back."""
        names, images = [], []
        for text in batch["jobs"]:
            jobs = jobs_from_json(str(text))
            rows = [self._row(job) for job in jobs]
            name = shard_name(jobs)
            write_shard(self.shard_dir, name, rows)
            names.append(name)
            images.append(len(rows))
        return {"shard": np.asarray(names), "images": np.asarray(images)}

    def _row(self, job: ShardJob) -> ShardRow:
        result = self._analyse(job)
        if self.cohort is None or not result.faces:
            return ShardRow(result, job.photo_ids)
        vectors = np.stack([np.asarray(f.embedding, dtype=np.float32) for f in result.faces])
        positions, similarities = self.cohort.nearest(vectors)
        return ShardRow(result, job.photo_ids, self.cohort.cohort_id, positions, similarities)

    def _analyse(self, job: ShardJob) -> ImageResult:
        try:
            data = read_bytes(Path(job.path), self.vision.max_bytes)
        except ImageError as exc:
            return ImageResult(job.sha256, job.path, 0, error=named(job.path, str(exc)))
        if sha256_of(data) != job.sha256:
            message = "the file changed after the export was listed; ingest again"
            return ImageResult(job.sha256, job.path, len(data), error=named(job.path, message))
        return process_image(job.sha256, job.path, data, self.vision.max_pixels)


@dataclass(frozen=True)
class RayOptions:
    """Where and how the analysis runs: the cluster, the actors, the cohort they get."""

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 1.0
    cohort: ShardCohort | None = None


@dataclass(frozen=True)
class _Run:
    """One cluster ingest's fixed context, and the loading of its shards into the records."""

    workspace: Workspace
    source_id: int
    root: Path
    shard_dir: Path
    label: FaceLabel
    vision: VisionSettings
    report: IngestReport

    def load(self, path: Path) -> int:
        """Load one shard file in one transaction, then delete it; the postings it settled."""
        rows = read_shard(path)
        with self.workspace.session() as session:
            loaded = load_shard(session, path.stem, self.source_id, rows, self.label)
        if loaded.neighbours is not None:
            # After the commit: lists of faces a failed load never stored would only be unused.
            PendingNeighbours.of(self.workspace).save(path.stem, loaded.neighbours)
        if not loaded.skipped:
            self.report.images_processed += len(rows)
            self.report.faces_added += loaded.faces
            self.report.duplicates_linked += loaded.linked
        path.unlink(missing_ok=True)
        return sum(len(r.photo_ids) for r in rows)


class _Progress:
    """Counts settled postings and reports them to the caller's progress function."""

    def __init__(self, progress: ProgressFn | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0
        if progress:
            progress(0, total)

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total)


def cluster_ingest(
    workspace: Workspace,
    root: Path,
    *,
    address: str | None = None,
    source_name: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    layout: str = "auto",
    cohort: ShardCohort | None = None,
) -> IngestReport:
    """Ingest ``root`` with the analysis on Ray (see the module docstring).

    ``address`` names a running cluster (``host:port``); without it (and without
    ``NEXTOFKIN_CLUSTER__ADDRESS``) Ray runs locally with ``workers`` CPUs. ``workers`` is the
    number of analysis actors (default: the cluster's CPUs, or its GPUs when it has them).
    ``cohort``: the workspace's score-normalisation cohort, when it has one; the actors then
    write each face's nearest cohort similarities into the shards (``neighbours.py``).
    The caller holds the ingest lock and derives the index after
    (``nextofkin.identify.derived.derive_after`` does both).
    """
    started = time.monotonic()
    run = _start(workspace, root, source_name, layout)
    # Whole shards a killed run wrote but did not load: loaded now, not analysed again.
    for path in finished_shards(run.shard_dir):
        run.load(path)
    with workspace.session() as session:
        pending = pending_by_path(session, session.get_one(Source, run.source_id), run.root)
    tick = _Progress(progress, len(pending))
    with workspace.session() as session:
        listing = list_pending(session, pending, run.vision.max_bytes, tick)
    run.report.duplicates_linked += listing.linked
    cluster = workspace.settings.cluster
    shards = into_shards(listing.jobs, cluster.shard_images)
    options = RayOptions(address or cluster.address, workers, cluster.gpus_per_worker, cohort)
    _analyse_all(run, {shard_name(jobs): jobs for jobs in shards}, options, tick)
    # A killed run's actor may have finished, late, a shard this run redid: loaded or skipped.
    for path in finished_shards(run.shard_dir):
        run.load(path)
    run.report.failures = failures_of(workspace, run.source_id)
    run.report.seconds = round(time.monotonic() - started, 2)
    return run.report


def _start(workspace: Workspace, root: Path, source_name: str | None, layout: str) -> _Run:
    """Register the export's accounts and postings, as the one-machine ingest does."""
    root = root.expanduser().resolve()
    export = read_export(root, layout)
    embedder = resolve_embedder(workspace)
    vision = workspace_vision(workspace, embedder)
    report = IngestReport(source=source_name or root.name, layout=export.layout)
    with workspace.session() as session:
        source = upsert_source(session, report.source, root, export.layout)
        report.accounts_added, report.photos_added = register_export(session, source, export)
        source_id = source.id
    base = workspace.settings.cluster.shard_dir or workspace.home / "cluster" / "shards"
    label = FaceLabel(embedder.spec.name, embedder.spec.alignment, vision.detector)
    return _Run(workspace, source_id, root, base / str(source_id), label, vision, report)


def _analyse_all(
    run: _Run, planned: dict[str, list[ShardJob]], options: RayOptions, tick: _Progress
) -> None:
    """Analyse and load every planned shard: each one is accounted for, or the run fails."""
    for _attempt in range(3):
        if not planned:
            return
        for name in _run_on_ray(list(planned.values()), run.vision, run.shard_dir, options):
            if planned.pop(name, None) is not None:
                tick(run.load(run.shard_dir / f"{name}.parquet"))
        # A shard Ray did not report may still have been written whole.
        for name in [n for n in planned if (run.shard_dir / f"{n}.parquet").exists()]:
            log.warning("shard %s was written but not reported by Ray: loading it", name)
            del planned[name]
            tick(run.load(run.shard_dir / f"{name}.parquet"))
        if planned:
            log.warning("%d shards were not analysed; trying them again", len(planned))
    if planned:
        raise NextOfKinError(
            _(
                "%(n_planned)s shards of the cluster ingest were not analysed (see the "
                "Ray logs); run the ingest again: what was loaded stays loaded",
                n_planned=len(planned),
            )
        )


def _run_on_ray(
    shards: list[list[ShardJob]], vision: VisionSettings, shard_dir: Path, options: RayOptions
) -> Any:
    """Yield each shard's name as its actor finishes it (Ray Data streams the results)."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            _(
                "the ray engine needs Ray: pip install 'nextofkin[cluster]' (ray, pyarrow)",
            )
        ) from exc
    shard_dir.mkdir(parents=True, exist_ok=True)
    started_here = not ray.is_initialized()
    if options.address:
        ray.init(address=options.address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            num_cpus=max(1, options.workers or 1),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            object_store_memory=128 * 1024**2,
        )
    try:
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        gpus, per_actor = float(resources.get("GPU", 0)), options.gpus_per_worker
        use_gpu = gpus > 0 and per_actor > 0
        capacity = int(gpus // per_actor) if use_gpu else int(resources.get("CPU", 1))
        actors = max(1, min(options.workers or capacity, capacity, len(shards)))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        items = [{"jobs": jobs_to_json(jobs)} for jobs in shards]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardAnalyser,
            fn_constructor_kwargs={
                "vision_json": vision.model_dump_json(),
                "shard_dir": str(shard_dir),
                "cohort": ray.put(options.cohort) if options.cohort is not None else None,
            },
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=actors),  # a fixed pool
            num_cpus=1,
            num_gpus=per_actor if use_gpu else 0,
        )
        log.info("cluster ingest: %d shards on %d actors (GPU: %s)", len(items), actors, use_gpu)
        for row in dataset.iter_rows():
            yield str(row["shard"])
    finally:
        if started_here:
            ray.shutdown()
