"""Long channels mapped a section at a time, so that decoding starts before the whole file is.

Before, a channel's speech was mapped end to end (Silero over every frame, the noise floor and
the level of all its speech, the second look, the language) before its first chunk was decoded:
on the benchmark's 754 s file 5.8 s on one core while the other idled, and on a 2 h file well
over half a minute before the first segment. A channel longer than ``SECTIONED_AFTER_S`` is now
cut into sections of about ``SECTION_S``, each at the quietest half second near its nominal end,
and each section is mapped on its own: the detector from its primed state (the same state every
verdict on doubtful speech is taken from), the noise floor of the section, quiet speech raised
by the levels of its own stretches of speech. The chunks a section completes go to the decoding
workers while the next section is mapped.

What needs look-ahead stays bounded: the language of a channel waits for a window of its speech
(what detection always looked at), and the last, still open chunk of a section waits for the
next section's speech, so that sections add no chunk: every chunk but the channel's last is
filled with speech as :func:`~aural.decoder.speech_chunks` packs it over the whole channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from aural.audio import SAMPLE_RATE, ChannelAudio
from aural.decoder import WINDOW_S, speech_chunks
from aural.loudness import GainTrack, LevelStep
from aural.speech import FRAME, SpeechRegion, frame_levels
from aural.spool import ChannelSamples, Samples
from aural.switching import LanguageRun

# Sections of about this length (s): short enough that the first segment comes early and the
# planning of one section hides behind the decoding of the last, long enough that each has a
# noise floor and a speech level of its own worth measuring.
SECTION_S = 180.0
# Channels up to this long are mapped whole, as before (the last section is 1 to 1.5 long).
SECTIONED_AFTER_S = 1.5 * SECTION_S
# A section ends at the quietest stretch of this length within the last CUT_SEARCH_S before its
# nominal end: a pause between words, where one is to be found.
CUT_SEARCH_S = 30.0
QUIET_S = 0.5

MapSection = Callable[[Samples], tuple[list[SpeechRegion], Sequence[LevelStep]]]
"""Speech regions of a section's samples and the level steps of their speech (both on the
section's timeline, the first step from its start)."""

DecideLanguage = Callable[[ChannelSamples, list[SpeechRegion]], tuple[str, float]]
"""The language (and its probability) of a channel's speech, from the first window of it."""


def is_sectioned(channel: ChannelAudio) -> bool:
    """Whether ``channel`` is long enough to be mapped a section at a time."""
    return channel.duration > SECTIONED_AFTER_S


def section_bounds(samples: ChannelSamples) -> Iterator[tuple[int, int]]:
    """``[start, end)`` sample spans covering ``samples``, each about ``SECTION_S`` long (the
    last one up to 1.5 times that), cut at the quietest point near each nominal end."""
    total = int(samples.shape[0])
    section = int(SECTION_S * SAMPLE_RATE)
    search = int(CUT_SEARCH_S * SAMPLE_RATE)
    start = 0
    while total - start > section * 3 // 2:
        nominal = start + section
        cut = quietest_point(samples, nominal - search, nominal)
        yield start, cut
        start = cut
    yield start, total


def quietest_point(samples: ChannelSamples, start: int, end: int) -> int:
    """The middle of the quietest ``QUIET_S`` of ``samples[start:end]`` (by energy)."""
    levels = frame_levels(np.asarray(samples[start:end]))
    width = max(1, round(QUIET_S * SAMPLE_RATE / FRAME))
    if levels.size <= width:
        return (start + end) // 2
    power = 10.0 ** (levels.astype(np.float64) / 10.0)
    sums = np.convolve(power, np.ones(width), mode="valid")
    return start + (int(np.argmin(sums)) + width // 2) * FRAME


@dataclass
class ReadyRun:
    """Speech of one channel ready to be decoded in ``language``: whole chunks of a section, or
    (``last``) everything still held at the channel's end."""

    regions: tuple[SpeechRegion, ...]
    language: str
    probability: float
    last: bool


@dataclass
class SectionedChannel:
    """One long channel, mapped a section at a time (see the module's docstring).

    ``heard`` is the channel as Whisper hears it (each section's quiet speech raised); the
    regions are on the channel's timeline.
    """

    channel: ChannelAudio
    language: str | None
    probability: float
    chunk_s: float
    batch: int
    heard: GainTrack = field(init=False)
    regions: list[SpeechRegion] = field(init=False, default_factory=list)
    mapped_to: int = field(init=False, default=0)  # samples mapped so far
    _bounds: Iterator[tuple[int, int]] = field(init=False)
    _next: tuple[int, int] | None = field(init=False)
    _held: list[SpeechRegion] = field(init=False, default_factory=list)  # speech not yet released

    def __post_init__(self) -> None:
        self.heard = GainTrack(self.channel.samples)
        self._bounds = section_bounds(self.channel.samples)
        self._next = next(self._bounds, None)

    @property
    def done(self) -> bool:
        return self._next is None

    @property
    def next_start(self) -> int:
        return self._next[0] if self._next is not None else self.mapped_to

    def advance(self, map_section: MapSection, decide: DecideLanguage) -> list[ReadyRun]:
        """Map the next section; returns the speech that became ready to decode."""
        assert self._next is not None, "the channel is mapped to its end"
        start, end = self._next
        found, levels = map_section(np.asarray(self.channel.samples[start:end]))
        for step in levels:
            self.heard.add(LevelStep(step.start + start, step.level))
        moved = [SpeechRegion(r.start + start, r.end + start) for r in found]
        self.regions += moved
        self._held += moved
        self.mapped_to = end
        self._next = next(self._bounds, None)
        if self.language is None:
            speech_s = sum(r.duration for r in self.regions)
            if speech_s < WINDOW_S and not self.done:
                return []  # the language waits for a window of speech
            if not self.regions:
                return []
            self.language, self.probability = decide(self.heard, self.regions)
        return self._release()

    def _release(self) -> list[ReadyRun]:
        assert self.language is not None
        if self.done:
            held, self._held = self._held, []
            return [ReadyRun(tuple(held), self.language, self.probability, True)] if held else []
        chunks = speech_chunks(self._held, self.chunk_s)
        ready: list[ReadyRun] = []
        # The last chunk may still grow with the next section's speech: it stays held, and so
        # do whole chunks short of a batch (a batch of fewer costs the workers more).
        while len(chunks) - 1 >= self.batch:
            group, chunks = chunks[: self.batch], chunks[self.batch :]
            end = group[-1].end
            regions = tuple(r for r in self._held if r.end <= end)
            self._held = self._held[len(regions) :]
            ready.append(ReadyRun(regions, self.language, self.probability, False))
        return ready

    def runs(self) -> list[LanguageRun]:
        """The channel's speech as one run (for its :class:`~aural.types.ChannelInfo`)."""
        if self.language is None or not self.regions:
            return []
        return [LanguageRun(self.language, self.probability, tuple(self.regions))]
