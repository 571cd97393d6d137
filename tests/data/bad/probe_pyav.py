"""Report what PyAV does with each bad-input fixture (source of bad/README.md).

Usage: python tests/data/bad/probe_pyav.py
"""

from __future__ import annotations

import os
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
FILES = [
    "not_media.wav",
    "empty.wav",
    "zero_length.wav",
    "video_only.mp4",
    "truncated.wav",
    "truncated.mp3",
]


def probe(path: Path) -> None:
    print(f"== {path.name} ({os.path.getsize(path)} bytes)")
    try:
        container = av.open(str(path))
    except Exception as exc:
        mro = " < ".join(c.__name__ for c in type(exc).__mro__[:5])
        print(f"  av.open raised {type(exc).__module__}.{type(exc).__name__} [{mro}]")
        print(f"    errno={getattr(exc, 'errno', None)} str={exc!s}")
        return
    with container:
        dur = container.duration
        print(
            f"  format={container.format.name} container.duration={dur}"
            f" ({None if dur is None else dur / av.time_base} s)"
        )
        print(f"  streams: {[(s.type, s.codec_context.name) for s in container.streams]}")
        if not container.streams.audio:
            print("  container.streams.audio is empty -> no audio stream")
            return
        st = container.streams.audio[0]
        sd = st.duration
        secs = None if sd is None else float(sd * st.time_base)
        print(
            f"  audio: codec={st.codec_context.name} rate={st.rate} channels={st.channels}"
            f" stream.duration={sd} time_base={st.time_base} (= {secs} s)"
            f" stream.frames={st.frames}"
        )
        n = 0
        nframes = 0
        try:
            for frame in container.decode(st):
                n += frame.samples
                nframes += 1
        except Exception as exc:
            print(
                f"  decode raised {type(exc).__module__}.{type(exc).__name__}: {exc}"
                f" after {n} samples"
            )
        print(f"  decoded {nframes} frames, {n} samples = {n / st.rate:.4f} s")


def main() -> None:
    print(f"PyAV {av.__version__}, libavformat {av.library_versions['libavformat']}")
    for name in FILES:
        probe(HERE / name)


if __name__ == "__main__":
    main()
