"""The Ray engine on a real local cluster gives the one-machine ingest's records and answers.

Needs a running cluster: ``scripts/test.sh`` starts one (``scripts/ray-cluster.sh``: a head and
one worker on this machine, token authentication) and sets ``NEXTOFKIN_TEST_RAY_ADDRESS``;
without it these tests are skipped. Both ingests run as the CLI in subprocesses, the cluster one
also killed (SIGKILL) mid-run and rerun.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lfw_gallery import BuiltGallery, build
from nextofkin.identify.normalise import CohortStore

pytestmark = [pytest.mark.cluster, pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]

# Small shards, so that a 60-image gallery spreads over both nodes and a kill lands mid-run.
SHARD_IMAGES = "6"


@pytest.fixture(scope="module")
def ray_env() -> dict[str, str]:
    """The environment a driver needs to reach the test cluster (skip when there is none)."""
    address = os.environ.get("NEXTOFKIN_TEST_RAY_ADDRESS")
    if not address:
        pytest.skip("no Ray cluster: run through scripts/test.sh (scripts/ray-cluster.sh)")
    ray_dir = Path(os.environ.get("NEXTOFKIN_RAY_DIR", f"/tmp/nok-ray-{os.getuid()}"))
    return {
        **os.environ,
        "NEXTOFKIN_CLUSTER__ADDRESS": address,
        "NEXTOFKIN_CLUSTER__SHARD_IMAGES": SHARD_IMAGES,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(ray_dir / "auth_token"),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="module")
def local_run(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltGallery, Path]:
    """One LFW gallery and its one-machine ingest (two worker processes, two cores)."""
    base = tmp_path_factory.mktemp("cluster")
    gallery = build(lfw_dir, base / "gallery", owners=12, distractors=30, seed=7)
    workspace = base / "local"
    subprocess.run(_cli(workspace, "ingest", str(gallery.root), "-j", "2"), check=True,
                   capture_output=True)  # fmt: skip
    return gallery, workspace


def _cli(workspace: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "nextofkin", "-w", str(workspace), *args]


def _records(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Faces (by content and ordinal, not by id), owner roles and postings, comparable."""
    with sqlite3.connect(db) as conn:
        faces = conn.execute(
            "select i.sha256, f.ordinal, f.left, f.top, f.right, f.bottom, f.landmarks, "
            "f.detection_score, f.quality, f.rotation, f.model, f.embedding from faces f "
            "join images i on i.id = f.image_id order by 1, 2"
        ).fetchall()
        roles = conn.execute(
            "select a.external_id, i.sha256, f.ordinal, r.role from face_roles r "
            "join faces f on f.id = r.face_id join images i on i.id = f.image_id "
            "join accounts a on a.id = r.account_id order by 1, 2, 3"
        ).fetchall()
        photos = conn.execute(
            "select p.rel_path, a.external_id, p.status, p.error, i.sha256 from photos p "
            "join accounts a on a.id = p.account_id left join images i on i.id = p.image_id "
            "order by 1, 2"
        ).fetchall()
    return {"faces": faces, "roles": roles, "photos": photos}


def _assert_same_records(local: Path, cluster: Path) -> None:
    ours, theirs = _records(local / "nextofkin.db"), _records(cluster / "nextofkin.db")
    # Postings first: a difference there names the photo and its error.
    assert ours["photos"] == theirs["photos"]
    assert len(ours["faces"]) == len(theirs["faces"]) > 50
    for a, b in zip(ours["faces"], theirs["faces"], strict=True):
        assert a[:11] == b[:11]
        diff = np.abs(np.frombuffer(a[11], "<f4") - np.frombuffer(b[11], "<f4")).max()
        assert diff <= 1e-6
    assert ours["roles"] == theirs["roles"]


