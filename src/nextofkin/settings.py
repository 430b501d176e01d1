"""The one settings object: typed, validated at start-up, read from ``NEXTOFKIN_*`` variables.

Nested groups use a double underscore, e.g. ``NEXTOFKIN_VISION__DETECTOR=hog``. A few settings
also answer to the flat names they had before they joined a group (:data:`FLAT_NAMES`:
``NEXTOFKIN_SMTP_HOST`` … for ``NEXTOFKIN_SMTP__HOST`` …, ``NEXTOFKIN_MODEL_PACK`` for
``NEXTOFKIN_VISION__MODEL_PACK``, ``NEXTOFKIN_MODEL_CACHE`` for ``NEXTOFKIN_VISION__MODEL_CACHE``);
a flat name wins over the nested one. Secrets are ``SecretStr`` (never printed or logged).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Flat environment names kept from before their settings joined a group: name -> (group, field).
FLAT_NAMES: dict[str, tuple[str, str]] = {
    **{f"NEXTOFKIN_SMTP_{key.upper()}": ("smtp", key) for key in ("host", "port", "user")},
    "NEXTOFKIN_SMTP_PASSWORD": ("smtp", "password"),
    "NEXTOFKIN_SMTP_FROM": ("smtp", "from"),
    "NEXTOFKIN_SMTP_TLS": ("smtp", "tls"),
    "NEXTOFKIN_MODEL_PACK": ("vision", "model_pack"),
    "NEXTOFKIN_MODEL_CACHE": ("vision", "model_cache"),
}


def default_home() -> Path:
    """The workspace used when neither ``--workspace`` nor ``NEXTOFKIN_HOME`` is given."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "nextofkin"


class VisionSettings(BaseModel):
    """How pixels become faces."""

    detector: str = Field("hog", description="registered detector name (hog, mmod, ...)")
    embedder: str = Field(
        "fused-dlib-mfn",
        description="registered embedder name of a new workspace (a workspace keeps the one it "
        "was built with); fused-dlib-mfn joins dlib's flip-averaged vectors with MobileFaceNet's "
        "(LFW 1:N rank-1 95.8% against 89.6% for dlib-resnet-onnx-flip alone, docs/MODELS.md); "
        "dlib-resnet-onnx computes the same vectors as dlib-resnet (verified at conversion) "
        "several times faster; the -flip forms average each face with its mirror image",
    )
    landmarks: str = Field("dlib-5", description="registered landmark model name")
    model_pack: Path | None = Field(
        None, description="folder of an ONNX model pack to register as 'onnx-pack' (docs/MODELS.md)"
    )
    model_cache: Path | None = Field(
        None,
        description="where converted ONNX models are cached (default: $XDG_CACHE_HOME or "
        "~/.cache, then nextofkin/models)",
    )
    max_pixels: int = Field(40_000_000, description="decompression-bomb limit (pixels)")
    max_bytes: int = Field(50_000_000, description="largest image file accepted (bytes)")
    upsample_below: int = Field(
        800, description="upsample once when the image's longer side is below this (px)"
    )
    min_face_px: int = Field(
        20,
        description="faces narrower than this are ignored (px); images narrower or flatter than "
        "this are refused as too small to hold a face",
    )
    # Why 1600: HOG's window finds faces from ~80 px (40 px upsampled once) and the embedder
    # aligns every face to a 150 px chip, so pixels beyond ~200 px per face add nothing. A
    # post-mortem photo is of one body, its face at least ~1/8 of the frame: still >= 200 px at
    # 1600. The cost of the no-face worst case (every turn, tilt, the equalised copy, the upsampled
    # pass and the CNN fallback) then stays a few seconds and some hundred MB (docs/SECURITY.md)
    # instead of 6.5 minutes and 3.4 GB for a 6300x6300 photo.
    probe_max_side: int = Field(
        1600,
        ge=200,
        description="probe photos are downscaled to this longest side (px) before any detector "
        "or the rotation search runs; boxes are reported in the original photo's pixels",
    )
    probe_quarter_turns: tuple[int, ...] = Field(
        (0, 90, 270, 180), description="quarter turns tried on probes (degrees, CCW)"
    )
    probe_tilts: tuple[int, ...] = Field(
        (30, -30), description="in-plane tilts tried on probes when no quarter turn finds a face"
    )
    upright_confidence: float = Field(
        0.75,
        description="a probe face found upright with at least this detection score ends the "
        "rotation search early (upright photos stay cheap)",
    )
    probe_fallback_detector: str | None = Field(
        "mmod-onnx",
        description="a second registered detector tried on a probe photo, at every quarter "
        "turn, only when the first finds no face anywhere (dlib's CNN finds covered and "
        "blurred faces HOG misses: 'no face' on covered lower faces 14 -> 3 of 400); "
        "empty to switch off",
    )
    threads: int = Field(1, description="inference threads per worker process")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="where ONNX models run: cuda (onnxruntime-gpu and a GPU required), cpu, or "
        "auto (CUDA when ONNX Runtime offers it, else CPU)",
    )


