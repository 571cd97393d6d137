"""The transcription itself: channels -> speech -> language runs -> faster-whisper -> Transcript.

One :class:`Transcriber` wraps one loaded model and is safe to share between threads; it neither
decodes files nor formats output (see :mod:`aural.audio` and :mod:`aural.formats`).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from faster_whisper.transcribe import Segment as WhisperSegment
from faster_whisper.transcribe import Word as WhisperWord
from faster_whisper.vad import SpeechTimestampsMap

from aural.audio import SAMPLE_RATE, Audio, ChannelAudio, select_channels
from aural.decoder import (
    WINDOW_S,
    decode_batched,
    decode_one_window,
    decode_sequential,
    decode_window,
    encode_window,
    fits_one_window,
    no_speech_probability,
    rank_languages,
    rank_languages_over_views,
    speech_chunks,
)
from aural.echoes import without_echoes
from aural.errors import InvalidOptionError, UnsupportedLanguageError
from aural.labels import without_labels
from aural.language_id import Decoded, Ranker, Ranking, decide
from aural.languages import (
    ensure_licensed,
    normalise_language_set,
    parse_language_option,
)
from aural.loudness import LevelStep, raised
from aural.memory import TRIM_AFTER_AUDIO_S, release_freed_memory
from aural.model_pool import LoadedModel
from aural.sections import SectionedChannel, is_sectioned
from aural.speech import SpeechRegion, gather, head, map_speech, windows
from aural.spool import ChannelSamples, Samples
from aural.switching import LanguageRun, plan_runs
from aural.types import ChannelInfo, Segment, Transcript, TranscriptionOptions, Word

DecodePath = Literal["window", "batched", "sequential"]
"""One trimmed encoder pass; batched chunks; Whisper's own sequential loop (batch_size 0)."""

# The second look at stretches the VAD left out (see speech.SpeechMap): kept as speech when
# Whisper's no-speech probability for them is below this.
SECOND_LOOK_NO_SPEECH = 0.5

# Encoder context (s) of a language detection that does not also decode: language ID holds on
# shorter padding than decoding does (see benchmarks/results/2026-11-21-levers.md).
DETECTION_CONTEXT_S = 5.0
# Where the views of the full look start in its window (s): the detector's verdict on short
# speech moves with a few tens of milliseconds of offset, and the mean of four views is steadier
# than any one. On the 419 Asterisk prompts the full look alone was right on 408, the mean of
# these four views on 413 (two to seven views: 412-414).
FULL_LOOK_SHIFTS_S = (0.0, 0.05, 0.1, 0.15)

_T = TypeVar("_T")
_R = TypeVar("_R")

ProgressCallback = Callable[[float, float], None]
"""Called with (seconds of audio done, seconds in all) as decoding advances."""

SegmentCallback = Callable[[Segment], None]
"""Called with each segment once it is final, in timeline order per channel (see
:class:`_Emitter`); the faces that stream (gRPC) send it on before the transcription ends."""


def check_vocabulary(options: TranscriptionOptions, model: LoadedModel) -> None:
    """Refuse ``suppress_tokens`` past the loaded model's vocabulary before CTranslate2 sees them.

    The options' own bound is the largest Whisper vocabulary; an id past this model's smaller
    one would be read out of bounds by CTranslate2 (memory corruption, not an error).
    """
    size = int(model.whisper.hf_tokenizer.get_vocab_size(with_added_tokens=True))
    bad = [token for token in options.suppress_tokens if token >= size]
    if bad:
        raise InvalidOptionError(
            f"suppress_tokens: {bad[0]} is past the vocabulary of model {model.name!r} "
            f"(ids 0 to {size - 1}, or -1)",
            option="suppress_tokens",
            vocabulary_size=size,
        )


