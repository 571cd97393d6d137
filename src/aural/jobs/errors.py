"""Errors the job system raises when a request cannot be accepted or a task is unknown."""

from __future__ import annotations

from aural.errors import AuralError


class TaskNotFoundError(AuralError):
    """No task with this id exists (never did, was deleted, or was purged)."""

    code = "resource.not-found"


class MediaTooLargeError(AuralError):
    """The uploaded file is larger than the configured maximum upload size."""

    code = "media.too-large"


class StorageFullError(AuralError):
    """Storing the upload would exceed the storage quota for media and results."""

    code = "storage.capacity-exceeded"


class CapacityExceededError(AuralError):
    """The configured maximum of queued + running tasks is reached."""

    code = "licensing.capacity-exceeded"


class WebhookRefusedError(AuralError):
    """A webhook URL is malformed or points at an address the server will not call."""

    code = "webhook.refused"