class DecisionPolicy(BaseModel):
    """What false-positive identification rate each decision allows.

    These are policy, not model constants: the score thresholds that realise them come from the
    calibration stored with the index.
    """

    match_fpir: float = Field(0.001, gt=0, lt=1)
    possible_fpir: float = Field(0.05, gt=0, lt=1)


class ScoreSettings(BaseModel):
    """How raw cosine similarities become the scores identification decisions are made on."""

    normalise: Literal["snorm", "none"] = Field(
        "snorm",
        description="adaptive symmetric score normalisation against a cohort of gallery faces "
        "(measured on LFW 1:N: FNIR at FPIR 0.01 58.7% -> 47.5%), or raw cosine similarity",
    )
    cohort_k: int = Field(100, ge=5, description="top cohort similarities a face is judged by")
    cohort_size: int = Field(
        20_000, ge=100, description="gallery faces sampled into the normalisation cohort"
    )
    min_cohort: int = Field(
        500, ge=10, description="smaller galleries are scored by raw cosine similarity"
    )
    redraw_growth: float = Field(
        0.1, gt=0, description="redraw the cohort when the gallery grew or shrank by this share"
    )


class SmtpSettings(BaseModel):
    """Outgoing mail."""

    host: str = "127.0.0.1"
    port: int = 25
    user: str | None = None
    password: SecretStr | None = None
    sender: str = Field("nextofkin@localhost", alias="from")
    tls: Literal["none", "starttls", "ssl"] = "none"
    timeout: float = 30.0
    ca_file: str | None = Field(
        None, description="PEM file of CAs to trust for the server certificate (default: system)"
    )

    model_config = {"populate_by_name": True}

    @model_validator(mode="after")
    def _password_goes_with_a_user(self) -> SmtpSettings:
        # Checked when the settings load (start-up), not at the first letter to a family.
        if self.password is not None and not self.user:
            raise ValueError("NEXTOFKIN_SMTP__PASSWORD is set without NEXTOFKIN_SMTP__USER")
        if self.password is not None and not self.password.get_secret_value():
            raise ValueError("NEXTOFKIN_SMTP__PASSWORD is empty: unset it or give the password")
        return self


class ReviewPolicy(BaseModel):
    """Who may confirm an identification (the safeguards of the review step)."""

    second_reviewer_below_match: bool = Field(
        True,
        description="a candidate below the `match` decision needs two different reviewers",
    )
    always_two_reviewers: bool = Field(False, description="every confirmation needs two reviewers")
    reviewer_differs_from_searcher: bool = Field(
        True, description="the user who ran the search may not confirm its result"
    )


class NotifySettings(BaseModel):
    """What messages to families say about the team, and how hard delivery tries."""

    # No default name: a letter signed by a placeholder tells a family nothing (drafting refuses
    # a letter without the team's name and a phone or e-mail).
    team_name: str | None = None
    team_email: str | None = None
    team_phone: str | None = None
    team_address: str | None = Field(None, description="where to claim the body or ask")
    default_language: Literal["ru", "uk", "en"] = "en"
    max_attempts: int = Field(4, ge=1, description="delivery attempts on temporary failures")
    backoff_seconds: float = Field(2.0, ge=0, description="first retry delay; doubles each time")