class Transcriber:
    """Runs :class:`TranscriptionOptions` over decoded :class:`Audio` with one model."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def transcribe(
        self,
        audio: Audio,
        options: TranscriptionOptions,
        on_progress: ProgressCallback | None = None,
        on_segment: SegmentCallback | None = None,
    ) -> Transcript:
        """The whole transcript; ``on_progress`` and ``on_segment`` report as decoding goes."""
        check_vocabulary(options, self.model)
        requested = self._requested_language(options)
        channels = select_channels(audio, options.channels, options.channel_mode)
        progress = _Progress(sum(c.duration for c in channels), on_progress)
        emitter = _Emitter(on_segment)
        streams: list[SectionedChannel] = []
        with _Workers(self.model.parallelism) as workers:
            if self._sectioned(channels, options, requested):
                streams = [self._stream_of(c, options, requested) for c in channels]
                pieces: Iterable[list[DecodeJob]] = self._sectioned_jobs(streams, options, progress)
                # Between the pieces of a long transcription, hand back what the last piece's
                # beam search freed: glibc keeps it in its arenas, fragmented, and the peak
                # crept up with the number of pieces (754 s file 622 -> 565 MB, 2 h file
                # 719 -> 576 MB, the same wall time). Short audio never pays for it.
                trim = progress.total >= TRIM_AFTER_AUDIO_S
            else:
                planned = workers.map(lambda c: self._plan_runs(c, options, requested), channels)
                heard = [channel for channel, _ in planned]
                plans = [runs for _, runs in planned]
                jobs = decode_jobs(
                    heard, plans, options, self.model.parallelism, self._batch(options)
                )
                pieces = [jobs]
                trim = len(jobs) > 1 and progress.total >= TRIM_AFTER_AUDIO_S
            decoded = self._decode_all(pieces, workers, options, progress, emitter, trim)
        if streams:
            plans = [stream.runs() for stream in streams]
        progress.finish()
        segments = [segment for job_segments in decoded for segment in job_segments]
        infos = [
            _channel_info(channel, runs, options, requested)
            for channel, runs in zip(channels, plans, strict=True)
        ]
        ordered = sorted(segments, key=lambda s: (s.start, s.channel))
        return Transcript(
            language=_predominant(infos, segments),
            duration=audio.duration,
            task=options.task,
            channels=tuple(infos),
            segments=tuple(replace(s, id=i) for i, s in enumerate(ordered)),
        )

    def _decode_all(
        self,
        pieces: Iterable[list[DecodeJob]],
        workers: _Workers,
        options: TranscriptionOptions,
        progress: _Progress,
        emitter: _Emitter,
        trim: bool,
    ) -> list[list[Segment]]:
        """Each job's segments, the jobs handed to the workers as ``pieces`` yields them (the
        planning of a long channel goes on meanwhile); the first failure (a deleted task's
        progress report, say) stops the planning and cancels what has not started."""
        futures: list[Future[list[Segment]]] = []

        def run(job: DecodeJob) -> list[Segment]:
            return emitter.done(job, self._decode_job(job, options, progress, trim))

        try:
            for jobs in pieces:
                for job in jobs:
                    emitter.add(job)
                    progress.add(job)
                for job in sorted(jobs, key=lambda j: j.run.speech_duration, reverse=True):
                    futures.append(workers.submit(run, job))
                for future in futures:
                    if future.done() and future.exception() is not None:
                        future.result()  # raises it
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def _sectioned(
        self, channels: list[ChannelAudio], options: TranscriptionOptions, requested: str | None
    ) -> bool:
        """Whether the request's long channels are mapped a section at a time
        (:mod:`aural.sections`): with the VAD on, batched decoding, and one language per channel
        (language switching plans its runs over the whole channel)."""
        one_language = requested is not None or not options.language_switching
        return (
            options.vad
            and options.batch_size > 0
            and one_language
            and any(is_sectioned(c) for c in channels)
        )

    def _stream_of(
        self, channel: ChannelAudio, options: TranscriptionOptions, requested: str | None
    ) -> SectionedChannel:
        return SectionedChannel(
            channel,
            language=requested,
            probability=1.0 if requested is not None else 0.0,
            chunk_s=min(WINDOW_S, float(options.chunk_length_s)),
            batch=max(1, self._batch(options)),
        )

    def _sectioned_jobs(
        self, streams: list[SectionedChannel], options: TranscriptionOptions, progress: _Progress
    ) -> Iterator[list[DecodeJob]]:
        """Maps the channels a section at a time (the one furthest behind first) and yields the
        decoding jobs each section makes ready."""
        allowed = normalise_language_set(options.licensed_languages)
        ranker = self._ranker()

        def decide_language(
            heard: ChannelSamples, regions: list[SpeechRegion]
        ) -> tuple[str, float]:
            return decide(gather(heard, head(regions, WINDOW_S)), ranker, allowed)

        def map_section(piece: Samples) -> tuple[list[SpeechRegion], tuple[LevelStep, ...]]:
            return self._map_speech(piece, options)

        total = sum(s.channel.samples.shape[0] for s in streams)
        while not all(stream.done for stream in streams):
            stream = min((s for s in streams if not s.done), key=lambda s: s.next_start)
            ready = stream.advance(map_section, decide_language)
            progress.planned(sum(s.mapped_to for s in streams) / total)
            jobs: list[DecodeJob] = []
            for piece in ready:
                channel = replace(stream.channel, samples=stream.heard)
                run = LanguageRun(piece.language, piece.probability, piece.regions)
                if piece.last:
                    jobs += decode_jobs(
                        [channel], [[run]], options, self.model.parallelism, self._batch(options)
                    )
                else:
                    jobs.append(DecodeJob(channel, run, "batched"))
            yield jobs

    def _decode_job(
        self, job: DecodeJob, options: TranscriptionOptions, progress: _Progress, trim: bool
    ) -> list[Segment]:
        slots = self.model.slots
        if slots is not None:
            slots.acquire()  # a model call at a time per core, over the server's engine processes
        try:
            return self._decode_piece(job, options, progress)
        finally:
            if slots is not None:
                slots.release()
            if trim:
                release_freed_memory()

    def _decode_piece(
        self, job: DecodeJob, options: TranscriptionOptions, progress: _Progress
    ) -> list[Segment]:
        segments = []
        for segment in self._decode_run(job.channel, job.run, options, job.path):
            segments.append(segment)
            progress.reached(job, segment.end)
        progress.reached(job, job.end_s)
        return segments

    def _batch(self, options: TranscriptionOptions) -> int:
        """Chunks one batched call decodes: the request's batch size, within the model's limit."""
        if self.model.batch_limit is None:
            return options.batch_size
        return min(options.batch_size, self.model.batch_limit)

    def _requested_language(self, options: TranscriptionOptions) -> str | None:
        """The fixed language of the request, checked against the model and the licence."""
        requested = parse_language_option(options.language)
        licensed = normalise_language_set(options.licensed_languages)
        if not self.model.multilingual:
            if requested not in (None, "en"):
                raise UnsupportedLanguageError(
                    f"model {self.model.name!r} is English only; it cannot take {requested!r}",
                    language=requested,
                )
            requested = "en"
        if requested is not None:
            ensure_licensed(requested, licensed)
        return requested

    def _plan_runs(
        self, channel: ChannelAudio, options: TranscriptionOptions, requested: str | None
    ) -> tuple[ChannelAudio, list[LanguageRun]]:
        """Split one channel's speech into runs of one language each.

        Returns the channel as Whisper hears it (quiet speech raised, :mod:`aural.loudness`)
        with its runs. Speech that fits one window is encoded here once; detection and
        decoding share it.
        """
        regions, levels = self._map_speech(channel.samples, options)
        channel = replace(channel, samples=raised(channel.samples, levels))
        if not regions:
            return channel, []
        return channel, self._runs_of(channel, regions, options, requested)

    def _map_speech(
        self, samples: ChannelSamples, options: TranscriptionOptions
    ) -> tuple[list[SpeechRegion], tuple[LevelStep, ...]]:
        """The speech regions of ``samples`` (the detector's, and the unsure stretches Whisper
        hears speech in), in time order, with the level steps of the detector's speech."""
        found = map_speech(samples, options.vad, self.model.speech)
        heard = raised(samples, found.levels)
        regions = sorted(
            found.regions + self._heard_by_whisper(heard, found.unsure),
            key=lambda region: region.start,
        )
        return regions, found.levels

    def _runs_of(
        self,
        channel: ChannelAudio,
        regions: list[SpeechRegion],
        options: TranscriptionOptions,
        requested: str | None,
    ) -> list[LanguageRun]:
        """The language runs of a channel's speech ``regions``."""
        allowed = normalise_language_set(options.licensed_languages)
        ranker = self._ranker()
        if options.language_switching and requested is None:
            with _Workers(self.model.parallelism) as workers:
                return plan_runs(channel.samples, regions, ranker, allowed, workers.map)
        # Detection looks at one window of speech at most: gather no more than that.
        speech = gather(channel.samples, head(regions, WINDOW_S))
        window = None
        if fits_one_window(sum(r.end - r.start for r in regions), options.chunk_length_s):
            window = encode_window(self.model.whisper, speech)
        if requested is not None:
            return [LanguageRun(requested, 1.0, tuple(regions), window)]
        first = rank_languages(self.model.whisper, window.encoder_output) if window else None
        language, probability = decide(speech, ranker, allowed, first)
        return [LanguageRun(language, probability, tuple(regions), window)]

    def _heard_by_whisper(
        self, samples: ChannelSamples, unsure: list[SpeechRegion]
    ) -> list[SpeechRegion]:
        """The unsure stretches in which Whisper itself hears speech.

        They are grouped into windows (one encoder pass each, so the cost is bounded by the
        length of what the VAD left out); a window is kept whole when Whisper's no-speech
        probability for it is below ``SECOND_LOOK_NO_SPEECH``. Decoding then applies Whisper's
        own silence rules to every segment, as for any region.
        """
        if not unsure:
            return []
        whisper = self.model.whisper
        groups = windows(unsure, WINDOW_S - 1.0)

        def heard(group: list[SpeechRegion]) -> bool:
            window = encode_window(whisper, gather(samples, group))
            return no_speech_probability(whisper, window) < SECOND_LOOK_NO_SPEECH

        with _Workers(self.model.parallelism) as workers:
            verdicts = workers.map(heard, groups)
        return [r for group, kept in zip(groups, verdicts, strict=True) if kept for r in group]

    def _ranker(self) -> Ranker:
        return Ranker(
            quick=self._rank,
            full=self._rank_full,
            by_decoding=self._score_by_decoding,
            full_once=self._rank_full_once,
        )

    def _rank(self, speech: Samples) -> Ranking:
        """Whisper's language probabilities for (the first window of) ``speech``, on the
        shortest encoder context that language ID holds on."""
        return self._rank_on(speech, DETECTION_CONTEXT_S)

    def _rank_full(self, speech: Samples) -> Ranking:
        """The same on Whisper's full 30 s context, averaged over a few views of the speech
        (:data:`FULL_LOOK_SHIFTS_S`): the second look when the first is unsure."""
        head = speech[: int((WINDOW_S - 1 - max(FULL_LOOK_SHIFTS_S)) * SAMPLE_RATE)]
        # The views are independent encodes: side by side on the model's replicas, a clip that
        # needs this look waits for half as many encodes (with two workers).
        with _Workers(self.model.parallelism) as workers:
            return rank_languages_over_views(
                self.model.whisper, head, FULL_LOOK_SHIFTS_S, workers.map
            )

    def _rank_full_once(self, speech: Samples) -> Ranking:
        """The full-context look on one view: one encode."""
        return self._rank_on(speech, WINDOW_S)

    def _score_by_decoding(self, speech: Samples, candidates: Sequence[str]) -> dict[str, Decoded]:
        """A greedy transcript of (the first window of) ``speech`` in each candidate, with its
        mean token log-probability: one full-context encoding, a decode per candidate."""
        head = speech[: int((WINDOW_S - 1) * SAMPLE_RATE)]
        window = encode_window(self.model.whisper, head, WINDOW_S)
        greedy = TranscriptionOptions(beam_size=1, temperature=(0.0,), vad=False)

        def decoded(language: str) -> Decoded:
            segments = list(decode_window(self.model.whisper, window, language, greedy))
            tokens = sum(len(s.tokens) for s in segments)
            text = " ".join(s.text.strip() for s in segments)
            if not tokens:
                return Decoded(text, -math.inf)
            mean = float(sum(s.avg_logprob * len(s.tokens) for s in segments)) / tokens
            return Decoded(text, mean)

        return {language: decoded(language) for language in candidates}

    def _rank_on(self, speech: Samples, context_s: float) -> Ranking:
        head = speech[: int((WINDOW_S - 1) * SAMPLE_RATE)]
        window = encode_window(self.model.whisper, head, context_s)
        return rank_languages(self.model.whisper, window.encoder_output)

    def _decode_run(
        self,
        channel: ChannelAudio,
        run: LanguageRun,
        options: TranscriptionOptions,
        path: DecodePath,
    ) -> Iterator[Segment]:
        """Decode one run's speech, by the path :func:`decode_jobs` chose, on the channel's
        timeline."""
        whisper = self.model.whisper
        gathered = SpeechTimestampsMap(
            [{"start": r.start, "end": r.end} for r in run.regions], SAMPLE_RATE
        )
        if path == "window":
            raw: Iterable[WhisperSegment] = decode_one_window(
                whisper, channel.samples, run.regions, run.language, options, run.window
            )
            timeline = gathered
        elif path == "batched":
            raw = decode_batched(
                whisper, channel.samples, run.regions, run.language, options, self._batch(options)
            )
            timeline = gathered
        else:
            raw = decode_sequential(whisper, channel.samples, run.regions, run.language, options)
            timeline = gathered
        content_s = sum(r.end - r.start for r in run.regions) / SAMPLE_RATE
        inside = (segment for segment in raw if not _mostly_past(segment, content_s))
        # "(upbeat music)" is no word said, nor is a sentence said again in a blink (echoes).
        labelled = (without_labels(segment, whisper.hf_tokenizer) for segment in inside)
        for spoken in without_echoes(segment for segment in labelled if segment is not None):
            segment = _to_segment(spoken, timeline, content_s, channel.channel, run.language)
            if segment.text or segment.words:
                yield segment


