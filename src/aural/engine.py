"""From a media file (or samples) to a :class:`Transcript`: decode, pick the model, run.

The one entry point that the Python API, the CLI and the job runner share, so limits and
licensing apply the same way on every face.
"""

from __future__ import annotations

from dataclasses import replace

from aural.audio import Audio, MediaSource, clip, decode_audio
from aural.model_pool import ModelPool
from aural.pipeline import ProgressCallback, Transcriber, validate_options
from aural.types import Transcript, TranscriptionOptions, Word


def with_deployment_licence(options: TranscriptionOptions, pool: ModelPool) -> TranscriptionOptions:
    """Options limited to the deployment's licensed languages unless the caller set a list."""
    if options.licensed_languages is None and pool.settings.licensed_languages is not None:
        return replace(options, licensed_languages=pool.settings.licensed_languages)
    return options


def transcribe_media(
    source: MediaSource | Audio,
    options: TranscriptionOptions,
    pool: ModelPool,
    model: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> Transcript:
    """Decode ``source`` (unless it is already :class:`Audio`) and transcribe it."""
    options = with_deployment_licence(options, pool)
    loaded = pool.get(model)
    audio = (
        source
        if isinstance(source, Audio)
        else decode_audio(source, max_duration_s=pool.settings.max_duration_s)
    )
    if options.start_s > 0 or options.end_s is not None:
        validate_options(options)
        part = clip(audio, options.start_s, options.end_s)
        transcript = Transcriber(loaded).transcribe(part, options, on_progress)
        return shifted(transcript, options.start_s)
    return Transcriber(loaded).transcribe(audio, options, on_progress)


def shifted(transcript: Transcript, offset_s: float) -> Transcript:
    """``transcript`` of a clip starting ``offset_s`` into the media, on the media's timeline.

    ``duration`` stays the length of the audio processed (the clip).
    """
    if offset_s <= 0:
        return transcript

    def word(w: Word) -> Word:
        return replace(w, start=round(w.start + offset_s, 3), end=round(w.end + offset_s, 3))

    segments = tuple(
        replace(
            s,
            start=round(s.start + offset_s, 3),
            end=round(s.end + offset_s, 3),
            words=tuple(word(w) for w in s.words),
        )
        for s in transcript.segments
    )
    return replace(transcript, segments=segments)
