"""Reading a TF.js graph model: ``model.json`` (a TensorFlow GraphDef as JSON) and its shards.

Only what a graph model of a face network needs: every node with its op, inputs and decoded
attributes, and every weight from the shards (float16 and affine-quantised weights dequantised to
float32, as TF.js does when it loads them). Nothing of TensorFlow is imported.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import gettext

_DTYPES: dict[str, type[np.generic]] = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT: dict[str, type[np.generic]] = {
    "float16": np.float16,
    "uint8": np.uint8,
    "uint16": np.uint16,
}


@dataclass(frozen=True)
class Node:
    """One graph node: ``inputs`` are node names (a ``:0`` port is dropped), control inputs gone."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TfGraph:
    """A parsed graph model: nodes in file order, weights by name, the declared outputs."""

    nodes: list[Node]
    weights: dict[str, np.ndarray]
    outputs: list[str]

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise ModelError(gettext("graph has no node %(name)r", name=name))


def _attr(value: dict[str, Any]) -> Any:
    # GraphDef JSON keeps strings base64-encoded and integers as decimal strings.
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "list" in value:
        lst = value["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    if "type" in value:
        return str(value["type"])
    return None


def _port(ref: str) -> str:
    name, _, port = ref.partition(":")
    if port not in ("", "0"):
        raise ModelError(gettext("input %(ref)r: only single-output nodes are supported", ref=ref))
    return name


def _read_weights(manifest: list[dict[str, Any]], folder: Path) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        try:
            blob = b"".join((folder / p).read_bytes() for p in group["paths"])
        except OSError as exc:
            raise ModelError(gettext("cannot read weight shard: %(exc)s", exc=exc)) from exc
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                qtype = _QUANT[quant["dtype"]]
                raw = np.frombuffer(blob, qtype, count, offset)
                offset += count * np.dtype(qtype).itemsize
                if quant["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:  # affine: value = q * scale + min
                    arr = raw.astype(np.float32) * float(quant["scale"]) + float(quant["min"])
                arr = arr.astype(_DTYPES[spec["dtype"]])
            else:
                dtype = _DTYPES[spec["dtype"]]
                arr = np.frombuffer(blob, dtype, count, offset).copy()
                offset += count * np.dtype(dtype).itemsize
            weights[spec["name"]] = arr.reshape(shape)
        if offset != len(blob):
            raise ModelError(
                gettext(
                    "weight shards hold %(n_blob)s bytes, the manifest %(offset)s",
                    n_blob=len(blob),
                    offset=offset,
                )
            )
    return weights


def read_graph_model(model_json: Path) -> TfGraph:
    """Parse a TF.js graph model; its shards are read from the folder of ``model_json``."""
    try:
        data = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(
            gettext("cannot read %(model_json)s: %(exc)s", model_json=model_json, exc=exc)
        ) from exc
    if data.get("format") not in (None, "graph-model"):
        raise ModelError(
            gettext(
                "%(name)s: not a graph model (%(data)s)",
                name=model_json.name,
                data=data.get("format"),
            )
        )
    nodes = [
        Node(
            name=n["name"],
            op=n["op"],
            inputs=tuple(_port(i) for i in n.get("input", []) if not i.startswith("^")),
            attrs={k: _attr(v) for k, v in n.get("attr", {}).items()},
        )
        for n in data["modelTopology"]["node"]
    ]
    weights = _read_weights(data["weightsManifest"], model_json.parent)
    signature = data.get("signature", {}).get("outputs")
    if signature:
        outputs = [_port(v["name"]) for v in signature.values()]
    else:
        used = {i for n in nodes for i in n.inputs}
        outputs = [n.name for n in nodes if n.op != "Const" and n.name not in used]
    return TfGraph(nodes, weights, outputs)
