"""The one exception tree of nextofkin.

Every error the domain code raises on purpose derives from :class:`NextOfKinError`. The API layer
maps these classes to HTTP statuses in exactly one place; the CLI prints their message and exits
non-zero. Domain code never raises web errors.

NextOfKinError
├── ConfigError              settings or workspace unusable
├── InputError               bad input from a user (4xx-like)
│   ├── ImageError           one image cannot be used
│   │   ├── UnreadableImage  zero-byte, truncated, corrupt or not an image at all
│   │   ├── UnsupportedFormat an image format we do not accept
│   │   ├── ImageTooLarge    more pixels than the decompression-bomb limit
│   │   ├── ImageTooSmall    too few pixels to hold a face (1x1, 40000x1)
│   │   └── ImageNotAnalysable the face models failed on this image
│   ├── ManifestError        a broken line or entry in a gallery export
│   ├── PathEscapesRoot      a manifest path that points outside the gallery root
│   ├── NoFaceFound          detection found no face (says what was tried)
│   └── OverBudget           one search needed more time or memory than its budget
├── NotFound                 an account, photo, case or user that does not exist
├── ModelError               a model cannot be loaded or used
│   └── ModelMismatch        vectors from another model or alignment than the index holds
├── IndexError_              the vector index is inconsistent or unusable
├── CalibrationError         thresholds missing or not valid for this index
├── CaseStateError           an illegal case state transition
├── PermissionDenied         the acting user lacks the role for this action
├── PolicyViolation          a safeguard refuses the action (e.g. notify before confirmation)
├── AuditIntegrityError      the audit chain is broken
├── Busy                     another run holds the resource, or no capacity now (retry later)
├── DiskFull                 the disk holding the workspace is full
└── NotifyError              a message could not be built or delivered
    ├── TemporaryDeliveryError  worth retrying (4xx, connection refused)
    ├── PermanentDeliveryError  never worth retrying (5xx, no address)
    └── UncertainDeliveryError  may have been delivered (lost after the body): never retried
"""

from __future__ import annotations


class NextOfKinError(Exception):
    """Base of every error nextofkin raises on purpose."""


class ConfigError(NextOfKinError):
    """Settings or the workspace cannot be used."""


class InputError(NextOfKinError):
    """The user gave input we cannot use."""


class ImageError(InputError):
    """One image cannot be used."""


class UnreadableImage(ImageError):
    """Zero-byte, truncated, corrupt, or not an image at all."""


class UnsupportedFormat(ImageError):
    """An image format that we do not accept."""


class ImageTooLarge(ImageError):
    """More pixels than the decompression-bomb limit allows."""


class ImageTooSmall(ImageError):
    """Too few pixels in a row or column to hold a face (a 1x1 or 40000x1 image)."""


class ImageNotAnalysable(ImageError):
    """The face models failed on this image (an error inside detection or embedding)."""


class ManifestError(InputError):
    """A broken line or entry in a gallery export."""


class PathEscapesRoot(InputError):
    """A manifest path that points outside the gallery root."""


class NoFaceFound(InputError):
    """Detection found no face; the message says what was tried."""

    def __init__(self, message: str, tried: list[str] | None = None) -> None:
        super().__init__(message)
        self.tried: list[str] = list(tried or [])


class OverBudget(InputError):
    """One search needed more time or memory than its budget allows; it was stopped."""


class NotFound(NextOfKinError):
    """An account, photo, case or user that does not exist."""


class ModelError(NextOfKinError):
    """A model cannot be loaded or used."""


class ModelMismatch(ModelError):
    """Vectors from another model or alignment than the index holds."""


class IndexError_(NextOfKinError):  # noqa: N801 - trailing underscore avoids the builtin
    """The vector index is inconsistent or unusable."""


class CalibrationError(NextOfKinError):
    """Decision thresholds are missing or not valid for this index."""


class CaseStateError(NextOfKinError):
    """An illegal case state transition."""


class PermissionDenied(NextOfKinError):
    """The acting user lacks the role for this action."""


class PolicyViolation(NextOfKinError):
    """A safeguard refuses the action, e.g. a notification before confirmation."""


class AuditIntegrityError(NextOfKinError):
    """The audit chain is broken."""


class Busy(NextOfKinError):
    """Another run holds the resource (an ingest), or no capacity is free now: retry later."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DiskFull(NextOfKinError):
    """The disk holding the workspace is full; nothing half-written was kept."""


class NotifyError(NextOfKinError):
    """A message could not be built or delivered."""


class TemporaryDeliveryError(NotifyError):
    """A delivery failure worth retrying (4xx reply, server unreachable)."""


class PermanentDeliveryError(NotifyError):
    """A delivery failure never worth retrying (5xx reply, no address)."""


class UncertainDeliveryError(NotifyError):
    """The message may have been delivered (the connection was lost after its body was sent).

    Never retried automatically: a person checks and records the outcome.
    """
