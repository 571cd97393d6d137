#!/usr/bin/env bash
# Refresh the vendored Silero VAD model from its PyPI package at the pinned version.
# aural runs Silero's own sequence export (state carried through the frames) with ONNX Runtime;
# the package itself is not a dependency because it requires PyTorch.
set -euo pipefail
VERSION="${SILERO_VAD_VERSION:-6.2.3}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" "silero-vad==$VERSION"
python3 - "$work"/silero_vad-"$VERSION"-*.whl src/aural/assets <<'PY'
import sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    model = "silero_vad/data/silero_vad_16k_sequence.onnx"
    licence = next(n for n in names if n.endswith("LICENSE"))
    open(f"{target}/silero_vad_16k_sequence.onnx", "wb").write(archive.read(model))
    open(f"{target}/silero_vad.LICENSE", "wb").write(archive.read(licence))
PY
sha256sum src/aural/assets/silero_vad_16k_sequence.onnx