@dataclass(frozen=True)
class DecodeJob:
    """One independent piece of decoding: a run, or a group of a long run's chunks."""

    channel: ChannelAudio
    run: LanguageRun
    path: DecodePath

    @property
    def start_s(self) -> float:
        return self.run.regions[0].start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.run.regions[-1].end / SAMPLE_RATE


def decode_jobs(
    channels: list[ChannelAudio],
    plans: list[list[LanguageRun]],
    options: TranscriptionOptions,
    parallelism: int,
    batch: int | None = None,
) -> list[DecodeJob]:
    """The pieces decoding is split into, so that ``parallelism`` model workers share them.

    Speech that fits one window is one piece; longer speech (batched) is cut between its
    packed chunks into groups of at most ``batch`` chunks (one batched call each), and into
    at least ``parallelism`` groups over the whole request. The workers pull the pieces as
    they come free, so a worker that drew cheap chunks takes the next batch instead of idling
    at the end while the other finishes a fixed half; and each batch's segments are handed on
    as soon as it is done.
    """
    window_s = min(WINDOW_S, float(options.chunk_length_s))
    batched: list[tuple[ChannelAudio, LanguageRun, list[SpeechRegion]]] = []
    jobs: list[DecodeJob] = []
    for channel, runs in zip(channels, plans, strict=True):
        for run in runs:
            speech = sum(r.end - r.start for r in run.regions)
            if run.window or fits_one_window(speech, window_s):
                jobs.append(DecodeJob(channel, run, "window"))
            elif options.batch_size <= 0:
                jobs.append(DecodeJob(channel, run, "sequential"))
            else:
                batched.append((channel, run, speech_chunks(run.regions, window_s)))
    total_chunks = sum(len(chunks) for _, _, chunks in batched)
    per_group = max(1, math.ceil(total_chunks / max(1, parallelism)))
    if batch is not None:
        per_group = min(per_group, max(1, batch))
    groups = [
        (channel, run, chunks[first : first + per_group])
        for channel, run, chunks in batched
        for first in range(0, len(chunks), per_group)
    ]
    # Runs cut the chunks into groups that may not share out evenly (three runs of two chunks
    # on two workers): halve the largest groups until every worker gets as many. Smaller groups
    # batch less, which costs less than a worker left idle (measured on the switching file).
    while (len(jobs) + len(groups)) % parallelism and max(
        (len(g[2]) for g in groups), default=1
    ) > 1:
        largest = max(range(len(groups)), key=lambda i: len(groups[i][2]))
        channel, run, chunks = groups.pop(largest)
        half = len(chunks) // 2
        groups[largest:largest] = [(channel, run, chunks[:half]), (channel, run, chunks[half:])]
    for channel, run, chunks in groups:
        regions = tuple(
            r for r in run.regions if chunks[0].start <= r.start and r.end <= chunks[-1].end
        )
        jobs.append(DecodeJob(channel, replace(run, regions=regions), "batched"))
    # Longest first, so that short pieces fill the gaps at the end (and none starts last).
    return sorted(jobs, key=lambda job: job.run.speech_duration, reverse=True)


