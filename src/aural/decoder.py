"""Decoding speech with faster-whisper, the two fast ways aural uses.

* **One window** (speech that fits in Whisper's 30 s context, i.e. every short clip): the
  encoder runs once on the speech padded to ``max(10 s, speech + 1 s)`` instead of a full 30 s
  window, and that one encoder output serves language detection *and* decoding. Plain
  faster-whisper encodes a padded 30 s window twice (detect, then decode) for a 3 s clip.
  Measured on the English fixtures: the same WER, about a third of the CPU time; below 10 s of
  context Whisper starts to drop words, hence the floor.
* **Batches** (longer speech): VAD regions are packed, without the pauses between them, into
  chunks of up to 30 s of speech and decoded in batches by faster-whisper's
  ``BatchedInferencePipeline``, which uses the cores better than the sequential loop. A chunk
  is decoded as text alone (no timestamp tokens) and its words are aligned to the audio
  afterwards; segments are cut from the words at sentence ends and pauses. Measured on the
  benchmark's 754 s English file against spans with their pauses decoded with timestamp
  tokens: WER 3.28 % -> 2.59 % (plain faster-whisper 3.00 %) in 0.91x the time including the
  alignment (benchmarks/results/2026-11-30-amd-epyc-2c-text-only-batches.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import Segment as WhisperSegment
from faster_whisper.transcribe import TranscriptionOptions as WhisperOptions
from faster_whisper.transcribe import Word as WhisperWord
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens
from faster_whisper.vad import SpeechTimestampsMap

from aural.audio import SAMPLE_RATE
from aural.labels import label_tokens
from aural.speech import GatheredSpeech, SpeechRegion, windows
from aural.spool import ChannelSamples, Samples
from aural.types import TranscriptionOptions

WINDOW_S = 30.0
# Room kept free in the window: Whisper predicts the end timestamp inside the context.
_TAIL_S = 1.0
# No spoken word takes longer (the slowest, drawn-out ones take about 1.5 s; faster-whisper
# itself cuts a sentence's last word at twice the median word, at most 1.4 s): a word aligned
# over more is spread over speech Whisper did not read.
_MAX_WORD_S = 2.0
MIN_CONTEXT_S = 10.0
# Where a text-only chunk is cut into segments: after a word that ends a sentence, and at a
# pause between words at least this long (a pause the speech detector would end a region at,
# with its padding on both sides).
SENTENCE_ENDS = (".", "?", "!", "\u3002", "\uff1f", "\uff01")
SEGMENT_PAUSE_S = 1.0
_FRAMES_PER_S = 100
_TRANSCRIBE_DEFAULTS = inspect.signature(WhisperModel.transcribe).parameters


@dataclass(frozen=True)
class EncodedWindow:
    """Speech that fits one window: its features and the encoder's output for them."""

    features: np.ndarray[Any, Any]  # bare ndarray is an error on numpy 1.x stubs
    encoder_output: ctranslate2.StorageView


def fits_one_window(speech_samples: int, window_s: float = WINDOW_S) -> bool:
    """Whether speech this long is decoded as one window (``window_s`` = chunk_length_s)."""
    return speech_samples / SAMPLE_RATE <= min(WINDOW_S, window_s) - _TAIL_S


def encode_window(
    whisper: WhisperModel, speech: Samples, min_context_s: float = MIN_CONTEXT_S
) -> EncodedWindow:
    """Encode ``speech`` (at most one window) padded only to the context it needs.

    ``min_context_s`` is the floor below which decoding starts to drop words; language
    detection alone may ask for less.
    """
    seconds = speech.shape[0] / SAMPLE_RATE
    context_s = min(WINDOW_S, max(min_context_s, float(np.ceil(seconds + _TAIL_S))))
    features = _padded_features(whisper, speech, int(context_s * _FRAMES_PER_S))
    encoder_output = whisper.encode(np.ascontiguousarray(features))
    # generate_segments reads the content length from the features: only the speech counts.
    content_frames = int(np.ceil(seconds * _FRAMES_PER_S)) + 1
    return EncodedWindow(features[:, :content_frames], encoder_output)


