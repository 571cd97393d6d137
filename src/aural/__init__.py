"""aural: self-hosted Whisper speech-to-text.

The Python API is :func:`transcribe`; results are :class:`Transcript` objects that
:func:`aural.formats.render` turns into json, verbose_json, text, srt, vtt or tsv.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from aural.errors import AuralError
from aural.types import (
    ChannelInfo,
    ChannelMode,
    Segment,
    Task,
    Transcript,
    TranscriptionOptions,
    Word,
)

if TYPE_CHECKING:  # the engine is imported on first use: the API process never loads it
    from aural.model_pool import ModelPool
    from aural.pipeline import ProgressCallback, SegmentCallback

__all__ = [
    "AuralError",
    "ChannelInfo",
    "ChannelMode",
    "Segment",
    "Task",
    "Transcript",
    "TranscriptionOptions",
    "Word",
    "transcribe",
]
__version__ = "0.1.0"


def transcribe(
    media: str | Path | npt.NDArray[np.floating[Any]],
    *,
    model: str | None = None,
    pool: ModelPool | None = None,
    on_progress: ProgressCallback | None = None,
    on_segment: SegmentCallback | None = None,
    **options: Any,
) -> Transcript:
    """Transcribe a media file, or samples at 16 kHz (1-D mono or ``[channels, frames]``).

    ``options`` are the fields of :class:`TranscriptionOptions` (``language="fr"``,
    ``task="translate"``, ``channels=[1]``, ``word_timestamps=True``, ...). The model is loaded
    once per process and reused by later calls. ``on_progress(done_s, total_s)`` follows the
    decoding; ``on_segment(segment)`` gets each segment as soon as it is final, in timeline
    order per channel.
    """
    from aural.audio import Audio
    from aural.engine import transcribe_media
    from aural.model_pool import get_model_pool

    source = Audio.from_array(media) if isinstance(media, np.ndarray) else media
    return transcribe_media(
        source,
        TranscriptionOptions.create(**options),
        pool or get_model_pool(),
        model=model,
        on_progress=on_progress,
        on_segment=on_segment,
    )
