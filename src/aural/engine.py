"""From a media file (or samples) to a :class:`Transcript`: decode, pick the model, run.

The one entry point that the Python API, the CLI and the job runner share, so limits and
licensing apply the same way on every face.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from aural.audio import SAMPLE_RATE, Audio, MediaSource, clip, decode_audio
from aural.memory import TRIM_AFTER_AUDIO_S, release_freed_memory
from aural.model_pool import ModelPool
from aural.pipeline import ProgressCallback, SegmentCallback, Transcriber
from aural.speech import FRAME
from aural.types import Segment, Transcript, TranscriptionOptions

# Silence put before the audio. Speech that starts at the very first sample was decoded, and
# its language ranked, differently from the same speech behind any pause: Whisper then sees
# none of the silence it sees before every other region (the speech detector pads regions by
# 0.4 s). A whispered clip gave 33 % WER alone and 0-8 % behind silence; Spanish IVR prompts
# that start at once were ranked Italian. A whole number of the speech detector's 32 ms
# frames, so that its frames fall on the same samples of the speech as without it.
LEAD_S = 13 * FRAME / SAMPLE_RATE


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
    on_segment: SegmentCallback | None = None,
) -> Transcript:
    """Decode ``source`` (unless it is already :class:`Audio`) and transcribe it.

    ``on_segment`` gets each segment as soon as it is final (timeline order per channel), for
    the faces that stream; the returned transcript holds the same segments.
    """
    options = with_deployment_licence(options, pool)
    loaded = pool.get(model)
    audio = (
        source
        if isinstance(source, Audio)
        else decode_audio(
            source,
            max_duration_s=pool.settings.max_duration_s,
            memory_budget_bytes=pool.settings.media_memory_budget_bytes,
        )
    )
    try:
        ranged = options.start_s > 0 or options.end_s is not None
        part = clip(audio, options.start_s, options.end_s) if ranged else audio
        offset = options.start_s if ranged else 0.0
        padded, lead = _behind_silence(part, LEAD_S)
        streamed: SegmentCallback | None = None
        if on_segment is not None:
            streamed = partial(_emit_moved, on_segment, offset - lead, offset, part.duration)
        transcript = Transcriber(loaded).transcribe(padded, options, on_progress, streamed)
        return _moved(transcript, offset - lead, offset, part.duration)
    finally:
        # Only after long audio: a short clip's buffers are small and the next call reuses them,
        # while handing them back and faulting them in again cost 15-25 % of a short clip's
        # latency (p50 0.31 vs 0.38 s, three alternating runs on 18 clips).
        if audio.duration * audio.channel_count >= TRIM_AFTER_AUDIO_S:
            release_freed_memory()


def _behind_silence(audio: Audio, seconds: float) -> tuple[Audio, float]:
    """``audio`` behind ``seconds`` of digital silence, and the seconds put there."""
    if seconds <= 0 or not audio.channels:
        return audio, 0.0
    lead = round(seconds * SAMPLE_RATE)
    return audio.behind_silence(lead), lead / SAMPLE_RATE


def _emit_moved(
    callback: SegmentCallback, delta_s: float, start_s: float, length_s: float, segment: Segment
) -> None:
    callback(_moved_segment(segment, delta_s, start_s, start_s + length_s))


def _moved(transcript: Transcript, delta_s: float, start_s: float, length_s: float) -> Transcript:
    """``transcript`` of audio that was moved by ``-delta_s`` (a clip of the media that starts
    at ``start_s``, put behind silence), back on the media's timeline: every time moved by
    ``delta_s`` and kept within the clip, ``duration`` the clip's."""
    if delta_s == 0 and transcript.duration == length_s:
        return transcript
    end_s = start_s + length_s
    return replace(
        transcript,
        duration=length_s,
        channels=tuple(replace(c, duration=length_s) for c in transcript.channels),
        segments=tuple(_moved_segment(s, delta_s, start_s, end_s) for s in transcript.segments),
    )


def _moved_segment(segment: Segment, delta_s: float, start_s: float, end_s: float) -> Segment:
    def at(moment: float) -> float:
        return round(min(max(moment + delta_s, start_s), end_s), 3)

    return replace(
        segment,
        start=at(segment.start),
        end=at(segment.end),
        words=tuple(replace(w, start=at(w.start), end=at(w.end)) for w in segment.words),
    )