def _padded_features(
    whisper: WhisperModel, speech: Samples, frames: int, start: int = 0
) -> np.ndarray[Any, Any]:
    """Log-mel features of ``frames`` frames: ``speech`` placed ``start`` samples into silence
    (cut where it would run past the end)."""
    padded = np.zeros(frames * whisper.feature_extractor.hop_length, dtype=np.float32)
    length = max(0, min(speech.shape[0], padded.shape[0] - start))
    padded[start : start + length] = speech[:length]
    features: np.ndarray[Any, Any] = whisper.feature_extractor(padded)[:, :frames]
    return features


# Runs a function over items (side by side, say) and gives its results in the items' order.
ViewMap = Callable[[Callable[[float], dict[str, float]], Sequence[float]], list[dict[str, float]]]


def no_speech_probability(whisper: WhisperModel, window: EncodedWindow) -> float:
    """Whisper's probability that an encoded window holds no speech (its <|nospeech|> token at
    the start of the transcript), as faster-whisper's silence rule reads it."""
    prompt = [whisper.hf_tokenizer.token_to_id("<|startoftranscript|>")]
    result = whisper.model.generate(
        window.encoder_output, [prompt], max_length=2, return_no_speech_prob=True
    )[0]
    return float(result.no_speech_prob)


def rank_languages(
    whisper: WhisperModel, encoder_output: ctranslate2.StorageView
) -> dict[str, float]:
    """Language probabilities from an encoder output (no second encoder pass)."""
    results = whisper.model.detect_language(encoder_output)[0]
    return {token[2:-2]: float(probability) for token, probability in results}


def rank_languages_over_views(
    whisper: WhisperModel,
    speech: Samples,
    shifts_s: Sequence[float],
    map_views: ViewMap | None = None,
) -> dict[str, float]:
    """Language probabilities of ``speech`` (at most one window, less the largest shift),
    averaged over views of it that start ``shifts_s`` seconds into a full 30 s window.

    Whisper's detector answers differently for the same short speech moved by a few tens of
    milliseconds (an Asterisk Spanish prompt: es 0.78, then ca 0.60 with 50 ms more silence
    before it): one full-context look is one noisy sample. Each view is an encode of its own: on
    CPU a batch of four cost the same time as four in turn (2.9 s against 0.6 s for one on 2
    cores) and its encoder attention would hold four windows' memory at once. ``map_views``
    may run them side by side, on the model's replicas (in turn when not given); the mean is
    taken in the order of ``shifts_s`` either way, so the answer does not depend on it.
    """
    frames = int(WINDOW_S * _FRAMES_PER_S)

    def view(shift: float) -> dict[str, float]:
        features = _padded_features(whisper, speech, frames, int(shift * SAMPLE_RATE))
        return rank_languages(whisper, whisper.encode(np.ascontiguousarray(features)))

    views = map_views(view, shifts_s) if map_views else [view(shift) for shift in shifts_s]
    total: dict[str, float] = {}
    for ranking in views:
        for code, probability in ranking.items():
            total[code] = total.get(code, 0.0) + probability / len(shifts_s)
    return total


def _tokenizer(whisper: WhisperModel, language: str, options: TranscriptionOptions) -> Tokenizer:
    return Tokenizer(
        whisper.hf_tokenizer,
        whisper.model.is_multilingual,
        task=options.task.value,
        language=language,
    )


def suppressed_tokens(tokenizer: Tokenizer, options: TranscriptionOptions) -> list[int]:
    """The tokens Whisper may not write: faster-whisper's choice for ``options.suppress_tokens``,
    except that the default (-1) lets the brackets and notes of sound labels through, which
    aural then takes out of the transcript (:mod:`aural.labels`)."""
    suppress = list(options.suppress_tokens)
    if not suppress:
        return suppress
    tokens = get_suppressed_tokens(tokenizer, suppress) or []
    if -1 in suppress:
        allowed = label_tokens(tokenizer)
        tokens = [token for token in tokens if token not in allowed]
    return tokens


