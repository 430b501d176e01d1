"""The database and the index stay consistent when the process is killed mid-reindex or mid-purge.

A child process rebuilds (or purges) and is SIGKILLed at several moments; after each kill the
index must open (old or new, never half-written) and one reconcile must make it hold exactly
the database's faces, with purged faces never returned by a search.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from synthetic import populate

from nextofkin.gallery.index import FaissIndex, reconcile
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.records import Account, Face
from nextofkin.identify.derived import refresh_derived
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent

PURGE_SCRIPT = """
import sys
from nextofkin.identify.derived import refresh_derived
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace
from synthetic import purge_accounts

ws = Workspace.open(Settings.load())
for name in sys.argv[1:]:
    purge_accounts(ws, [name])   # the records, in one transaction
    refresh_derived(ws)          # then the index (tombstones on HNSW) and the calibration
    print(name, flush=True)
"""


def _env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "NEXTOFKIN_HOME": str(settings.home),
        "PYTHONPATH": str(HERE),
        "OMP_NUM_THREADS": "1",
    }
    if settings.database_url:
        env["NEXTOFKIN_DATABASE_URL"] = settings.database_url
    return env


def _check_consistent(ws: Workspace) -> FaissIndex:
    """The index opens, and after one reconcile holds exactly the database's faces."""
    index = FaissIndex.open(ws.index_dir, embedder_spec(ws), policy=ws.settings.index)
    with ws.session() as session:
        reconcile(index, session)
        db_ids = set(session.scalars(select(Face.id)))
    assert set(index.ids().tolist()) == db_ids
    assert len(index) == len(db_ids)
    index.save()
    again = open_index(ws)
    assert set(again.ids().tolist()) == db_ids
    return index


def _kill_after(
    cmd: list[str], env: dict[str, str], seconds: float, when_file: Path | None = None
) -> bool:
    """Run ``cmd``, SIGKILL it after ``seconds`` (or as soon as a file matching ``when_file``
    appears); True if it was still running then."""
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if when_file is not None and any(when_file.parent.glob(when_file.name)):
            break
        time.sleep(0.002 if when_file is not None else 0.02)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive


def test_kill_mid_reindex_leaves_a_whole_index(settings: Settings) -> None:
    ws = Workspace.open(settings)
    try:
        gallery = populate(ws, 2000, 3, seed=21)
        refresh_derived(ws)
        env = _env(settings)

        def reindex(factory: str) -> list[str]:
            return [sys.executable, "-m", "nextofkin", "reindex", "--factory", factory]

        started = time.monotonic()
        subprocess.run(reindex("HNSW32,Flat"), env=env, check=True, capture_output=True)
        full = time.monotonic() - started
        kills = 0
        # Killed at moments through the build, and once while the new data file is being written.
        plans = [(0.4, None), (0.7, None), (0.9, None), (10 * full, "faces-*.faiss.tmp")]
        for i, (fraction, pattern) in enumerate(plans):
            factory = "HNSW24,Flat" if i % 2 else "HNSW32,Flat"
            watch = ws.index_dir / pattern if pattern else None
            kills += _kill_after(reindex(factory), env, full * fraction, watch)
            index = _check_consistent(ws)
            assert index.description.factory in ("HNSW24,Flat", "HNSW32,Flat")
            name = sorted(gallery.faces)[i]
            _, found = index.search(gallery.centres[name][None, :], 3)
            assert set(found[0].tolist()) == set(gallery.faces[name])
        assert kills >= 2, "the reindex finished too fast to be killed; use more faces"
    finally:
        ws.close()


def test_kill_mid_purge_then_reconcile(settings: Settings) -> None:
    ws = Workspace.open(settings)
    try:
        gallery = populate(ws, 1500, 3, seed=22)
        refresh_derived(ws)
        env = _env(settings)
        subprocess.run(
            [sys.executable, "-m", "nextofkin", "reindex", "--factory", "HNSW32,Flat"],
            env=env,
            check=True,
            capture_output=True,
        )
        names = sorted(gallery.faces)
        victims = names[:40]
        purged: set[str] = set()
        # Killed after the k-th purge finished, a little into the next one (records or index).
        for after, extra in ((1, 0.0), (2, 0.05), (3, 0.3)):
            todo = [n for n in victims if n not in purged]
            proc = subprocess.Popen(
                [sys.executable, "-c", PURGE_SCRIPT, *todo],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
            assert proc.stdout is not None
            for _ in range(after):
                proc.stdout.readline()
            time.sleep(extra)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            with ws.session() as session:
                present = set(session.scalars(select(Account.external_id)))
                # A purge is one transaction: an account is wholly there or wholly gone.
                for name in victims:
                    faces = session.scalar(
                        select(func.count(Face.id)).where(Face.id.in_(gallery.faces[name]))
                    )
                    assert faces == (3 if name in present else 0)
            purged |= set(victims) - present
            index = _check_consistent(ws)
            gone = [f for n in purged for f in gallery.faces[n]]
            probes = np.stack(
                [gallery.centres[n] for n in sorted(purged)] or [gallery.centres[names[-1]]]
            )
            _, found = index.search(probes, 20)
            assert not set(found.ravel().tolist()) & set(gone)
        assert purged, "no purge committed before the kills; raise the delays"
    finally:
        ws.close()
