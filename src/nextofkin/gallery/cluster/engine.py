"""``nextofkin ingest ROOT --engine ray``: the analysis on a Ray cluster, loads in the driver.

The driver registers the export (as the one-machine ingest does), loads any whole shard a
killed run left behind, lists and hashes the pending files once, and hands shards of jobs to a
Ray Data pool of actors. Each actor loads the models once (on a GPU when the cluster has them)
and runs the one-machine ingest's own per-image function (:func:`process_image`), writing one
Parquet shard per batch. The driver streams the finished shards into the records, one
transaction each; its caller then derives owners, index, cohort and calibration under the same
lock, as after every ingest.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import ConfigError, ImageError, NextOfKinError
from nextofkin.gallery.analysis import ImageResult, init_worker, named, process_image
from nextofkin.gallery.cluster.listing import into_shards, list_pending
from nextofkin.gallery.cluster.loader import FaceLabel, load_shard
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

    def __init__(self, vision_json: str, shard_dir: str) -> None:
        self.vision = VisionSettings.model_validate_json(vision_json)
        self.shard_dir = Path(shard_dir)
        init_worker(self.vision)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Analyse every shard of ``batch`` (one, as the engine sends them); name them back."""
        names, images = [], []
        for text in batch["jobs"]:
            jobs = jobs_from_json(str(text))
            rows = [ShardRow(self._analyse(job), job.photo_ids) for job in jobs]
            name = shard_name(jobs)
            write_shard(self.shard_dir, name, rows)
            names.append(name)
            images.append(len(rows))
        return {"shard": np.asarray(names), "images": np.asarray(images)}

    def _analyse(self, job: ShardJob) -> ImageResult:
        try:
            data = read_bytes(Path(job.path), self.vision.max_bytes)
        except ImageError as exc:
            return ImageResult(job.sha256, job.path, 0, error=named(job.path, str(exc)))
        if sha256_of(data) != job.sha256:
            message = "the file changed after the export was listed; ingest again"
            return ImageResult(job.sha256, job.path, len(data), error=named(job.path, message))
        return process_image(job.sha256, job.path, data, self.vision.max_pixels)


def cluster_ingest(
    workspace: Workspace,
    root: Path,
    *,
    address: str | None = None,
    source_name: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    layout: str = "auto",
) -> IngestReport:
    """Ingest ``root`` with the analysis on Ray (see the module docstring).

    ``address`` names a running cluster (``host:port``); without it (and without
    ``NEXTOFKIN_CLUSTER__ADDRESS``) Ray runs locally with ``workers`` CPUs. ``workers`` is the
    number of analysis actors (default: the cluster's CPUs, or its GPUs when it has them).
    The caller holds the ingest lock and derives the index after
    (``nextofkin.identify.derived.derive_after`` does both).
    """
    return _cluster_ingest(workspace, root, address, source_name, workers, progress, layout)


def _cluster_ingest(
    workspace: Workspace,
    root: Path,
    address: str | None,
    source_name: str | None,
    workers: int | None,
    progress: ProgressFn | None,
    layout: str,
) -> IngestReport:
    started = time.monotonic()
    settings = workspace.settings
    root = root.expanduser().resolve()
    export = read_export(root, layout)
    embedder = resolve_embedder(workspace)
    vision = workspace_vision(workspace, embedder)
    label = FaceLabel(embedder.spec.name, embedder.spec.alignment, vision.detector)
    report = IngestReport(source=source_name or root.name, layout=export.layout)
    with workspace.session() as session:
        source = upsert_source(session, report.source, root, export.layout)
        report.accounts_added, report.photos_added = register_export(session, source, export)
        source_id = source.id
    shard_dir = (settings.cluster.shard_dir or workspace.home / "cluster" / "shards") / str(
        source_id
    )
    # Whole shards a killed run wrote but did not load: loaded now, not analysed again.
    for path in finished_shards(shard_dir):
        _load_file(workspace, path, source_id, label, report)
    with workspace.session() as session:
        pending = pending_by_path(session, session.get_one(type(source), source_id), root)
    total, done = len(pending), 0

    def tick(n: int = 1) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    if progress:
        progress(0, total)
    with workspace.session() as session:
        listing = list_pending(session, pending, vision.max_bytes, tick)
    report.duplicates_linked += listing.linked
    shards = into_shards(listing.jobs, settings.cluster.shard_images)
    planned = {shard_name(jobs): jobs for jobs in shards}
    for _attempt in range(3):
        if not planned:
            break
        for name in _run_on_ray(list(planned.values()), vision, shard_dir,
                                address or settings.cluster.address, workers,
                                settings.cluster.gpus_per_worker):  # fmt: skip
            if planned.pop(name, None) is not None:
                tick(_load_file(workspace, shard_dir / f"{name}.parquet", source_id, label, report))
        # A shard Ray did not report may still have been written whole.
        for name in [n for n in planned if (shard_dir / f"{n}.parquet").exists()]:
            del planned[name]
            tick(_load_file(workspace, shard_dir / f"{name}.parquet", source_id, label, report))
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
    report.failures = failures_of(workspace, source_id)
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _load_file(
    workspace: Workspace, path: Path, source_id: int, label: FaceLabel, report: IngestReport
) -> int:
    """Load one shard file in one transaction, then delete it; returns the postings it settled."""
    rows = read_shard(path)
    with workspace.session() as session:
        loaded = load_shard(session, path.stem, source_id, rows, label)
    if not loaded.skipped:
        report.images_processed += len(rows)
        report.faces_added += loaded.faces
        report.duplicates_linked += loaded.linked
    path.unlink(missing_ok=True)
    return sum(len(r.photo_ids) for r in rows)


def _run_on_ray(
    shards: list[list[ShardJob]],
    vision: VisionSettings,
    shard_dir: Path,
    address: str | None,
    workers: int | None,
    gpus_per_worker: float,
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
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            num_cpus=max(1, workers or 1),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            object_store_memory=128 * 1024**2,
        )
    try:
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        gpus = float(resources.get("GPU", 0))
        use_gpu = gpus > 0 and gpus_per_worker > 0
        capacity = int(gpus // gpus_per_worker) if use_gpu else int(resources.get("CPU", 1))
        actors = max(1, min(workers or capacity, capacity, len(shards)))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        items = [{"jobs": jobs_to_json(jobs)} for jobs in shards]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardAnalyser,
            fn_constructor_kwargs={
                "vision_json": vision.model_dump_json(),
                "shard_dir": str(shard_dir),
            },
            batch_size=1,
            concurrency=actors,
            num_cpus=1,
            num_gpus=gpus_per_worker if use_gpu else 0,
        )
        log.info("cluster ingest: %d shards on %d actors (GPU: %s)", len(items), actors, use_gpu)
        for row in dataset.iter_rows():
            yield str(row["shard"])
    finally:
        if started_here:
            ray.shutdown()