def _whisper_options(tokenizer: Tokenizer, options: TranscriptionOptions) -> WhisperOptions:
    """faster-whisper's options with its own defaults for what aural does not expose."""
    return WhisperOptions(
        beam_size=options.beam_size,
        best_of=5,
        patience=options.patience,
        length_penalty=1,
        repetition_penalty=1,
        no_repeat_ngram_size=0,
        log_prob_threshold=options.log_prob_threshold,
        no_speech_threshold=options.no_speech_threshold,
        compression_ratio_threshold=options.compression_ratio_threshold,
        condition_on_previous_text=options.condition_on_previous_text,
        prompt_reset_on_temperature=0.5,
        temperatures=list(options.temperature),
        initial_prompt=options.initial_prompt,
        prefix=None,
        suppress_blank=True,
        suppress_tokens=suppressed_tokens(tokenizer, options),
        without_timestamps=False,
        max_initial_timestamp=1.0,
        word_timestamps=options.word_timestamps,
        prepend_punctuations=_TRANSCRIBE_DEFAULTS["prepend_punctuations"].default,
        append_punctuations=_TRANSCRIBE_DEFAULTS["append_punctuations"].default,
        multilingual=False,
        max_new_tokens=None,
        clip_timestamps=[0.0],
        hallucination_silence_threshold=None,
        hotwords=None,
    )


def decode_window(
    whisper: WhisperModel,
    window: EncodedWindow,
    language: str,
    options: TranscriptionOptions,
) -> Iterator[WhisperSegment]:
    """Decode one encoded window; times are seconds into the gathered speech."""
    tokenizer = _tokenizer(whisper, language, options)
    yield from whisper.generate_segments(
        window.features,
        tokenizer,
        _whisper_options(tokenizer, options),
        False,
        window.encoder_output,
    )


def decode_batched(
    whisper: WhisperModel,
    samples: ChannelSamples,
    regions: tuple[SpeechRegion, ...],
    language: str,
    options: TranscriptionOptions,
    batch_size: int,
) -> Iterator[WhisperSegment]:
    """Decode long speech in batches of up to 30 s chunks; times are seconds into the speech
    of ``regions`` gathered back to back (as :func:`decode_window`'s are).

    Chunks hold up to 30 s of speech, regions whole, without the pauses between them, as
    ``BatchedInferencePipeline`` packs its own VAD's speech: on the benchmark's 754 s file
    (690 s of speech) 25 chunks instead of the 28 that spans with their pauses took.
    They are decoded as text with their words aligned (kept only when the request asks for
    them). A batched chunk is decoded in one pass, and Whisper may end that pass well before the
    chunk's speech ends (the sequential loop would seek on and decode the rest). The aligned
    words show where it stopped. A chunk with more than a second of speech after its last word
    gets a second look, with timestamp tokens, and any speech still unheard after that is
    decoded as one window with a trimmed encoder input (a tail is short, and a batched pass
    would pay a full 30 s encoder pass for it), round after round until it is heard. So no
    speech is dropped: on the benchmark's 77 s
    file the tails took the WER from 7.1 % back to that of the sequential loop. The second look
    is rare. The 754 s file had none, and the 77 s file had one, where a lone "SIP" came after
    a pause at the end of a chunk. Decoded alone as a tail, that word came out twice with
    timestamp tokens and as "SIP ship. Thank you." as text; the second look with timestamp
    tokens heard it once. A region inside a chunk that no aligned word lies in (a sentence
    said twice, read once) is decoded as a window of its own (:func:`unheard_regions`).
    """
    speech = GatheredSpeech(samples, regions)
    timeline = SpeechTimestampsMap([{"start": r.start, "end": r.end} for r in regions], SAMPLE_RATE)
    chunks = speech_chunks(speech.regions, min(WINDOW_S, float(options.chunk_length_s)))
    found: list[list[WhisperSegment]] = [[] for _ in chunks]
    token_ids = _token_ids(whisper)
    for chunk_text in _batches(whisper, speech, chunks, language, options, batch_size, True):
        index = _chunk_index(chunks, chunk_text)
        found[index] += split_at_sentences(chunk_text, token_ids, timeline.get_original_time)
    gathered_regions = tuple(speech.regions)
    for chunk, segments in zip(chunks, found, strict=True):
        if _unheard_tails([chunk], gathered_regions, [_heard_until(chunk, segments)]):
            segments = list(_decode_with_timestamps(whisper, speech, chunk, language, options))
        else:
            inside = _regions_in(chunk, gathered_regions)
            segments = _unheard_decoded(whisper, speech, inside, segments, language, options)
        for segment in segments:
            yield segment if options.word_timestamps else replace(segment, words=None)


def _regions_in(chunk: SpeechRegion, regions: Sequence[SpeechRegion]) -> list[SpeechRegion]:
    """The ``regions`` a chunk holds whole."""
    return [r for r in regions if chunk.start <= r.start and r.end <= chunk.end]