class StandingSettings(BaseModel):
    """Standing searches: open cases searched again against the faces each ingest adds."""

    after_ingest: bool = Field(True, description="rescan open cases at the end of every ingest")
    # Why 10: one order of magnitude: the new candidate is then ten times less likely to be a
    # stranger's best score than the case's previous best was (a score that merely edges past
    # the old best is what a growing gallery of strangers produces by itself).
    beat_factor: float = Field(
        10.0,
        gt=1,
        description="alert when a candidate's FPIR is this many times lower than the case's best",
    )
    email_team: bool = Field(
        False,
        description="e-mail new alerts to the team's address (notify.team_email), never families",
    )


class IndexSettings(BaseModel):
    """Where face vectors are searched, and which index type follows the gallery's size.

    With ``factory`` unset the FAISS index type is chosen from the face count whenever the
    index is (re)built: exact ``Flat`` up to ``flat_max_faces``, HNSW up to ``hnsw_max_faces``,
    IVF-PQ with exact re-ranking beyond (see ``docs/SCALING.md`` for the measurements).
    """

    backend: Literal["faiss", "milvus"] = Field("faiss", description="vector store")
    factory: str | None = Field(
        None, description="FAISS factory string forced for every (re)build, e.g. 'HNSW32,Flat'"
    )
    flat_max_faces: int = Field(200_000, ge=0, description="exact search up to this many faces")
    hnsw_max_faces: int = Field(3_000_000, ge=0, description="HNSW up to this many faces")
    hnsw_m: int = Field(32, ge=4, description="HNSW graph degree")
    hnsw_ef_construction: int = Field(40, ge=8, description="HNSW build-time beam width")
    hnsw_ef_search: int = Field(600, ge=8, description="HNSW search-time beam width")
    pq_bytes: int = Field(32, ge=4, description="IVF-PQ code size per face (bytes)")
    ivf_nprobe: int = Field(1024, ge=1, description="IVF lists visited per query")
    refine_k_factor: int = Field(64, ge=1, description="IVF-PQ candidates re-ranked per hit")
    train_max: int = Field(300_000, ge=1000, description="vectors sampled to train IVF-PQ")
    tombstone_fraction: float = Field(
        0.1, gt=0, le=1, description="compact an index without remove_ids past this fraction"
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus URI (http://host:19530) or a Milvus Lite file; "
        "default: index/milvus.db in the workspace",
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus token ('user:password')")
    milvus_collection: str = Field("faces", description="Milvus collection of the workspace")
    milvus_index_type: str = Field(
        "AUTOINDEX", description="Milvus index type (FLAT, HNSW, IVF_PQ, AUTOINDEX, ...)"
    )


class WebSettings(BaseModel):
    """Web sign-in: how long sessions live, login throttling, and password-hashing concurrency."""

    session_idle_minutes: float = Field(
        30, gt=0, description="a logged-in session unused this long ends (minutes)"
    )
    session_absolute_hours: float = Field(
        12, gt=0, description="a logged-in session ends this long after login, however used"
    )
    anonymous_session_minutes: float = Field(
        30, gt=0, description="a session before login (login form, messages) lives this long"
    )
    login_max_failures: int = Field(
        5, ge=1, description="failed logins of one account within the window before it is locked"
    )
    login_max_failures_per_address: int = Field(
        20, ge=1, description="failed logins from one client address within the window"
    )
    login_window_seconds: float = Field(
        900, gt=0, description="how long a failed login counts against an account or address"
    )
    login_lock_seconds: float = Field(
        60, gt=0, description="the first lock; each further failure in the window doubles it"
    )
    login_lock_max_seconds: float = Field(3600, gt=0, description="the longest lock")
    password_hash_slots: int = Field(
        2, ge=1, description="password checks run at once (argon2 takes 64 MB each)"
    )
    login_queue: int = Field(
        32, ge=1, description="logins waiting for a slot before more are refused (503)"
    )
    max_upload_mb: int = Field(25, ge=1, description="largest photo upload (MB)")
    max_upload_files: int = Field(12, ge=1, description="photos in one upload")
    https_only: bool = Field(
        False, description="send the session cookie over HTTPS only (behind a TLS proxy)"
    )
    load_models: bool = Field(
        True, description="load the face models at start (false: on the first search)"
    )


class SearchSettings(BaseModel):
    """The server's search worker pool: how many searches run at once, and each one's budget.

    Probe photos are analysed (decode, detect, embed) in worker processes, so that one photo
    that needs too much time or memory is stopped without touching the others' searches.
    """

    workers: int = Field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        ge=1,
        description="searches analysed at once (worker processes, each holding the face models, "
        "~250 MB); more than the cores only makes each one slower",
    )
    # Why 60 s: a normal search takes 0.5-2 s and the worst legitimate one (no face anywhere:
    # every turn, tilt, equalised copy, the upsampled pass and the CNN fallback on a photo
    # already downscaled to probe_max_side) ~7 s on one idle core; 60 s leaves room for a busy
    # machine and several photos per search, while a stuck search holds a worker one minute.
    time_budget_s: float = Field(60.0, gt=0, description="a search's analysis is stopped after")
    # Why 1536 MB: a 40-megapixel photo (the max_pixels limit) decodes to 120 MB and the search
    # on its downscaled copy peaks ~0.5 GB; the models are not counted (they are loaded first).
    memory_budget_mb: int = Field(
        1536, ge=64, description="address space a search may add to its worker (RLIMIT_AS)"
    )
    queue_wait_s: float = Field(
        30.0, ge=0, description="how long a search waits for a free worker before 'busy' (503)"
    )
    start_timeout_s: float = Field(
        120.0, gt=0, description="how long a new worker may take to load the models"
    )


class ClusterSettings(BaseModel):
    """The cluster ingest (``nextofkin ingest --engine ray``, docs/SCALING.md)."""

    address: str | None = Field(
        None,
        description="Ray cluster address (host:port of the head); default: a local Ray "
        "instance started by the run itself",
    )
    shard_images: int = Field(
        64, ge=1, description="images per Parquet shard (the unit of loading and of resume)"
    )
    shard_dir: Path | None = Field(
        None,
        description="where workers write shards; must be shared by every node (default: "
        "cluster/shards in the workspace, enough for one machine or a shared filesystem)",
    )
    gpus_per_worker: float = Field(
        1.0, ge=0, description="GPUs each analysis actor asks for when the cluster has GPUs"
    )


class Settings(BaseSettings):
    """Every setting of nextofkin."""

    model_config = SettingsConfigDict(
        env_prefix="NEXTOFKIN_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Field(default_factory=default_home, description="workspace directory")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file inside the workspace"
    )
    user: str | None = Field(None, description="the user the CLI acts as")
    language: Literal["uk", "en", "ru"] | None = Field(
        None,
        description="language of the CLI's messages and reports (default: English); the web UI "
        "follows each user's setting, else the browser's Accept-Language",
    )

    @field_validator("language", mode="before")
    @classmethod
    def _language_code(cls, value: object) -> object:
        # A locale name as the system writes it (uk_UA.UTF-8, uk-UA) means its language.
        if isinstance(value, str):
            return value.strip().replace("-", "_").split("_")[0].split(".")[0].lower() or None
        return value

    vision: VisionSettings = Field(default_factory=VisionSettings)
    decision: DecisionPolicy = Field(default_factory=DecisionPolicy)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    standing: StandingSettings = Field(default_factory=StandingSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The flat names (:data:`FLAT_NAMES`) rank above the nested ``__`` ones."""
        return (
            init_settings,
            FlatNamesSource(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )

    @classmethod
    def load(cls, home: Path | None = None) -> Settings:
        """Read settings from the environment, with an optional workspace override."""
        settings = cls()
        if home is not None:
            settings.home = home
        settings.home = settings.home.expanduser().resolve()
        return settings


class FlatNamesSource(PydanticBaseSettingsSource):
    """The settings given by their flat environment names (:data:`FLAT_NAMES`), as nested values."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: :meth:`__call__` reads every flat name at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """``{group: {field: value}}`` for the flat names set in the environment."""
        values: dict[str, dict[str, str]] = {}
        for name, (group, key) in FLAT_NAMES.items():
            if name in os.environ:
                values.setdefault(group, {})[key] = os.environ[name]
        return values