class _Workers:
    """Runs pieces of one transcription on up to ``count`` threads (inline when 1)."""

    def __init__(self, count: int) -> None:
        self._pool = ThreadPoolExecutor(count, "aural-decode") if count > 1 else None

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def map(self, function: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        if self._pool is None or len(items) <= 1:
            return [function(item) for item in items]
        return list(self._pool.map(function, items))

    def submit(self, function: Callable[[_T], _R], item: _T) -> Future[_R]:
        """``function(item)`` on a worker thread (inline, already done, with one worker)."""
        if self._pool is not None:
            return self._pool.submit(function, item)
        future: Future[_R] = Future()
        try:
            future.set_result(function(item))
        except BaseException as error:  # handed on to whoever asks for the result
            future.set_exception(error)
        return future


class _Emitter:
    """Hands each segment to ``callback`` once it is final, in timeline order per channel.

    A piece's segments are final when the piece is done (tails decoded again arrive at its end),
    and they are handed on once every earlier piece of the same channel is done too, so a
    channel's segments come in the order of its timeline while its pieces finish in any order
    on any worker. Channels do not wait for each other. Segment ids are assigned by the final
    :class:`Transcript` (ordered over all channels); streamed segments count per call.
    """

    def __init__(self, callback: SegmentCallback | None) -> None:
        self.callback = callback
        self._lock = threading.Lock()
        self._pending: dict[int, list[DecodeJob]] = {}
        self._finished: dict[int, list[Segment]] = {}
        self._sent = 0

    def add(self, job: DecodeJob) -> None:
        """Expect ``job``'s segments: jobs are added before they run, and a channel's jobs in
        the order of its timeline (a long channel's later sections after its earlier ones)."""
        with self._lock:
            queue = self._pending.setdefault(job.channel.channel, [])
            queue.insert(bisect.bisect(queue, job.start_s, key=lambda j: j.start_s), job)

    def done(self, job: DecodeJob, segments: list[Segment]) -> list[Segment]:
        """Record ``job``'s segments, hand on what became final; returns ``segments``."""
        if self.callback is None:
            return segments
        with self._lock:
            self._finished[id(job)] = sorted(segments, key=lambda s: s.start)
            queue = self._pending[job.channel.channel]
            while queue and id(queue[0]) in self._finished:
                for segment in self._finished.pop(id(queue.pop(0))):
                    self.callback(replace(segment, id=self._sent))
                    self._sent += 1
        return segments


class _Progress:
    """Seconds of audio done, from the pieces decoded in any order on any thread."""

    def __init__(self, total: float, callback: ProgressCallback | None) -> None:
        self.total = total
        self.callback = callback
        self._lock = threading.Lock()
        self._covered: dict[int, float] = {}
        self._spans: dict[int, tuple[float, float]] = {}
        self._planned = 1.0
        self._reported = 0.0

    def add(self, job: DecodeJob) -> None:
        with self._lock:
            self._spans[id(job)] = (job.start_s, job.end_s)

    def planned(self, fraction: float) -> None:
        """Only ``fraction`` of the audio is mapped so far (its jobs are not all known)."""
        with self._lock:
            self._planned = fraction

    def reached(self, job: DecodeJob, seconds: float) -> None:
        """``job`` has decoded its speech up to ``seconds`` on its channel's timeline."""
        if self.callback is None:
            return
        start, end = self._spans[id(job)]
        with self._lock:
            covered = min(max(seconds, start), end) - start
            self._covered[id(job)] = max(self._covered.get(id(job), 0.0), covered)
            spans = sum(e - s for s, e in self._spans.values()) or 1.0
            done = self.total * self._planned * sum(self._covered.values()) / spans
            if done > self._reported:  # tails decoded again arrive late: never step back
                self._reported = done
                self.callback(done, self.total)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(self.total, self.total)


def _mostly_past(raw: WhisperSegment, content_s: float) -> bool:
    """Whether Whisper put most of a segment after the ``content_s`` seconds of speech it was
    given, in the window's padding: its own timestamps say the words are not in the speech.

    Seen at the end of a window: a 27 s channel's last segment ran from 26.6 to 36.6 s and
    repeated a sentence said earlier.
    """
    claimed = float(raw.end - raw.start)
    inside = min(float(raw.end), content_s) - float(raw.start)
    return claimed > 0 and inside < claimed / 2


def _to_segment(
    raw: WhisperSegment,
    timeline: SpeechTimestampsMap,
    content_s: float,
    channel: int,
    language: str,
) -> Segment:
    """A faster-whisper segment with times moved from gathered speech to the channel.

    Whisper's timestamp tokens may point past the ``content_s`` seconds of speech it was given
    (into the window's padding); such a time means the end of that speech, and mapped as it is
    it would land after the regions, even after the end of the audio.
    """
    words = tuple(_to_word(w, timeline) for w in raw.words or () if w.word.strip())
    if words:
        start, end = words[0].start, words[-1].end
    else:
        start = float(timeline.get_original_time(min(raw.start, content_s)))
        end = float(timeline.get_original_time(min(raw.end, content_s), is_end=True))
    return Segment(
        id=raw.id,
        start=start,
        end=end,
        text=raw.text.strip(),
        channel=channel,
        language=language,
        words=words,
        seek=raw.seek,
        tokens=tuple(raw.tokens),
        temperature=float(raw.temperature or 0.0),
        avg_logprob=float(raw.avg_logprob),
        compression_ratio=float(raw.compression_ratio),
        no_speech_prob=float(raw.no_speech_prob),
    )


def _to_word(raw: WhisperWord, timeline: SpeechTimestampsMap) -> Word:
    # Both ends are mapped through the region holding the word's middle, so a word is never
    # stretched across the silence that the VAD removed.
    region = timeline.get_chunk_index((raw.start + raw.end) / 2)
    return Word(
        start=float(timeline.get_original_time(raw.start, region)),
        end=float(timeline.get_original_time(raw.end, region)),
        text=raw.word.strip(),
        probability=round(float(raw.probability), 4),
    )


def _channel_info(
    channel: ChannelAudio,
    runs: list[LanguageRun],
    options: TranscriptionOptions,
    requested: str | None,
) -> ChannelInfo:
    if runs:
        main = max(runs, key=lambda r: r.speech_duration)
        language, probability = main.language, main.probability
    else:  # no speech: nothing to detect on
        language, probability = _silent_language(options, requested), 0.0
    return ChannelInfo(
        channel=channel.channel,
        language=language,
        language_probability=round(probability, 4),
        duration=round(channel.duration, 3),
        speech_duration=round(sum(r.speech_duration for r in runs), 3),
    )


def _silent_language(options: TranscriptionOptions, requested: str | None) -> str:
    """The language reported for audio without speech: the requested one, else English if
    licensed, else the first licensed code."""
    licensed = normalise_language_set(options.licensed_languages)
    if requested is not None:
        return requested
    if licensed is None or "en" in licensed:
        return "en"
    return sorted(licensed)[0]


def _predominant(infos: list[ChannelInfo], segments: list[Segment]) -> str:
    """The language with the most transcribed time over all channels."""
    spoken: dict[str, float] = {}
    for segment in segments:
        spoken[segment.language] = spoken.get(segment.language, 0.0) + segment.end - segment.start
    if spoken:
        return max(spoken, key=lambda code: spoken[code])
    return infos[0].language if infos else "en"
