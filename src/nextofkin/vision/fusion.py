"""Score-level fusion of two embedders, as one vector per face.

A weighted sum of two models' cosines, ``(a·cos₁ + b·cos₂) / (a + b)``, is the cosine of the
vectors ``[√a·v₁, √b·v₂] / √(a + b)`` (each ``vᵢ`` of unit length). So the fused score needs no
second index and no change to search, s-norm or calibration: they all work on the one fused
cosine, which is the score they normalise and calibrate. A weighted sum of z-scored cosines (the
usual form of score fusion) is the same thing with ``a = w/σ₁`` and ``b = (1 - w)/σ₂`` (the
constant shifts drop out of every ranking and threshold). ``w`` and the σ are measured on LFW's
development pairs, never on what is reported (``benchmarks/bench_fusion.py``; docs/MODELS.md).

The fused vectors are a model of their own (their spec has its own name), so they never share an
index with either part's vectors.

Each part aligns its own chip. The embedder interface passes one chip from ``align`` to
``embed``, so the parts' chips travel packed: stacked top to bottom, each centred across the
widest one's width. A horizontal mirror of the pack is then the pack of the mirrored chips, which
the evaluation's flip test relies on. :meth:`FusedEmbedder.quality_region` gives the first part's
chip back, so face quality is measured on the same chip as for that part alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.vision.models import Embedder, EmbedderSpec, l2_normalise
from nextofkin.vision.types import Points, RGBImage

if TYPE_CHECKING:
    from nextofkin.vision.models import ModelRegistry


@dataclass(frozen=True)
class FusionPart:
    """One fused model: its registry name, its chip's (height, width) and its weight ``a``."""

    embedder: str
    chip: tuple[int, int]
    weight: float


@dataclass(frozen=True)
class ChipLayout:
    """Where each part's chip sits in the pack."""

    shapes: tuple[tuple[int, int], ...]

    @property
    def width(self) -> int:
        """The pack's width: the widest chip's."""
        return max(w for _, w in self.shapes)

    def slots(self) -> list[tuple[int, int, int, int]]:
        """(top, bottom, left, right) of each chip in the pack."""
        out, top = [], 0
        for height, width in self.shapes:
            left = (self.width - width) // 2
            out.append((top, top + height, left, left + width))
            top += height
        return out

    def pack(self, chips: Sequence[RGBImage]) -> RGBImage:
        """One image holding ``chips`` (one per part, in order)."""
        height = sum(h for h, _ in self.shapes)
        packed = np.zeros((height, self.width, 3), dtype=np.uint8)
        for (top, bottom, left, right), chip in zip(self.slots(), chips, strict=True):
            if chip.shape[:2] != (bottom - top, right - left):
                raise ModelError(
                    _(
                        "a fused part's chip is %(got)s, expected %(want)s",
                        got=chip.shape[:2],
                        want=(bottom - top, right - left),
                    )
                )
            packed[top:bottom, left:right] = chip
        return packed

    def unpack(self, packed: RGBImage) -> list[RGBImage]:
        """The parts' chips from a pack."""
        want = (sum(h for h, _ in self.shapes), self.width)
        if packed.shape[:2] != want:
            raise ModelError(
                _("a fused chip is %(got)s, expected %(want)s", got=packed.shape[:2], want=want)
            )
        return [
            np.ascontiguousarray(packed[top:bottom, left:right])
            for top, bottom, left, right in self.slots()
        ]


class FusedEmbedder:
    """Two embedders' vectors, weighted and joined: the cosine of two fused vectors is the
    weighted mean of the parts' cosines."""

    def __init__(self, parts: Sequence[tuple[Embedder, FusionPart]], spec: EmbedderSpec) -> None:
        if len(parts) < 2 or any(p.weight <= 0 for _, p in parts):
            raise ModelError(_("fusion needs two or more parts with positive weights"))
        self.parts = [embedder for embedder, _ in parts]
        total = sum(p.weight for _, p in parts)
        self.scales = [math.sqrt(p.weight / total) for _, p in parts]
        self.layout = ChipLayout(tuple(p.chip for _, p in parts))
        self.spec = spec

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        """Every part's own chip, packed into one image."""
        return self.layout.pack([part.align(image, landmarks) for part in self.parts])

    def quality_region(self, chip: RGBImage) -> RGBImage:
        """The first part's chip, on which face quality is measured."""
        return self.layout.unpack(chip)[0]

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """Unit vectors: each part's vectors scaled by √(its weight share), joined."""
        if not chips:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        unpacked = [self.layout.unpack(np.asarray(c)) for c in chips]
        blocks = [
            scale * part.embed([parts[i] for parts in unpacked])
            for i, (part, scale) in enumerate(zip(self.parts, self.scales, strict=True))
        ]
        # Each block is unit length times its scale, so the join is already of unit length;
        # normalising again only removes rounding.
        return l2_normalise(np.concatenate(blocks, axis=1))


def register_fusion(
    registry: ModelRegistry, name: str, parts: Sequence[FusionPart], spec: EmbedderSpec
) -> None:
    """Register ``name``: the fusion of the registered embedders ``parts`` name."""

    def build() -> Embedder:
        built = [(registry.embedder(p.embedder), p) for p in parts]
        dims = sum(e.spec.dim for e, _ in built)
        if dims != spec.dim:
            raise ModelError(
                _(
                    "fused parts give %(got)s dimensions, the spec says %(want)s",
                    got=dims,
                    want=spec.dim,
                )
            )
        return FusedEmbedder(built, spec)

    registry.add_embedder(name, build)