def _chunk_index(chunks: list[SpeechRegion], segment: WhisperSegment) -> int:
    """Which chunk a segment was decoded from (the one that holds its middle)."""
    middle = int((segment.start + segment.end) / 2 * SAMPLE_RATE)
    for index, chunk in enumerate(chunks):
        if chunk.start <= middle <= chunk.end:
            return index
    return min(range(len(chunks)), key=lambda i: abs(chunks[i].start - middle))


def _heard_until(chunk: SpeechRegion, segments: list[WhisperSegment]) -> int:
    """The sample where a chunk's decoded speech ends (its start when nothing was heard)."""
    return max((int(s.end * SAMPLE_RATE) for s in segments), default=chunk.start)


def _decode_with_timestamps(
    whisper: WhisperModel,
    speech: GatheredSpeech,
    chunk: SpeechRegion,
    language: str,
    options: TranscriptionOptions,
) -> Iterator[WhisperSegment]:
    """One chunk decoded with timestamp tokens, and speech still unheard after its last
    segment decoded again as a trimmed window, as often as that leaves speech unheard.

    Whisper may end a window's pass after its first sentence again and again: three copies of a
    quiet German sentence behind a loud one, each pass heard one more (on one CPU, not on
    another). The pass aligns its words (Whisper's loop then seeks on from the last word, not
    from a timestamp that may run over speech it did not read), and a region no word lies in
    is decoded on its own: a LibriVox sentence said six times (42 s, two chunks) came out as
    one segment over the first four sayings, 78 of its 114 words lost, without them.
    """
    aligned = replace(options, word_timestamps=True)
    segments = list(_batches(whisper, speech, [chunk], language, aligned, 1, False))
    inside = _regions_in(chunk, speech.regions)
    segments = _unheard_decoded(whisper, speech, inside, segments, language, options)
    yield from segments
    yield from _the_rest(whisper, speech, chunk, segments, language, options)


def decode_one_window(
    whisper: WhisperModel,
    samples: ChannelSamples,
    regions: tuple[SpeechRegion, ...],
    language: str,
    options: TranscriptionOptions,
    window: EncodedWindow | None = None,
) -> Iterator[WhisperSegment]:
    """Speech that fits one window (``regions`` gathered back to back; ``window`` its
    encoding when the language decision already made it) decoded as one, and the speech
    Whisper left unheard at its end decoded again, as a batched chunk's is.

    Whisper's loop ends a window whose last segment closes on a single timestamp: it takes the
    window as done. A whispered sentence one second after a loud one (jfk) was dropped that
    way, whole, at some levels and not at others (at -17 and -30 dBFS, not at -20 to -26),
    although the detector had it as speech: the pass simply stopped after the loud sentence.
    A window with a pause left out of it (:func:`has_pause`) is decoded with its words aligned,
    and a region no word lies in is decoded on its own (:func:`unheard_regions`). Times are
    seconds into the gathered speech.
    """
    speech = GatheredSpeech(samples, regions)
    window = window or encode_window(whisper, speech[0 : speech.length])
    # Words show which regions were heard; speech with no pause left out of it has none to hide
    # a saying in.
    checked = has_pause(regions)
    asked = replace(options, word_timestamps=True) if checked else options
    segments = list(decode_window(whisper, window, language, asked))
    if not any(s.text.strip() for s in segments):
        return  # Whisper heard no speech in the whole window: its silence rules decided
    if checked:
        segments = _unheard_decoded(whisper, speech, speech.regions, segments, language, options)
    for segment in segments:
        yield segment if options.word_timestamps else replace(segment, words=None)
    chunk = SpeechRegion(0, speech.length)
    yield from _the_rest(whisper, speech, chunk, segments, language, options)


def has_pause(regions: Sequence[SpeechRegion]) -> bool:
    """Whether any audio was left out between two of ``regions`` (channel times).

    Regions whose padding meets are one stretch of audio, whichever way the detector split it.
    It splits at a short dip in its probability, and whether a dip ends a region depends on
    where its 32 ms frames fall: an Asterisk French prompt was one region alone and two
    touching regions behind 27 s of silence (0.75 frame later on the grid). The gathered audio
    is the same either way; the decoding path must be too. Two regions took the window to the
    word-aligned path, where Whisper's loop seeks from the last word and read the 0.3 s left
    after it as the last sentence again.
    """
    return any(first.end < second.start for first, second in pairwise(regions))


