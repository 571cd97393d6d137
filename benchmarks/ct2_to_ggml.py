"""Convert a CTranslate2 Whisper model directory into a whisper.cpp ggml file.

Why this exists: the benchmarks compare faster-whisper (CTranslate2) with
whisper.cpp, and the comparison is only fair when both engines run the *same*
weights. Hugging Face is out of reach here, so instead of downloading
whisper.cpp's own ggml models we rebuild one from the CT2 model we already ship.

The output is whisper.cpp's legacy ggml layout (what ``whisper_model_load``
reads), all little-endian:

    magic 0x67676d6c | 11 x int32 hparams (ftype last) | mel filterbank
    | vocabulary (count, then length-prefixed raw token bytes) | tensors

Each tensor is ``n_dims, len(name), ttype``, its dims fastest-varying first
(the numpy shape reversed), the UTF-8 name, then the raw data.

Usage::

    python -m benchmarks.ct2_to_ggml MODEL_DIR OUT_FILE
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

GGML_MAGIC = 0x67676D6C
GGML_F32, GGML_F16 = 0, 1  # ggml tensor types; file ftype 1 = "big weights in f16"

# CT2 DataType ids (include/ctranslate2/types.h); 5 = bfloat16 is widened by hand.
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_CT2_BFLOAT16 = 5

Tensors = dict[str, np.ndarray]
NamedTensor = tuple[str, np.ndarray]


def read_ct2_variables(model_bin: Path) -> Tensors:
    """Parse CT2's ``model.bin`` (binary version >= 4) into named numpy arrays.

    Done by hand because the ``ctranslate2`` Python API cannot hand back the
    stored weights, and the format is simple (see ``ModelSpec._serialize``):
    version, spec name, revision, then per variable its name, rank, dims,
    dtype id, byte count and raw bytes. The aliases that follow are skipped:
    Whisper's only one is the output projection, tied to the token embedding,
    which whisper.cpp ties the same way.
    """
    buf = memoryview(model_bin.read_bytes())
    pos = 0

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def take_string() -> str:
        nonlocal pos
        (length,) = take("H")  # counts the trailing NUL
        text = bytes(buf[pos : pos + length - 1]).decode("utf-8")
        pos += length
        return text

    (version,) = take("I")
    if version < 4:
        raise ValueError(f"{model_bin}: CT2 binary version {version} is too old (need >= 4)")
    spec = take_string()
    if spec != "WhisperSpec":
        raise ValueError(f"{model_bin}: not a Whisper model (spec {spec!r})")
    take("I")  # spec revision

    variables: Tensors = {}
    (count,) = take("I")
    for _ in range(count):
        name = take_string()
        (rank,) = take("B")
        shape = take(f"{rank}I")
        dtype_id, n_bytes = take("BI")
        raw = buf[pos : pos + n_bytes]
        pos += n_bytes
        if dtype_id == _CT2_BFLOAT16:  # bf16 is the top half of an f32
            array = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, _CT2_DTYPES[dtype_id])
        variables[name] = array.reshape(shape)
    return variables


def read_vocabulary(model_dir: Path) -> list[str]:
    """Token strings in id order (byte-level BPE alphabet, special tokens included).

    Newer CT2 converters write ``vocabulary.json`` (a JSON list), older ones
    ``vocabulary.txt`` (one token per line). Split on '\\n' only: multilingual
    models have an empty token at id 50256 that must keep its slot.
    """
    json_file = model_dir / "vocabulary.json"
    if json_file.exists():
        return [str(token) for token in json.loads(json_file.read_text(encoding="utf-8"))]
    lines = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: printable stand-in char -> raw byte.

    whisper.cpp stores each token as its raw bytes (possibly a partial UTF-8
    sequence), while the BPE vocabulary spells bytes with printable stand-ins
    (e.g. 'Ġ' for a space).
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in printable]
    chars = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]
    return dict(zip(chars, printable + others, strict=True))


def mel_filters(n_mels: int) -> np.ndarray:
    """Slaney mel filterbank, shape (n_mels, 201), for 16 kHz audio and n_fft=400.

    whisper.cpp reads the filterbank from the model file instead of computing
    it. We take faster-whisper's, which matches OpenAI's ``mel_filters.npz``
    (librosa slaney) and is exactly what the CT2 pipeline uses.
    """
    from faster_whisper.feature_extractor import FeatureExtractor

    return np.asarray(FeatureExtractor.get_mel_filters(16000, 400, n_mels=n_mels), np.float32)


def sinusoids(length: int, channels: int) -> np.ndarray:
    """Whisper's fixed encoder positions, for CT2 models that do not store them."""
    increment = np.log(10000) / (channels // 2 - 1)
    inv_timescales = np.exp(-increment * np.arange(channels // 2))
    angles = np.arange(length)[:, None] * inv_timescales[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def _count_layers(v: Tensors, stack: str) -> int:
    return len({m.group(1) for k in v if (m := re.match(rf"{stack}/layer_(\d+)/", k))})


def _layer_norm(v: Tensors, src: str, dst: str) -> Iterator[NamedTensor]:
    yield f"{dst}.weight", v[f"{src}/gamma"]
    yield f"{dst}.bias", v[f"{src}/beta"]


def _linear(v: Tensors, src: str, *dsts: str) -> Iterator[NamedTensor]:
    """Split a (possibly fused) CT2 linear into whisper.cpp's separate ones.

    CT2 stacks q,k,v (self-attention) or k,v (cross-attention) along the
    output axis, in that order. whisper.cpp has no key bias: CT2 fills it with
    zeros, and any value would cancel in the softmax anyway (q.b is the same
    for every key), so dropping it is exact.
    """
    weights = np.split(v[f"{src}/weight"], len(dsts))
    biases = np.split(v[f"{src}/bias"], len(dsts))
    for dst, weight, bias in zip(dsts, weights, biases, strict=True):
        yield f"{dst}.weight", weight
        if not dst.endswith(".key"):
            yield f"{dst}.bias", bias


def _block(v: Tensors, src: str, dst: str) -> Iterator[NamedTensor]:
    """One pre-norm transformer block; decoder blocks also carry cross-attention."""
    yield from _layer_norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
    qkv = (f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value")
    yield from _linear(v, f"{src}/self_attention/linear_0", *qkv)
    yield from _linear(v, f"{src}/self_attention/linear_1", f"{dst}.attn.out")
    if f"{src}/attention/linear_0/weight" in v:  # CT2's "attention" is the cross-attention
        cross = f"{dst}.cross_attn"
        yield from _layer_norm(v, f"{src}/attention/layer_norm", f"{cross}_ln")
        yield from _linear(v, f"{src}/attention/linear_0", f"{cross}.query")
        yield from _linear(v, f"{src}/attention/linear_1", f"{cross}.key", f"{cross}.value")
        yield from _linear(v, f"{src}/attention/linear_2", f"{cross}.out")
    yield from _layer_norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
    yield from _linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0")
    yield from _linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2")


def ggml_tensors(v: Tensors) -> Iterator[NamedTensor]:
    """Map CT2 variables to whisper.cpp's tensors (named as in OpenAI's checkpoints)."""
    enc_pos = v.get("encoder/position_encodings/encodings")
    if enc_pos is None:
        enc_pos = sinusoids(1500, v["encoder/conv1/weight"].shape[0])
    yield "encoder.positional_embedding", enc_pos
    for i in (1, 2):
        # Conv kernels are (out, in, k) in both; ggml wants the bias as [1, n].
        yield f"encoder.conv{i}.weight", v[f"encoder/conv{i}/weight"]
        yield f"encoder.conv{i}.bias", v[f"encoder/conv{i}/bias"].reshape(-1, 1)
    for i in range(_count_layers(v, "encoder")):
        yield from _block(v, f"encoder/layer_{i}", f"encoder.blocks.{i}")
    yield from _layer_norm(v, "encoder/layer_norm", "encoder.ln_post")

    yield "decoder.positional_embedding", v["decoder/position_encodings/encodings"]
    # Tied: whisper.cpp also uses the token embedding as the output projection.
    yield "decoder.token_embedding.weight", v["decoder/embeddings/weight"]
    for i in range(_count_layers(v, "decoder")):
        yield from _block(v, f"decoder/layer_{i}", f"decoder.blocks.{i}")
    yield from _layer_norm(v, "decoder/layer_norm", "decoder.ln")


def _write_tensor(out: BinaryIO, name: str, array: np.ndarray) -> None:
    """Write one tensor; matrices and conv kernels (``*.weight``, >= 2-D) go f16.

    whisper.cpp checks each tensor's byte size against the type it expects:
    with ftype 1 those weights must be f16, while biases, layer norms, conv
    biases and positional embeddings must stay f32.
    """
    ttype = GGML_F16 if name.endswith(".weight") and array.ndim >= 2 else GGML_F32
    data = np.ascontiguousarray(array, dtype=np.float16 if ttype == GGML_F16 else np.float32)
    encoded = name.encode("utf-8")
    out.write(struct.pack("<3i", data.ndim, len(encoded), ttype))
    out.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
    out.write(encoded)
    out.write(data.tobytes())


def convert(model_dir: Path, out_file: Path) -> None:
    """Write ``out_file`` as a whisper.cpp ggml (ftype 1, f16) copy of a CT2 Whisper model.

    Hyper-parameters are read off the tensor shapes, not config.json, which in
    CT2 holds only decoding hints (suppressed ids, language ids). Quantized
    (int8/int16) models are refused: the point is to feed whisper.cpp the same
    weights as CT2, and dequantize-then-f16 would not be quite that.
    """
    v = read_ct2_variables(model_dir / "model.bin")
    quantized = sorted(k for k, a in v.items() if k.endswith("weight") and a.dtype.kind == "i")
    if quantized:
        raise ValueError(f"{model_dir}: {quantized[0]} is quantized; use a float16 CT2 model")

    n_vocab, n_text_state = v["decoder/embeddings/weight"].shape
    n_audio_state, n_mels, _ = v["encoder/conv1/weight"].shape
    if n_audio_state != n_text_state:
        raise ValueError("whisper.cpp needs equal encoder and decoder widths")
    enc_pos = v.get("encoder/position_encodings/encodings")
    hparams = [
        n_vocab,
        enc_pos.shape[0] if enc_pos is not None else 1500,  # n_audio_ctx: 30 s of 20 ms frames
        n_audio_state,
        int(v["encoder/num_heads"]),
        _count_layers(v, "encoder"),
        v["decoder/position_encodings/encodings"].shape[0],  # n_text_ctx (448)
        n_text_state,
        int(v["decoder/num_heads"]),
        _count_layers(v, "decoder"),
        n_mels,
        1,  # ftype: mostly f16
    ]

    # whisper.cpp wants only the ordinary BPE tokens (ids below <|endoftext|>);
    # it names the special and timestamp tokens itself, up to n_vocab.
    tokens = read_vocabulary(model_dir)
    regular = tokens[: tokens.index("<|endoftext|>")]
    decoder = _byte_decoder()

    filters = mel_filters(n_mels)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("wb") as out:
        out.write(struct.pack("<12i", GGML_MAGIC, *hparams))
        out.write(struct.pack("<2i", *filters.shape))
        out.write(filters.tobytes())
        out.write(struct.pack("<i", len(regular)))
        for token in regular:
            raw = bytes(decoder[c] for c in token)
            out.write(struct.pack("<i", len(raw)) + raw)
        for name, array in ggml_tensors(v):
            _write_tensor(out, name, array)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``python -m benchmarks.ct2_to_ggml MODEL_DIR OUT_FILE``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="CTranslate2 Whisper model directory")
    parser.add_argument("out_file", type=Path, help="ggml model file to write (e.g. ggml-base.bin)")
    args = parser.parse_args(argv)
    convert(args.model_dir, args.out_file)
    print(f"wrote {args.out_file} ({args.out_file.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
