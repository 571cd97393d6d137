"""What one run measures: rounds of tasks, each round run by several systems in turn.

A *task* is one input file with the options it is transcribed with and the roles it plays in the
report (``tags``: its speed counts as "long", its words count for WER, its language for
language-ID, ...). A *round* is a list of tasks that every one of its systems runs in one fresh
process (model loaded once); a round is repeated ``reps`` times and the order of systems rotates
with every repetition, so slow drifts in machine load hit every system alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import audio_sets as sets

# Systems (see benchmarks/systems.py and benchmarks/runner.py).
AURAL_CLI = "aural-cli"  # the CLI's code path in-process, model loaded first (timed apart)
AURAL_PROCESS = "aural-cli-process"  # `aural transcribe` as a whole process: end to end
AURAL_HTTP = "aural-http"  # `aural serve` + the DeepInfra face
FASTER_WHISPER = "faster-whisper"  # WhisperModel.transcribe, beam 5
FASTER_WHISPER_GREEDY = "faster-whisper-greedy"  # the same with beam 1, for reference
WHISPER_CPP = "whisper.cpp"  # pywhispercpp on the ggml converted from the same weights, beam 5
WHISPER_CPP_GREEDY = "whisper.cpp-greedy"
FASTER_WHISPER_BATCHED = "faster-whisper-batched"  # BatchedInferencePipeline, batch 8, beam 5
# The same, started under the glibc huge-pages tunable `aural transcribe` gives itself for long
# audio (aural.memory): a reference row, so the report shows what the tunable alone is worth.
FASTER_WHISPER_BATCHED_HUGE_PAGES = "faster-whisper-batched-huge-pages"
# The previous release's aural (issue 10's speed cost), run from its own source tree with this
# venv: ``--previous REF`` (benchmarks/fidelity.py).
AURAL_PREVIOUS = "aural-previous"

SPEED_SYSTEMS = (AURAL_CLI, FASTER_WHISPER, WHISPER_CPP, AURAL_HTTP)


@dataclass(frozen=True)
class FidelityRole:
    """What a task of the fidelity set is (issue 10), so the report can pair it up.

    ``kind`` is the manifest's (clip, stereo, runs, lid, negative); a clip variant compares with
    the task of its ``clip`` whose ``variant`` is "alone". ``channel`` is set on a baseline's task
    that gets one channel of a stereo file as a mono file.
    """

    kind: str
    item: str
    clip: str = ""
    variant: str = ""
    channel_references: tuple[str, ...] = ()
    channel: int | None = None
    language: str = ""  # what is spoken ("" for several, or nothing)


@dataclass(frozen=True)
class Task:
    """One input and how to transcribe it; ``repeats`` calls per process (latency samples)."""

    name: str
    audio: str
    duration: float
    tags: tuple[str, ...] = ()
    language: str | None = None
    language_switching: bool = False
    channels: tuple[int, ...] | None = None
    repeats: int = 1
    reference: str | None = None
    wer_set: str | None = None
    expected_language: str | None = None
    spans: tuple[sets.Placed, ...] = ()
    systems: tuple[str, ...] | None = None  # None: every system of the round
    fidelity: FidelityRole | None = None

    def runs_on(self, system: str) -> bool:
        return self.systems is None or system in self.systems


@dataclass(frozen=True)
class Round:
    """Tasks that each system runs in one process per repetition."""

    name: str
    model: str
    systems: tuple[str, ...]
    tasks: tuple[Task, ...]
    reps: int = 1
    warmup: bool = False  # one untimed call first, so latencies exclude first-call set-up

    def tasks_for(self, system: str) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if t.runs_on(system))


@dataclass(frozen=True)
class Plan:
    mode: str
    threads: int
    rounds: tuple[Round, ...]
    notes: tuple[str, ...] = field(default=())


def _fixture_task(path: Path, tags: tuple[str, ...], repeats: int, **extra: Any) -> Task:
    return Task(
        name=f"{path.parent.name}/{path.stem}" if path.parent != sets.TEST_DATA else path.stem,
        audio=str(path),
        duration=sets.duration_of(path),
        tags=tags,
        repeats=repeats,
        **extra,
    )


def _short_tasks(clip_repeats: int, lang_clips: list[Path], librivox: list[Path]) -> list[Task]:
    """JFK (WER), LibriVox clips (latency + WER), asterisk prompts (latency + language ID)."""
    jfk = sets.TEST_DATA / "jfk.flac"
    tasks = [_fixture_task(jfk, ("wer",), 1, reference=sets.fixture_text(jfk), wer_set="fixtures")]
    tasks += [_librivox_task(clip, clip_repeats) for clip in librivox]
    tasks += [_lang_task(clip, ("latency", "langid"), clip_repeats) for clip in lang_clips]
    return tasks


def _librivox_task(clip: Path, repeats: int, **extra: Any) -> Task:
    return _fixture_task(
        clip,
        ("latency", "wer"),
        repeats,
        reference=sets.fixture_text(clip),
        wer_set="fixtures",
        **extra,
    )


def _lang_task(clip: Path, tags: tuple[str, ...], repeats: int) -> Task:
    """An asterisk prompt whose file name starts with its language (``es_conf-invalid``)."""
    return _fixture_task(clip, tags, repeats, expected_language=clip.stem.split("_", 1)[0])


def _stereo_tasks(repeats: int) -> list[Task]:
    """Both channels of the stereo fixture (``split``) vs channel 0 alone; aural only."""
    stereo = sets.TEST_DATA / "stereo_two_speakers.flac"
    both = Task(
        name="stereo/both",
        audio=str(stereo),
        duration=sets.duration_of(stereo),
        tags=("stereo-both",),
        repeats=repeats,
        systems=(AURAL_CLI,),
    )
    return [both, replace(both, name="stereo/one", tags=("stereo-one",), channels=(0,))]


def _switching_tasks(audio: str, duration: float, spans: tuple[sets.Placed, ...]) -> list[Task]:
    """Switching on (aural only) vs one auto-detected language for the whole file."""
    return [
        Task(
            name="switching/on",
            audio=audio,
            duration=duration,
            tags=("switch-on",),
            language_switching=True,
            spans=spans,
            systems=(AURAL_CLI,),
        ),
        Task(
            name="switching/off",
            audio=audio,
            duration=duration,
            tags=("switch-off",),
            spans=spans,
            systems=(AURAL_CLI, FASTER_WHISPER),
        ),
    ]


def _no_speech_tasks(work: Path, seconds: float) -> list[Task]:
    tasks = []
    for kind in ("silence", "noise"):
        built = sets.no_speech_file(work / f"{kind}-{seconds:g}s.wav", kind, seconds)
        tasks.append(Task(name=kind, audio=built.path, duration=built.duration, tags=(kind,)))
    return tasks


def _built_task(name: str, built: sets.BuiltAudio, tags: tuple[str, ...], wer_set: str) -> Task:
    return Task(
        name=name,
        audio=built.path,
        duration=built.duration,
        tags=tags,
        reference=built.reference,
        wer_set=wer_set,
        spans=built.placed,
    )


def full_plan(work: Path, reps: int, clip_repeats: int, threads: int, mode: str) -> Plan:
    """The whole benchmark: every figure of issues 2, 5 and 6 on the ``base`` model."""
    prompts = sets.asterisk_prompts()
    long = sets.build_speech_file(work / "long-en.wav", prompts, min_speech_s=600.0, seed=5)
    minute = sets.prefix_of(long, work / "long-en-prefix.wav", min_duration_s=75.0)
    switching = sets.TEST_DATA / "switching_es_en_fr.flac"
    spans = tuple(sets.switching_spans())
    lang_clips = sorted((sets.TEST_DATA / "lang").glob("*.flac"))
    librivox = sorted((sets.TEST_DATA / "librivox").glob("*.flac"))
    long_systems = (
        *SPEED_SYSTEMS,
        FASTER_WHISPER_BATCHED,
        FASTER_WHISPER_BATCHED_HUGE_PAGES,
        FASTER_WHISPER_GREEDY,
        WHISPER_CPP_GREEDY,
    )
    rounds: tuple[Round, ...] = (
        Round(
            "long", "base", long_systems, (_built_task("long", long, ("long",), "long"),), reps=reps
        ),
        Round(
            "minute",
            "base",
            (AURAL_CLI, FASTER_WHISPER, AURAL_PROCESS),
            (_built_task("minute", minute, ("minute",), "minute"),),
            reps=reps,
        ),
        Round(
            "short",
            "base",
            (*SPEED_SYSTEMS, FASTER_WHISPER_BATCHED),
            tuple(_short_tasks(clip_repeats, lang_clips, librivox)),
            reps=reps,
            warmup=True,
        ),
        Round(
            "stereo",
            "base",
            (AURAL_CLI,),
            tuple(_stereo_tasks(max(clip_repeats, 3))),
            reps=reps,
            warmup=True,
        ),
        Round(
            "switching",
            "base",
            (AURAL_CLI, FASTER_WHISPER),
            tuple(_switching_tasks(str(switching), sets.duration_of(switching), spans)),
            reps=reps,
        ),
        Round("no-speech", "base", SPEED_SYSTEMS, tuple(_no_speech_tasks(work, 60.0))),
    )
    from benchmarks import fidelity  # it builds on this module's tasks and rounds

    rounds += fidelity.rounds(work, reps, clip_repeats, mode == "quick", long, minute)
    from benchmarks import streaming  # issue 12: memory by duration, server with two tasks

    rounds += streaming.rounds(work, long, reps)
    return Plan(mode=mode, threads=threads, rounds=rounds)


def smoke_plan(work: Path, threads: int) -> Plan:
    """Every code path of the full plan on tiny inputs, one repetition: proves the harness
    works end to end in about a minute; its numbers mean nothing.

    Mostly ``tiny.en``; ``base`` (the default model) runs language ID, split stereo and
    switching. The slowest systems (whisper.cpp encodes a full 30 s window per call; the HTTP
    path goes through the job system) get only a call or two.
    """
    clips = [
        sets.TEST_DATA / "librivox" / f"sense_and_sensibility_01_austen_64kb-{n}.flac"
        for n in ("0880", "0930")
    ]
    mini = sets.build_speech_file(
        work / "smoke-en.wav",
        [u for u in sets.fixture_utterances() if u.path in {str(c) for c in clips}],
        min_speech_s=5.0,
        seed=5,
    )
    switching = sets.TEST_DATA / "switching_es_en_fr.flac"
    crop = sets.crop(switching, work / "smoke-switching.wav", 39.0, 52.0, sets.switching_spans())
    lang = sets.TEST_DATA / "lang"
    long = replace(
        _built_task("long", mini, ("long", "minute"), "long"),
        systems=(
            AURAL_CLI,
            FASTER_WHISPER,
            WHISPER_CPP,
            FASTER_WHISPER_BATCHED,
            FASTER_WHISPER_BATCHED_HUGE_PAGES,
        ),
    )
    tiny = (
        long,
        _librivox_task(clips[0], 1),
        _librivox_task(clips[1], 1, systems=(AURAL_CLI, FASTER_WHISPER, AURAL_HTTP)),
        *(
            replace(t, systems=(AURAL_CLI, FASTER_WHISPER, AURAL_HTTP))
            for t in _no_speech_tasks(work, 4.0)
        ),
    )
    base = (
        *(
            _lang_task(lang / n, ("langid",), 1)
            for n in ("en_privacy-prompt.flac", "es_conf-now-muted.flac")
        ),
        *_stereo_tasks(1),
        *_switching_tasks(crop.path, crop.duration, crop.placed),
    )
    rounds = (
        Round(
            "tiny",
            "tiny.en",
            (*SPEED_SYSTEMS, FASTER_WHISPER_BATCHED, FASTER_WHISPER_BATCHED_HUGE_PAGES),
            tiny,
        ),
        Round("minute", "tiny.en", (AURAL_PROCESS, FASTER_WHISPER), (replace(long, systems=None),)),
        Round("base", "base", (AURAL_CLI, FASTER_WHISPER), base),
    )
    from benchmarks import streaming

    return Plan(mode="smoke", threads=threads, rounds=rounds + streaming.smoke_rounds(long))
