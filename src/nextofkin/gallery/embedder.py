"""Which embedder a workspace's faces were made with, and so which one its commands must use.

Vectors are only comparable with vectors of the same model, so the embedder belongs to the
workspace, not to the command line. Its registered name is recorded in the index description
(``extra["embedder"]``) the first time the index is saved, i.e. at the end of the first ingest.
Later commands use the recorded embedder unless the settings name one *explicitly*
(``NEXTOFKIN_VISION__EMBEDDER``, or a value set in code): the settings' default only applies to a
new workspace, so changing the default never breaks a workspace built before.

An explicit embedder is accepted when it computes the same vectors as the recorded one (same
spec name, alignment and dimension: ``dlib-resnet`` and ``dlib-resnet-onnx``, say) and refused
with :class:`~nextofkin.errors.ModelMismatch` otherwise. A workspace built before the record
existed is recognised by the vector model its index description names (or, if the first ingest
stopped before the index was saved, the model of most of its stored faces); the registered
embedder that computes those vectors is used, and recorded at the next save of the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select

from nextofkin.errors import ModelError, ModelMismatch
from nextofkin.gallery.index import DESCRIPTION_FILE, IndexDescription, VectorIndex
from nextofkin.gallery.index_base import read_description
from nextofkin.gallery.records import Face
from nextofkin.i18n import _
from nextofkin.settings import VisionSettings
from nextofkin.vision.models import EmbedderSpec, ModelRegistry
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace

EMBEDDER_KEY = "embedder"
ENV_HINT = "NEXTOFKIN_VISION__EMBEDDER"

EmbedderSource = Literal["recorded", "inferred", "settings"]


@dataclass(frozen=True)
class WorkspaceEmbedder:
    """The embedder a command on a workspace uses, and what the workspace holds.

    ``name`` is the embedder to run; ``held`` the one the workspace's faces were made with
    (``None`` for a workspace with no faces yet). ``source`` says where ``name`` comes from:
    the workspace's record, inferred from its vector model (a workspace older than the record),
    or the settings (a new workspace, or an explicit embedder computing the same vectors).
    """

    name: str
    spec: EmbedderSpec
    held: str | None
    source: EmbedderSource

    @property
    def to_record(self) -> str:
        """The name the workspace keeps: what it holds, else (a new workspace) what it uses."""
        return self.held or self.name


def stored_description(workspace: Workspace) -> IndexDescription | None:
    """The saved description of the workspace's index (configured backend), if any."""
    policy = workspace.settings.index
    if policy.backend == "milvus":
        path = workspace.index_dir / f"milvus-{policy.milvus_collection}.json"
    else:
        path = workspace.index_dir / DESCRIPTION_FILE
    return read_description(path) if path.exists() else None


def _dominant_face_model(workspace: Workspace) -> str | None:
    """The vector model of most stored faces (only asked when no index was ever saved)."""
    count = func.count(Face.id)
    with workspace.session() as session:
        return session.scalar(
            select(Face.model).group_by(Face.model).order_by(count.desc(), Face.model).limit(1)
        )


def _spec_of(registry: ModelRegistry, name: str) -> EmbedderSpec:
    return registry.embedder(name).spec


def _same_vectors(a: EmbedderSpec, b: EmbedderSpec) -> bool:
    return (a.name, a.alignment, a.dim) == (b.name, b.alignment, b.dim)


def embedder_for_model(
    registry: ModelRegistry,
    model: str,
    alignment: str | None = None,
    dim: int | None = None,
    *,
    prefer: str | None = None,
) -> str | None:
    """The registered embedder computing vectors of spec ``model``.

    ``prefer`` wins when it computes them (the embedder the settings name); otherwise ONNX
    Runtime forms come first. Building an embedder only reads its spec (models load on first
    use), so this is cheap.
    """
    matches: list[str] = []
    for name in registry.names()["embedders"]:
        try:
            spec = _spec_of(registry, name)
        except ModelError:
            continue  # e.g. a model pack that cannot be read here: it cannot be the answer
        if spec.name == model and alignment in (None, spec.alignment) and dim in (None, spec.dim):
            matches.append(name)
    # dlib-resnet and dlib-resnet-onnx compute the same vectors; the ONNX one is much faster.
    matches.sort(key=lambda n: (n != prefer, "onnx" not in n, n))
    return matches[0] if matches else None