def unheard_regions(
    regions: Sequence[SpeechRegion], segments: Sequence[WhisperSegment]
) -> list[SpeechRegion]:
    """The speech no aligned word reads: each region longer than ``_TAIL_S`` in which no word
    lies, and the span of each word aligned over more than ``_MAX_WORD_S``, merged where they
    overlap.

    Whisper may read a sentence said twice as one segment over both, its words aligned in the
    first: the IVR prompt or the caller who repeats. A LibriVox sentence said twice with a
    pause between came out once (14 of its 28 words lost), and so did every clip of the
    fidelity set read again 30 dB quieter after itself. The second saying is then a region the
    detector heard and no word of the transcript lies in. Or the alignment stretches one word
    over the saying it did not read: "than" over 7 s, its middle in the next saying, which
    thus looked heard (Whisper's sequential loop, the same sentence said six times). No word
    takes that long, so such a word is no evidence, and its span is speech to read again.
    """
    words = [word for segment in segments for word in segment.words or []]
    plausible = [word for word in words if word.end - word.start <= _MAX_WORD_S]
    middles = _word_middles(plausible)
    spans = [region for region in _checked(regions) if not _holds_any(region, middles)]
    spans += [
        SpeechRegion(int(word.start * SAMPLE_RATE), int(word.end * SAMPLE_RATE))
        for word in words
        if word.end - word.start > _MAX_WORD_S
    ]
    return _merged(spans)


def _merged(spans: list[SpeechRegion]) -> list[SpeechRegion]:
    """``spans`` in time order, those that overlap joined."""
    merged: list[SpeechRegion] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start < merged[-1].end:
            merged[-1] = SpeechRegion(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def _checked(regions: Sequence[SpeechRegion]) -> list[SpeechRegion]:
    """The regions long enough to hold a word that Whisper would not have read as a breath."""
    return [region for region in regions if region.end - region.start > _TAIL_S * SAMPLE_RATE]


def _word_middles(words: Sequence[WhisperWord]) -> list[int]:
    return [int((word.start + word.end) / 2 * SAMPLE_RATE) for word in words]


def _holds_any(region: SpeechRegion, samples: Sequence[int]) -> bool:
    return any(region.start <= sample < region.end for sample in samples)


def _unheard_decoded(
    whisper: WhisperModel,
    speech: GatheredSpeech,
    regions: Sequence[SpeechRegion],
    segments: list[WhisperSegment],
    language: str,
    options: TranscriptionOptions,
) -> list[WhisperSegment]:
    """``segments`` (with their aligned words) and, in time order among them, those of every
    region of ``regions`` that no word lies in (:func:`unheard_regions`), each decoded as a
    trimmed window of its own."""
    again: list[WhisperSegment] = []
    for region in unheard_regions(regions, segments):
        again += _decoded_alone(whisper, speech, region, language, options)
    if not again:
        return segments
    return sorted([*(_ended_at_words(s) for s in segments), *again], key=lambda s: s.start)


def _decoded_alone(
    whisper: WhisperModel,
    speech: GatheredSpeech,
    region: SpeechRegion,
    language: str,
    options: TranscriptionOptions,
) -> list[WhisperSegment]:
    """``region`` of ``speech`` decoded as a trimmed window of its own (gathered times)."""
    window = encode_window(whisper, speech[region.start : region.end])
    offset = region.start / SAMPLE_RATE
    return [_shifted(s, offset) for s in decode_window(whisper, window, language, options)]


def _ended_at_words(segment: WhisperSegment) -> WhisperSegment:
    """``segment`` ending at its last aligned word (its timestamp may run over speech it did
    not read)."""
    if not segment.words:
        return segment
    return replace(segment, end=min(segment.end, max(w.end for w in segment.words)))


def _the_rest(
    whisper: WhisperModel,
    speech: GatheredSpeech,
    chunk: SpeechRegion,
    segments: list[WhisperSegment],
    language: str,
    options: TranscriptionOptions,
) -> Iterator[WhisperSegment]:
    """The speech of ``chunk`` still unheard after ``segments``, decoded as a trimmed window,
    as often as that leaves speech unheard.

    Each round starts where the last heard speech ends; a round that hears nothing moves past
    the first region it was given, so every region gets a window of its own and the rounds are
    bounded by the chunk's regions.
    """
    regions = tuple(speech.regions)
    heard = _heard_until(chunk, segments)
    while tails := _unheard_tails([chunk], regions, [heard]):
        tail = tails[0]
        window = encode_window(whisper, speech[tail.start : tail.end])
        offset = tail.start / SAMPLE_RATE
        found = [_shifted(s, offset) for s in decode_window(whisper, window, language, options)]
        yield from found
        first = next(r for r in regions if r.end > tail.start)
        heard = max(_heard_until(chunk, found), first.end, heard + 1)


class _ChunkByChunkEncoder:
    """``whisper`` for ``BatchedInferencePipeline``, with a batch's chunks encoded one at a time.

    On CPU the peak of a batched call is the encoder's self-attention over all of its chunks at
    once (8 heads x 1500 x 1500 floats, about 70 MB per chunk for ``base``), not the beam search
    that follows (about 27 MB per chunk). Encoding chunk by chunk and decoding the batch together
    keeps the batched decoder at a fraction of the memory: measured with one CTranslate2 worker,
    a batch of 4 peaked at +280 MB encoded together and +109 MB this way, in 7.2 s instead of 7.8 s
    (benchmarks/results/2026-11-30-streaming-memory.md). The encoder outputs are the same (each
    chunk is encoded on its own features either way).
    """

    def __init__(self, whisper: WhisperModel) -> None:
        self._whisper = whisper

    def __getattr__(self, name: str) -> Any:
        return getattr(self._whisper, name)

    def encode(self, features: Samples) -> ctranslate2.StorageView:
        if features.ndim == 2 or features.shape[0] == 1:
            return self._whisper.encode(features)
        outputs = [np.asarray(self._whisper.encode(one[np.newaxis])) for one in features]
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate(outputs)))


