"""The server's probe-analysis pool: one search over its time or memory budget is stopped on its
own, the others keep being served (issue 12 #7).

The pool runs stand-in tasks defined here (the spawned workers import this module), so that a
search that hangs or allocates too much is certain, not a matter of machine speed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nextofkin.errors import Busy, OverBudget
from nextofkin.i18n import gettext, use_language
from nextofkin.identify.probe_pool import ProbePool
from nextofkin.identify.service import ProbeAnalysis
from nextofkin.settings import SearchSettings, VisionSettings


def no_models(vision: VisionSettings) -> None:
    return None


def stand_in(pipeline: None, photos: list[str], vision: VisionSettings) -> list[ProbeAnalysis]:
    """'hang' never returns, 'hog' allocates 1 GB, anything else answers at once."""
    for photo in photos:
        path = Path(photo)
        if path.name.startswith("hang"):
            path.with_suffix(".started").touch()
            time.sleep(3600)
        if path.name.startswith("hog"):
            block = np.ones(1024 * 1024 * 1024, dtype=np.uint8)
            del block
    if photos and Path(photos[0]).name.startswith("speak"):
        return [ProbeAnalysis(photos[0], None, "NoFaceFound", gettext("no probe photo given"))]
    return [ProbeAnalysis(p, None, "NoFaceFound", f"{Path(p).name}: stand-in") for p in photos]


def _pool(**budget: Any) -> ProbePool[None]:
    settings = SearchSettings(**{"workers": 2, "start_timeout_s": 300, **budget})
    return ProbePool(VisionSettings(), settings, task=stand_in, loader=no_models)


def _warm(pool: ProbePool[None], tmp_path: Path) -> None:
    """Wait until every worker has started (FIFO: consecutive calls take each worker in turn)."""
    for n in range(pool.budget.workers):
        assert pool.analyse([tmp_path / f"warm{n}.jpg"])[0].message == f"warm{n}.jpg: stand-in"


def test_search_pool_serves_others_while_one_search_is_over_budget(tmp_path: Path) -> None:
    pool = _pool(time_budget_s=20)
    try:
        _warm(pool, tmp_path)
        outcome: dict[str, BaseException] = {}

        def slow() -> None:
            try:
                pool.analyse([tmp_path / "hang.jpg"])
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=slow)
        thread.start()
        started = tmp_path / "hang.started"
        for _ in range(600):
            if started.exists():
                break
            time.sleep(0.05)
        assert started.exists()
        # The hanging search holds one worker; others are served meanwhile, several times over.
        for n in range(3):
            assert pool.analyse([tmp_path / f"ok{n}.jpg"])[0].photo.endswith(f"ok{n}.jpg")
        assert thread.is_alive()  # still over there, within its budget
        thread.join(120)
        error = outcome["error"]
        assert isinstance(error, OverBudget)
        assert "hang.jpg took more than its 20 s budget and was stopped" in str(error)
        # Its worker was replaced: the pool has its full strength again.
        _warm(pool, tmp_path)
    finally:
        pool.close()


def test_search_over_its_memory_budget_is_stopped_and_its_worker_replaced(tmp_path: Path) -> None:
    pool = _pool(memory_budget_mb=256)
    try:
        _warm(pool, tmp_path)
        with pytest.raises(OverBudget, match=r"hog\.jpg needed more than its 256 MB memory budget"):
            pool.analyse([tmp_path / "hog.jpg"])
        _warm(pool, tmp_path)
    finally:
        pool.close()


def test_search_is_told_busy_when_every_worker_is_taken(tmp_path: Path) -> None:
    pool = _pool(workers=1, time_budget_s=30, queue_wait_s=0.5)
    try:
        _warm(pool, tmp_path)
        errors: list[BaseException] = []

        def slow() -> None:
            try:
                pool.analyse([tmp_path / "hang.jpg"])
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=slow)
        thread.start()
        for _ in range(600):
            if (tmp_path / "hang.started").exists():
                break
            time.sleep(0.05)
        with pytest.raises(Busy, match="all 1 search workers are busy") as caught:
            pool.analyse([tmp_path / "ok.jpg"])
        assert caught.value.retry_after == 1
        pool.close()  # ends the hanging worker too
        thread.join(60)
        assert [type(e) for e in errors] == [OverBudget]
    finally:
        pool.close()


def test_a_search_worker_writes_its_messages_in_the_requests_language(tmp_path: Path) -> None:
    """The worker is another process: the request's language travels with each search."""
    pool = _pool(workers=1)
    try:
        with use_language("uk"):
            ukrainian = pool.analyse([tmp_path / "speak.jpg"])[0].message
        english = pool.analyse([tmp_path / "speak.jpg"])[0].message
    finally:
        pool.close()
    assert (english, ukrainian) == ("no probe photo given", "не надано жодного фото для пошуку")