def _held(workspace: Workspace, registry: ModelRegistry) -> tuple[str, EmbedderSource] | None:
    """The embedder the workspace's faces were made with, and how we know; None if no faces."""
    prefer = workspace.settings.vision.embedder
    description = stored_description(workspace)
    if description is not None:
        recorded = description.extra.get(EMBEDDER_KEY)
        if isinstance(recorded, str) and recorded:
            return recorded, "recorded"
        model = description.model
        found = embedder_for_model(
            registry, model, description.alignment, description.dim, prefer=prefer
        )
    else:
        stored = _dominant_face_model(workspace)
        if stored is None:
            return None
        model = stored
        found = embedder_for_model(registry, model, prefer=prefer)
    if found is None:
        known = ", ".join(registry.names()["embedders"]) or "none"
        raise ModelMismatch(
            _(
                "workspace %(home)s holds %(model)s vectors, which no registered "
                "embedder computes (registered: %(known)s); register the model that "
                "made them (e.g. its model pack) or use another workspace",
                home=workspace.home,
                model=model,
                known=known,
            )
        )
    return found, "inferred"


def held_embedder(workspace: Workspace, registry: ModelRegistry) -> str | None:
    """The registered embedder the workspace's faces were made with (``None``: no faces yet),
    whatever the settings ask for: what ``nextofkin reindex --embedder`` moves away from."""
    held = _held(workspace, registry)
    return held[0] if held is not None else None


def resolve_embedder(
    workspace: Workspace, registry: ModelRegistry | None = None
) -> WorkspaceEmbedder:
    """The embedder commands on ``workspace`` use (see the module docstring).

    Raises :class:`ModelMismatch` when the settings explicitly name an embedder whose vectors
    differ from the ones the workspace holds.
    """
    registry = registry or default_registry()
    vision = workspace.settings.vision
    held = _held(workspace, registry)
    if held is None:
        return WorkspaceEmbedder(
            vision.embedder, _spec_of(registry, vision.embedder), None, "settings"
        )
    held_name, source = held
    try:
        held_spec = _spec_of(registry, held_name)
    except ModelError as exc:
        raise ModelMismatch(
            _(
                "workspace %(home)s was built with embedder %(held_name)r, which "
                "cannot be used here: %(exc)s",
                home=workspace.home,
                held_name=held_name,
                exc=exc,
            )
        ) from exc
    if "embedder" not in vision.model_fields_set or vision.embedder == held_name:
        return WorkspaceEmbedder(held_name, held_spec, held_name, source)
    wanted = _spec_of(registry, vision.embedder)
    if not _same_vectors(wanted, held_spec):
        raise ModelMismatch(
            _(
                "workspace %(home)s holds faces embedded with %(held_name)s (%(name)s "
                "vectors), but the settings ask for %(embedder)s (%(name2)s vectors), "
                "which cannot be compared with them. Unset %(env_hint)s (or set it to "
                "%(held_name)s) to use the workspace's own embedder, ingest into "
                "another workspace to use %(embedder)s, or move this one to it with "
                "`nextofkin reindex --embedder %(embedder)s` (it embeds every face again)",
                home=workspace.home,
                held_name=held_name,
                name=held_spec.name,
                embedder=vision.embedder,
                name2=wanted.name,
                env_hint=ENV_HINT,
            )
        )
    # Another implementation of the same vectors (dlib-resnet for dlib-resnet-onnx): fine.
    return WorkspaceEmbedder(vision.embedder, wanted, held_name, "settings")


def workspace_vision(
    workspace: Workspace, resolved: WorkspaceEmbedder | None = None
) -> VisionSettings:
    """The workspace's vision settings with the embedder it must use (for building pipelines)."""
    name = (resolved or resolve_embedder(workspace)).name
    vision = workspace.settings.vision
    return vision if vision.embedder == name else vision.model_copy(update={"embedder": name})


def record_embedder(index: VectorIndex, resolved: WorkspaceEmbedder) -> None:
    """Note the workspace's embedder in ``index``'s description (written at its next save).

    Only the index's writers save it (ingest, purge, reindex), so a reading command never
    rewrites a description under a concurrent writer.
    """
    index.description.extra.setdefault(EMBEDDER_KEY, resolved.to_record)