def _batches(
    whisper: WhisperModel,
    speech: GatheredSpeech,
    chunks: list[SpeechRegion],
    language: str,
    options: TranscriptionOptions,
    batch_size: int,
    text_only: bool,
) -> Iterator[WhisperSegment]:
    """The pipeline's segments (with ``text_only``: one per chunk, with its aligned words), fed
    one batch of chunks at a time.

    Given every chunk at once, ``BatchedInferencePipeline`` computes and stacks the features of
    all of them before the first batch (two copies of ~1 MB per 30 s chunk: 0.5 GB for 2 h of
    speech); fed a batch at a time it holds one batch's. Batches are independent (no
    conditioning on earlier text) and one pipeline object is kept, so the segments are the
    same. Measured in benchmarks/results/2026-11-29-streaming-levers.md. Only the speech a
    batch holds is read (the channel may be a spool on disk).
    """
    model = whisper if whisper.model.device != "cpu" else _ChunkByChunkEncoder(whisper)
    pipeline = BatchedInferencePipeline(model)
    step = max(1, batch_size)
    for first in range(0, len(chunks), step):
        batch = chunks[first : first + step]
        span_start = batch[0].start
        clips = [
            {
                "start": (c.start - span_start) / SAMPLE_RATE,
                "end": (c.end - span_start) / SAMPLE_RATE,
            }
            for c in batch
        ]
        segments, _ = pipeline.transcribe(
            speech[span_start : batch[-1].end],
            **{
                **_transcribe_arguments(whisper, language, options),
                "word_timestamps": options.word_timestamps or text_only,
            },
            clip_timestamps=clips,
            batch_size=batch_size,
            without_timestamps=text_only,
        )
        offset = span_start / SAMPLE_RATE
        for segment in segments:
            yield _shifted(segment, offset)