def _identify(workspace: Path, photo: Path) -> list[str]:
    """The top candidates ``nextofkin identify`` names for ``photo`` (accounts, in order)."""
    import json

    env = {**os.environ, "NEXTOFKIN_USER": "ana"}
    out = subprocess.run(
        _cli(workspace, "identify", str(photo), "--case", "T-1", "--top", "5", "--json"),
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    data = json.loads(out.stdout)
    return [f"{c['account']}:{c['score']}:{c['decision']}" for c in data["candidates"]]


def _users(workspace: Path) -> None:
    subprocess.run(_cli(workspace, "user", "add", "chief", "--role", "admin"), check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(_cli(workspace, "user", "add", "ana", "--role", "investigator"), check=True,
                   capture_output=True, env={**os.environ, "NEXTOFKIN_USER": "chief"})  # fmt: skip


def test_cluster_ingest_equals_one_machine(
    local_run: tuple[BuiltGallery, Path], ray_env: dict[str, str], tmp_path: Path
) -> None:
    gallery, local = local_run
    cluster = tmp_path / "cluster"
    done = subprocess.run(
        _cli(cluster, "ingest", str(gallery.root), "--engine", "ray", "--json"),
        capture_output=True, text=True, env=ray_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same_records(local, cluster)
    for ws in (local, cluster):
        _users(ws)
    for account, photo in sorted(gallery.held_out.items())[:2]:
        answers = _identify(local, photo)
        assert answers and answers == _identify(cluster, photo)
        assert answers[0].split(":")[0] == account


def _loaded_shards(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("select count(*) from cluster_shards").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_driver_killed_mid_run_then_rerun_is_exact(
    local_run: tuple[BuiltGallery, Path], ray_env: dict[str, str], tmp_path: Path
) -> None:
    gallery, local = local_run
    cluster = tmp_path / "killed"
    command = _cli(cluster, "ingest", str(gallery.root), "--engine", "ray", "--json")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=ray_env)  # fmt: skip
    db = cluster / "nextofkin.db"
    deadline = time.monotonic() + 300
    while _loaded_shards(db) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    loaded = _loaded_shards(db)
    assert loaded >= 1
    rerun = subprocess.run(command, capture_output=True, text=True, env=ray_env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        statuses = dict(conn.execute("select status, count(*) from photos group by 1").fetchall())
    left = sorted(p.name for p in (cluster / "cluster" / "shards").rglob("*"))
    assert "pending" not in statuses, (statuses, left, rerun.stderr[-3000:])
    _assert_same_records(local, cluster)
    # The shards loaded before the kill stay loaded once; none is left on disk.
    assert _loaded_shards(db) >= loaded
    assert not list((cluster / "cluster" / "shards").rglob("*.parquet*"))


# A cohort after the first ingest of a small gallery, and no redraw at the second one, so that the
# second ingest's new faces get their statistics against the existing cohort.
SNORM = {
    "NEXTOFKIN_SCORE__MIN_COHORT": "20",
    "NEXTOFKIN_SCORE__COHORT_K": "10",
    "NEXTOFKIN_SCORE__REDRAW_GROWTH": "100",
}


def _stats(workspace: Path) -> tuple[dict[tuple[str, int], tuple[float, float]], set[object]]:
    """Every face's stored s-norm (mean, std) and the cohort, by content and ordinal."""
    cohort = CohortStore(workspace / "index" / "snorm").load()
    assert cohort is not None
    with sqlite3.connect(workspace / "nextofkin.db") as conn:
        key = {
            face_id: (sha, ordinal)
            for face_id, sha, ordinal in conn.execute(
                "select f.id, i.sha256, f.ordinal from faces f join images i on i.id = f.image_id"
            )
        }
    stats = {
        key[int(f)]: (float(s[0]), float(s[1]))
        for f, s in zip(cohort.face_ids, cohort.face_stats, strict=True)
    }
    return stats, {key[int(f)] for f in cohort.cohort_faces}


def test_snorm_statistics_from_the_shards_equal_one_machine(
    lfw_dir: Path, ray_env: dict[str, str], tmp_path: Path
) -> None:
    first = build(lfw_dir, tmp_path / "first", owners=8, distractors=20, seed=3)
    second = build(lfw_dir, tmp_path / "second", owners=6, distractors=14, seed=11)
    env = {**os.environ, **SNORM}
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    for ws in (local, cluster):
        subprocess.run(_cli(ws, "ingest", str(first.root), "-j", "2"), check=True,
                       capture_output=True, env=env)  # fmt: skip
    subprocess.run(_cli(local, "ingest", str(second.root), "-j", "2"), check=True,
                   capture_output=True, env=env)  # fmt: skip
    done = subprocess.run(
        _cli(cluster, "-v", "ingest", str(second.root), "--engine", "ray", "--json"),
        capture_output=True, text=True, env={**ray_env, **SNORM},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ours, theirs = _stats(local), _stats(cluster)
    assert ours[1] == theirs[1]  # the same cohort, not redrawn by the second ingest
    assert ours[0].keys() == theirs[0].keys()
    for key, (mean, std) in ours[0].items():
        assert abs(theirs[0][key][0] - mean) <= 1e-6 and abs(theirs[0][key][1] - std) <= 1e-6
    # The second ingest's new faces all got theirs from the actors' lists, none from the driver.
    with sqlite3.connect(cluster / "nextofkin.db") as conn:
        new = conn.execute(
            "select count(distinct f.id) from faces f join photos p on p.image_id = f.image_id "
            "join sources s on s.id = p.source_id where s.name = 'second'"
        ).fetchone()[0]
    assert new > 20
    assert f"cohort statistics of {new} faces from the cluster's shards" in done.stderr
    assert not list((cluster / "cluster" / "snorm-pending").glob("*"))
