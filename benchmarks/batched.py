"""faster-whisper's ``BatchedInferencePipeline``: the baseline a user who wants speed picks.

Run as its README shows it, with the settings issue 12 compares against: batch 8, beam 5, the
same weights and the same cores as every other system (one call on ``threads`` threads). Its
defaults apply otherwise: Silero VAD on, the speech packed into chunks of up to 30 s, no
conditioning on previous text.
"""

from __future__ import annotations

from typing import Any

from benchmarks.systems import Output

BATCH_SIZE = 8
BEAM_SIZE = 5


class FasterWhisperBatched:
    """``BatchedInferencePipeline(WhisperModel(...)).transcribe(file, batch_size=8)``."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.path: str = job["model_path"]
        self.threads: int = job["threads"]

    def load(self) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model = WhisperModel(self.path, device="cpu", compute_type="int8", cpu_threads=self.threads)
        self.pipeline = BatchedInferencePipeline(model)

    def transcribe(self, task: dict[str, Any]) -> Output:
        segments, info = self.pipeline.transcribe(
            task["audio"], batch_size=BATCH_SIZE, beam_size=BEAM_SIZE, language=task["language"]
        )
        raw = list(segments)
        text = " ".join(s.text.strip() for s in raw if s.text.strip())
        return Output(text, info.language, [(s.start, s.end, info.language) for s in raw])
