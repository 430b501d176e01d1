"""What a command's start keeps from the last one: weights found without importing their package,
a remembered weights digest, dlib's HOG detector in binary form, ONNX graphs optimised once."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nextofkin.vision import model_files, onnx_runtime
from nextofkin.vision.dlib_models import hog_detector
from nextofkin.vision.image_io import load_image


def test_weights_are_the_files_the_package_names() -> None:
    import face_recognition_models as frm

    assert model_files.weights_file("resnet") == Path(frm.face_recognition_model_location())
    assert model_files.weights_file("mmod") == Path(frm.cnn_face_detector_model_location())
    five = Path(frm.pose_predictor_five_point_model_location())
    assert model_files.weights_file("five-point") == five


def test_the_remembered_digest_is_recomputed_when_the_file_changes(tmp_path: Path) -> None:
    weights = tmp_path / "w.dat"
    weights.write_bytes(b"first")
    cache = tmp_path / "cache"
    assert model_files.remembered_sha256(weights, cache) == model_files.file_sha256(weights)
    # The memo is what answers while the file is unchanged: tamper with it to see it used.
    (memo,) = (cache / "sha256").iterdir()
    memo.write_text(memo.read_text().replace(model_files.file_sha256(weights), "f" * 64))
    assert model_files.remembered_sha256(weights, cache) == "f" * 64
    # Rewritten (another size, time and content): hashed again, never the stale digest.
    weights.write_bytes(b"second, longer")
    os.utime(weights, ns=(1, 1))
    assert model_files.remembered_sha256(weights, cache) == model_files.file_sha256(weights)


def test_the_kept_hog_detector_finds_what_dlibs_own_finds(lfw_dir: Path, tmp_path: Path) -> None:
    import dlib

    person = sorted((lfw_dir / "images").iterdir())[0]
    image = load_image(sorted(person.iterdir())[0], max_pixels=10**7, max_bytes=10**7).pixels
    want = dlib.get_frontal_face_detector().run(image, 1, -0.2)
    built = hog_detector(tmp_path)  # builds and keeps it
    (kept,) = tmp_path.glob("dlib-hog-frontal-*.svm")
    loaded = hog_detector(tmp_path)  # reads the kept one
    for detector in (built, loaded):
        rects, scores, _ = detector.run(image, 1, -0.2)
        assert [str(r) for r in rects] == [str(r) for r in want[0]]
        assert list(scores) == list(want[1])
    kept.write_bytes(b"not a detector")
    assert len(hog_detector(tmp_path).run(image, 1, -0.2)[0]) == len(want[0])  # rebuilt


def _tiny_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_an_optimised_graph_is_kept_and_gives_the_same_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if onnx_runtime._cpu_signature() is None:
        pytest.skip("no CPU description to key an optimised graph by")
    monkeypatch.setenv("NEXTOFKIN_MODEL_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "tiny.onnx"
    _tiny_model(path)
    x = np.random.default_rng(4).normal(size=(1, 3, 8, 8)).astype(np.float32)
    cpu = onnx_runtime.OnnxRuntime("cpu")
    first = onnx_runtime.make_session(path, cpu).run(None, {"x": x})[0]
    (kept,) = (tmp_path / "cache" / "ort-optimised").iterdir()
    second = onnx_runtime.make_session(path, cpu).run(None, {"x": x})[0]
    assert np.array_equal(first, second)
    kept.write_bytes(b"damaged")
    third = onnx_runtime.make_session(path, cpu).run(None, {"x": x})[0]
    assert np.array_equal(first, third)
    assert kept.stat().st_size > len(b"damaged")  # made again
