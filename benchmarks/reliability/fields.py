"""Hostile form fields for each face and the status each must get (never a 5xx, never a hang).

Each entry is (face, form fields, query parameters, expected status). Statuses follow each
face's schema: OpenAI reports client mistakes as 400, the others as 422 (400 for a body that
cannot be parsed).
"""

from __future__ import annotations

import json

BadField = tuple[str, dict[str, str], dict[str, str], int]


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


BAD_FIELDS: list[BadField] = [
    ("deepinfra", {"temperature_increment_on_fallback": "1e-300"}, {}, 422),
    ("deepinfra", {"temperature_increment_on_fallback": "0.0001"}, {}, 422),
    ("deepinfra", {"suppress_tokens": "2147483647"}, {}, 422),
    ("deepinfra", {"suppress_tokens": "1000000"}, {}, 422),
    ("deepinfra", {"suppress_tokens": "51865"}, {}, 422),  # past tiny.en's vocabulary
    ("deepinfra", {"suppress_tokens": ",".join(["1"] * 5000)}, {}, 422),
    ("deepinfra", {"suppress_tokens": "9" * 5000}, {}, 422),
    ("deepinfra", {"patience": "1e308"}, {}, 422),
    ("deepinfra", {"patience": "1e-300"}, {}, 422),
    ("deepinfra", {"patience": "nan"}, {}, 422),
    ("deepinfra", {"chunk_length_s": "0"}, {}, 422),
    ("deepinfra", {"chunk_length_s": "abc"}, {}, 422),
    ("deepinfra", {"temperature": "inf"}, {}, 422),
    ("deepinfra", {"compression_ratio_threshold": "1e308"}, {}, 422),
    ("deepinfra", {"logprob_threshold": "-1e308"}, {}, 422),
    ("deepinfra", {"no_speech_threshold": "2"}, {}, 422),
    ("deepinfra", {"initial_prompt": "x" * 5000}, {}, 422),
    ("deepinfra", {"language": "x" * 500}, {}, 422),
    ("openai", {"temperature": "abc"}, {}, 400),
    ("openai", {"temperature": "1e308"}, {}, 400),
    ("openai", {"temperature": "-0.5"}, {}, 400),
    ("openai", {"prompt": "y" * 5000}, {}, 400),
    ("openai", {"response_format": "xml"}, {}, 400),
    ("openai", {"language": "\u0000" * 100}, {}, 400),
    ("phonexia", {"config": _deep(100_000)}, {}, 422),
    ("phonexia", {"config": json.dumps({"channels": list(range(1000))})}, {}, 422),
    ("phonexia", {"config": json.dumps({"channels": [2**70]})}, {}, 422),
    ("phonexia", {"config": "{" + '"a":1,' * 5000 + '"b":2}'}, {}, 422),
    ("phonexia", {"config": "not json"}, {}, 400),
    ("phonexia", {}, {"channels": "abc"}, 422),
    ("phonexia", {}, {"channels": ",".join(["0"] * 100)}, 422),
    ("phonexia", {}, {"channels": "99999999999999999999"}, 422),
    ("phonexia", {}, {"channel_mode": "stereo"}, 422),
    ("phonexia", {}, {"language_switching": "maybe"}, 422),
    ("phonexia", {}, {"language_switching": "yes"}, 422),
    ("phonexia", {}, {"language_switching": "1"}, 422),
    ("phonexia", {"config": json.dumps({"language_switching": "yes"})}, {}, 422),
    ("openai", {"temperature": " 0.5"}, {}, 400),
    ("openai", {"temperature": "0_0"}, {}, 400),
    ("openai", {"temperature": "nan"}, {}, 400),
]
