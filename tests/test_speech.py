"""Reading gathered speech a slice at a time (what the batched decoder reads)."""

from __future__ import annotations

import numpy as np

from aural.speech import GatheredSpeech, SpeechRegion, gather, windows
from aural.spool import SpoolWriter


def test_a_slice_of_gathered_speech_is_that_slice_of_the_regions_back_to_back() -> None:
    samples = np.arange(1000, dtype=np.float32)
    regions = [SpeechRegion(10, 50), SpeechRegion(100, 130), SpeechRegion(400, 600)]
    speech = GatheredSpeech(samples, regions)
    whole = gather(samples, regions)
    assert speech.length == whole.size == 270
    assert speech.regions == [SpeechRegion(0, 40), SpeechRegion(40, 70), SpeechRegion(70, 270)]
    for start, stop in [(0, 270), (0, 40), (35, 75), (40, 70), (69, 71), (100, 270), (5, 5)]:
        np.testing.assert_array_equal(speech[start:stop], whole[start:stop])


def test_gathered_speech_reads_a_spool_the_same_way() -> None:
    samples = np.sin(np.arange(5000, dtype=np.float32) / 7.0).astype(np.float32)
    writer = SpoolWriter(1)
    writer.append(samples[np.newaxis])
    (spooled,) = writer.finish()
    regions = [SpeechRegion(100, 900), SpeechRegion(2000, 2100), SpeechRegion(4000, 5000)]
    from_spool, in_memory = GatheredSpeech(spooled, regions), GatheredSpeech(samples, regions)
    for start, stop in [(0, 1900), (750, 1000), (850, 950)]:
        np.testing.assert_array_equal(from_spool[start:stop], in_memory[start:stop])


def test_chunks_hold_up_to_a_window_of_speech_with_whole_regions() -> None:
    second = 16000
    regions = [SpeechRegion(i * 12 * second, i * 12 * second + 10 * second) for i in range(7)]
    groups = windows(regions, 30.0)
    assert [len(g) for g in groups] == [3, 3, 1]  # 30 s of speech each, the pauses not counted
