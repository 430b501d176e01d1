"""The FAISS index on every index type: search, deletions, tombstones, atomic saves, by size."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from nextofkin.errors import IndexError_, ModelMismatch
from nextofkin.gallery.index import (
    DESCRIPTION_FILE,
    FaissIndex,
    IndexPlan,
    factory_tier,
    ivf_lists,
    plan_index,
    search_params,
)
from nextofkin.settings import IndexSettings
from nextofkin.vision.models import EmbedderSpec

SPEC = EmbedderSpec("test-model", 32, "test-align", 0.8, 0.9)
OTHER = EmbedderSpec("other-model", 32, "test-align", 0.8, 0.9)
FACTORIES = ["Flat", "HNSW16,Flat", "IVF8,Flat", "IVF8,PQ8,RFlat"]


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = unit(rng.standard_normal((1500, SPEC.dim)))
    ids = np.arange(1500, dtype=np.int64) * 7 + 5  # not positions: a mapping bug would show
    return ids, vectors


def exact_top(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-(queries @ vectors.T), axis=1)[:, :k]
    return ids[order]


def build(tmp_path: Path, factory: str, ids: np.ndarray, vectors: np.ndarray) -> FaissIndex:
    policy = IndexSettings(hnsw_ef_search=256, ivf_nprobe=8, refine_k_factor=32)
    index = FaissIndex.create(
        tmp_path, SPEC, IndexPlan(factory, search_params(policy), auto=False), policy=policy
    )
    index.train(vectors)
    index.add(ids, vectors)
    return index


def test_plan_follows_gallery_size() -> None:
    policy = IndexSettings(flat_max_faces=1000, hnsw_max_faces=5000)
    assert plan_index(0, policy).factory == "Flat"
    assert plan_index(1000, policy).factory == "Flat"
    assert plan_index(1001, policy).factory == "HNSW32,Flat"
    big = plan_index(10_000_000, policy)
    assert big.factory == f"IVF{ivf_lists(10_000_000)}_HNSW32,PQ32,RFlat"
    assert [factory_tier(plan_index(n, policy).factory) for n in (10, 2000, 9000)] == [0, 1, 2]
    assert plan_index(10, policy, "HNSW8,Flat").factory == "HNSW8,Flat"
    forced = plan_index(10, IndexSettings(factory="IVF4,Flat"))
    assert (forced.factory, forced.auto) == ("IVF4,Flat", False)
    assert ivf_lists(1_000_000) == 2048
    assert ivf_lists(10_000_000) == 8192


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from nextofkin.settings import Settings

    monkeypatch.setenv("NEXTOFKIN_INDEX__FACTORY", "HNSW16,Flat")
    monkeypatch.setenv("NEXTOFKIN_INDEX__BACKEND", "milvus")
    settings = Settings.load(Path("/tmp/nowhere"))
    assert settings.index.factory == "HNSW16,Flat"
    assert settings.index.backend == "milvus"


@pytest.mark.parametrize("factory", FACTORIES)
def test_search_remove_and_reload(
    tmp_path: Path, factory: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = data
    index = build(tmp_path, factory, ids, vectors)
    queries = unit(vectors[:40] + 0.05 * np.random.default_rng(1).standard_normal((40, SPEC.dim)))
    scores, found = index.search(queries, 10)
    truth = exact_top(ids, vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95, (factory, recall)
    # Scores are exact cosine similarities whatever the index type (calibration relies on it).
    pos = {int(i): n for n, i in enumerate(ids)}
    for row in range(5):
        for col in range(3):
            exact = float(queries[row] @ vectors[pos[int(found[row, col])]])
            assert scores[row, col] == pytest.approx(exact, abs=1e-4)

    gone = ids[:40:2]
    assert index.remove([*gone.tolist(), 999_999]) == len(gone)
    assert index.remove(gone.tolist()) == 0  # already gone
    assert len(index) == len(ids) - len(gone)
    assert set(index.ids().tolist()) == set(ids.tolist()) - set(gone.tolist())
    _, after = index.search(queries, 10)
    assert not set(after.ravel().tolist()) & set(gone.tolist())
    assert (after >= 0).all(), "k live results even with tombstones"
    index.save()

    reopened = FaissIndex.open(tmp_path, SPEC)
    assert reopened.description.factory == factory
    assert len(reopened) == len(index)
    _, again = reopened.search(queries, 10)
    np.testing.assert_array_equal(np.sort(again, axis=1), np.sort(after, axis=1))

    # An id that comes back (SQLite can reuse the highest rowid) is found with its new vector.
    comeback = unit(np.random.default_rng(9).standard_normal((1, SPEC.dim)))
    reopened.add(gone[:1], comeback)
    score, hit = reopened.search(comeback, 1)
    assert int(hit[0, 0]) == int(gone[0]) and score[0, 0] == pytest.approx(1.0, abs=1e-4)
    assert len(reopened) == len(ids) - len(gone) + 1


def test_hnsw_tombstones_compact_past_the_fraction(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = data
    index = build(tmp_path, "HNSW16,Flat", ids, vectors)
    index.policy = IndexSettings(tombstone_fraction=0.05)
    index.remove(ids[:50].tolist())
    assert index.tombstones == 50
    index.save()
    stored = json.loads((tmp_path / DESCRIPTION_FILE).read_text())
    assert stored["tombstones_file"] and stored["build"]["tombstones"] == 50
    assert FaissIndex.open(tmp_path, SPEC).tombstones == 50
    index.remove(ids[50:100].tolist())  # 100 > 5% of 1500: compacted
    assert index.tombstones == 0
    assert len(index) == len(ids) - 100
    assert set(index.ids().tolist()) == set(ids[100:].tolist())
    scores, found = index.search(vectors[100:110], 1)
    assert found[:, 0].tolist() == ids[100:110].tolist()
    assert np.allclose(scores[:, 0], 1.0, atol=1e-4)


def test_refuses_another_model_and_bad_vectors(tmp_path: Path) -> None:
    index = FaissIndex.create(tmp_path, SPEC)
    index.add(np.array([1]), unit(np.ones((1, SPEC.dim))))
    index.save()
    with pytest.raises(ModelMismatch):
        FaissIndex.open(tmp_path, OTHER)
    with pytest.raises(ModelMismatch):
        index.add(np.array([2]), np.ones((1, SPEC.dim + 1), dtype=np.float32))


def test_untrainable_factory_is_a_clear_error(tmp_path: Path) -> None:
    index = FaissIndex.create(tmp_path, SPEC, "IVF64,PQ8")
    with pytest.raises(IndexError_, match="training vectors"):
        index.add(np.arange(10), unit(np.ones((10, SPEC.dim))))


def test_save_is_one_commit_and_old_generations_go(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, vectors = data
    index = build(tmp_path, "Flat", ids[:100], vectors[:100])
    index.save()
    first = json.loads((tmp_path / DESCRIPTION_FILE).read_text())["file"]
    # A calibration-only change rewrites the description, not the data.
    index.description.calibration = {"x": 1}
    index.save()
    assert json.loads((tmp_path / DESCRIPTION_FILE).read_text())["file"] == first
    index.add(ids[100:200], vectors[100:200])

    # A save killed after writing the data but before the description: the old index stands.
    def boom(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("nextofkin.gallery.faiss_index.fsync_dir", boom)
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(Path, "replace", _fail_on_description(Path.replace))
        index.save()
    monkeypatch.undo()
    assert len(FaissIndex.open(tmp_path, SPEC)) == 100
    index.save()
    assert len(FaissIndex.open(tmp_path, SPEC)) == 200
    # Generations older than a minute are collected by the next save.
    import os
    import time

    old = tmp_path / first
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    index.description.calibration = {"x": 2}
    index.save()
    assert not old.exists()


def _fail_on_description(original):  # type: ignore[no-untyped-def]
    def replace(self: Path, target: Path) -> Path:
        if Path(target).name == DESCRIPTION_FILE:
            raise KeyboardInterrupt
        return original(self, target)

    return replace


@pytest.mark.parametrize("factory", ["Flat", "IVF8,Flat"])
def test_training_state_and_data_file_are_public(
    tmp_path: Path, factory: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    """What benchmarks read of an index (is_trained, write_data) without reaching inside it."""
    ids, vectors = data
    policy = IndexSettings(ivf_nprobe=8)
    index = FaissIndex.create(
        tmp_path, SPEC, IndexPlan(factory, search_params(policy), auto=False), policy=policy
    )
    assert index.is_trained == (factory == "Flat")  # inverted lists need training, Flat not
    index.train(vectors)
    assert index.is_trained
    index.add(ids, vectors)
    written = tmp_path / "copy.faiss"
    index.write_data(written)
    copy = faiss.read_index(str(written))
    assert copy.ntotal == len(index) == len(ids)
    _, found = copy.search(vectors[:5], 1)
    assert found[:, 0].tolist() == ids[:5].tolist()