def _token_ids(whisper: WhisperModel) -> TokenIds:
    def encode(text: str) -> list[int]:
        return list(whisper.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    return encode


TokenIds = Callable[[str], list[int]]
"""Text -> the model's token ids (no special tokens)."""


def split_at_sentences(
    chunk: WhisperSegment,
    token_ids: TokenIds,
    original_time: Callable[[float], float] = float,
) -> Iterator[WhisperSegment]:
    """A text-only chunk's segments: its words cut after each sentence end and at each pause of
    at least :data:`SEGMENT_PAUSE_S`, each timed by its first and last word.

    Word times are on the gathered speech; ``original_time`` maps them to the channel's, where
    the pauses the gathering removed are measured.

    Whisper's timestamp tokens would place these cuts while decoding, at the cost of decoding
    them (and, measured, of some words: see the module docstring). A chunk whose words could not
    be aligned stays one segment over the chunk. Each piece keeps the chunk's decoding scores;
    its text, tokens and compression ratio are its own.
    """
    words = list(chunk.words or [])
    if not words:
        if chunk.text.strip():
            yield chunk
        return
    piece: list[WhisperWord] = []
    for index, word in enumerate(words):
        piece.append(word)
        following = words[index + 1] if index + 1 < len(words) else None
        sentence_ends = word.word.strip().endswith(SENTENCE_ENDS)
        if (
            following is None
            or sentence_ends
            or original_time(following.start) - original_time(word.end) >= SEGMENT_PAUSE_S
        ):
            text = "".join(w.word for w in piece)
            yield replace(
                chunk,
                start=piece[0].start,
                end=piece[-1].end,
                text=text,
                tokens=token_ids(text),
                words=piece,
                compression_ratio=get_compression_ratio(text.strip()),
            )
            piece = []


def _shifted(segment: WhisperSegment, offset: float) -> WhisperSegment:
    """``segment`` with its times (and its words' times) moved ``offset`` seconds later."""
    words = [replace(w, start=w.start + offset, end=w.end + offset) for w in segment.words or []]
    return replace(
        segment, start=segment.start + offset, end=segment.end + offset, words=words or None
    )


def _unheard_tails(
    chunks: list[SpeechRegion], regions: tuple[SpeechRegion, ...], heard: list[int]
) -> list[SpeechRegion]:
    """The speech at the end of each chunk that no segment covered."""
    tails = []
    for chunk, last in zip(chunks, heard, strict=True):
        rest = [r for r in _regions_in(chunk, regions) if r.end > last]
        speech_left = sum(r.end - max(r.start, last) for r in rest)
        if speech_left > _TAIL_S * SAMPLE_RATE:
            tails.append(SpeechRegion(max(last, rest[0].start), chunk.end))
    return tails


def decode_sequential(
    whisper: WhisperModel,
    samples: ChannelSamples,
    regions: tuple[SpeechRegion, ...],
    language: str,
    options: TranscriptionOptions,
) -> Iterator[WhisperSegment]:
    """Whisper's own sequential loop (conditioning on previous text, temperature fallback):
    the accuracy reference when batching is turned off. Times are seconds into the speech of
    ``regions`` gathered back to back.

    The loop seeks on by itself, so it leaves no tail unheard; but it reads a sentence said
    again as one segment over both sayings, as a batched chunk does: a LibriVox sentence said
    six times (46 s) lost 60 of its 114 words that way. So its words are aligned, and speech
    no word reads is decoded on its own (:func:`unheard_regions`). A run's segments are held
    until its end for that (a run is at most a section of a long file: progress comes a run at
    a time on this path).

    ``chunk_length`` is deliberately not passed: faster-whisper stores it in the model's shared
    feature extractor, which would change the window of every later call on that model.
    """
    speech = GatheredSpeech(samples, regions)
    segments, _ = whisper.transcribe(
        speech[0 : speech.length],
        **_transcribe_arguments(whisper, language, replace(options, word_timestamps=True)),
        condition_on_previous_text=options.condition_on_previous_text,
    )
    found = _unheard_decoded(whisper, speech, speech.regions, list(segments), language, options)
    for segment in found:
        yield segment if options.word_timestamps else replace(segment, words=None)


def _transcribe_arguments(
    whisper: WhisperModel, language: str, options: TranscriptionOptions
) -> dict[str, Any]:
    """The keyword arguments both faster-whisper entry points take the same way."""
    return {
        "language": language,
        "task": options.task.value,
        "beam_size": options.beam_size,
        "patience": options.patience,
        "temperature": list(options.temperature),
        "compression_ratio_threshold": options.compression_ratio_threshold,
        "log_prob_threshold": options.log_prob_threshold,
        "no_speech_threshold": options.no_speech_threshold,
        "initial_prompt": options.initial_prompt,
        "suppress_tokens": suppressed_tokens(_tokenizer(whisper, language, options), options),
        "word_timestamps": options.word_timestamps,
        "vad_filter": False,  # aural's own VAD already chose the speech
    }


def speech_chunks(regions: Sequence[SpeechRegion], window_s: float) -> list[SpeechRegion]:
    """The spans of the chunks :func:`decode_batched` cuts ``regions`` into: consecutive
    regions holding up to ``window_s`` of speech each (the pauses between them not counted)."""
    return [SpeechRegion(group[0].start, group[-1].end) for group in windows(regions, window_s)]
