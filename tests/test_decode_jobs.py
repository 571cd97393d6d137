"""How a request is cut into pieces that run side by side on the model's workers."""

from __future__ import annotations

import numpy as np

from aural.audio import SAMPLE_RATE, ChannelAudio
from aural.pipeline import DecodeJob, decode_jobs
from aural.speech import SpeechRegion
from aural.switching import LanguageRun
from aural.types import TranscriptionOptions


def _channel(index: int, seconds: float) -> ChannelAudio:
    return ChannelAudio(index, np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32))


def _run(*spans_s: tuple[float, float]) -> LanguageRun:
    regions = tuple(SpeechRegion(int(a * SAMPLE_RATE), int(b * SAMPLE_RATE)) for a, b in spans_s)
    return LanguageRun("en", 1.0, regions)


# Ten 20 s regions with 5 s pauses: no two fit one 30 s chunk, so ten chunks.
LONG = _run(*((25.0 * i, 25.0 * i + 20.0) for i in range(10)))


def test_a_long_mono_run_is_cut_into_one_group_of_chunks_per_worker() -> None:
    jobs = decode_jobs([_channel(0, 250)], [[LONG]], TranscriptionOptions(), parallelism=2)
    assert [job.path for job in jobs] == ["batched", "batched"]
    assert [len(job.run.regions) for job in jobs] == [5, 5]
    assert jobs[0].run.regions + jobs[1].run.regions == LONG.regions, "every region, in order"


def test_long_channels_are_not_cut_further_than_the_workers_need() -> None:
    channels = [_channel(0, 250), _channel(1, 250)]
    jobs = decode_jobs(channels, [[LONG], [LONG]], TranscriptionOptions(), parallelism=2)
    assert [(job.channel.channel, len(job.run.regions)) for job in jobs] == [(0, 10), (1, 10)]


def test_short_speech_is_one_window_and_batch_size_zero_is_sequential() -> None:
    short = _run((1.0, 4.0), (5.0, 9.0))
    jobs = decode_jobs(
        [_channel(0, 250)], [[short, LONG]], TranscriptionOptions(batch_size=0), parallelism=2
    )
    assert [job.path for job in jobs] == ["sequential", "window"], "longest first"
    assert jobs[0].run == LONG


def test_pieces_share_out_evenly_between_the_workers() -> None:
    """Three languages of two chunks each on two workers: one run is halved, so each worker
    decodes three chunks instead of one worker four."""
    runs = [
        _run(*((start + 25.0 * i, start + 25.0 * i + 20.0) for i in range(2)))
        for start in (0.0, 50.0, 100.0)
    ]
    jobs = _decode_jobs_of(runs)
    assert sorted(len(job.run.regions) for job in jobs) == [1, 1, 2, 2]
    regions = sorted((r.start, r.end) for job in jobs for r in job.run.regions)
    expected = sorted((r.start, r.end) for run in runs for r in run.regions)
    assert regions == expected, "nothing lost or doubled"


def _decode_jobs_of(runs: list[LanguageRun]) -> list[DecodeJob]:
    return decode_jobs([_channel(0, 150)], [runs], TranscriptionOptions(), parallelism=2)


def test_long_speech_is_cut_into_batches_the_workers_pull_as_they_come_free() -> None:
    """Ten chunks, batches of 4, two workers: no piece is bigger than one batched call, and
    there are enough pieces for a worker that finishes early to take the next one."""
    jobs = decode_jobs([_channel(0, 250)], [[LONG]], TranscriptionOptions(), parallelism=2, batch=4)
    sizes = [len(job.run.regions) for job in jobs]
    assert max(sizes) == 4 and len(jobs) % 2 == 0
    regions = sorted((r.start, r.end) for job in jobs for r in job.run.regions)
    assert regions == [(r.start, r.end) for r in LONG.regions], "nothing lost or doubled"
