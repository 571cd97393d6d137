"""Every error a user can cause, as one typed class each.

The faces (CLI, HTTP) map these classes to an exit code or a status and an error body in one
place each; the core only raises them. Messages are one line and say what to do.
"""

from __future__ import annotations

from typing import ClassVar


class AuralError(Exception):
    """Base of all errors caused by the input or the request, never by a bug.

    ``code`` is a stable machine-readable name; ``context`` carries the values a client may need
    to react (a limit, the offending value).
    """

    code: ClassVar[str] = "aural.error"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, object] = context


class InvalidMediaError(AuralError):
    """The input is not media that can be decoded (retrying the same input cannot help)."""

    code = "media.invalid"


class EmptyMediaError(InvalidMediaError):
    """The input is empty or holds no audio samples."""

    code = "media.empty"


class NoAudioStreamError(InvalidMediaError):
    """The container decodes but carries no audio stream (a video-only file, an image)."""

    code = "media.no-audio-stream"


class TruncatedMediaError(InvalidMediaError):
    """The file ends before the media its header announces."""

    code = "media.truncated"


class MediaTooLongError(InvalidMediaError):
    """The media lasts longer than the configured maximum duration."""

    code = "media.too-long"


class MediaOverMemoryBudgetError(InvalidMediaError):
    """The decoded media (duration x channels) would pass the per-request memory budget."""

    code = "media.over-memory-budget"


class InvalidOptionError(AuralError):
    """An option has a value outside what the engine accepts."""

    code = "options.invalid"


class ChannelOutOfRangeError(InvalidOptionError):
    """A selected channel index does not exist in the media."""

    code = "channels.out-of-range"


class UnsupportedLanguageError(InvalidOptionError):
    """The language tag names no language Whisper (or the chosen model) knows."""

    code = "language.unsupported"


class UnlicensedLanguageError(AuralError):
    """The language exists but is not in the licensed set of this deployment or API key."""

    code = "language.unlicensed"


class ModelNotAvailableError(AuralError):
    """The model name resolves to nothing loadable here (not installed, not cached, offline)."""

    code = "model.not-available"


class ModelIntegrityError(AuralError):
    """Bundled model parts do not add up to the published size and checksum."""

    code = "model.corrupt"
