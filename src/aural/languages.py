"""Language tags: RFC 5646 / ISO 639-1 in, Whisper's codes out, and the licensed set.

Whisper knows about 100 languages by (mostly) ISO 639-1 codes. Clients send ``en-US``,
``zh-Hant``, ``iw`` or ``english``; everything is folded to Whisper's code here, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aural.errors import UnlicensedLanguageError, UnsupportedLanguageError

WHISPER_LANGUAGES: dict[str, str] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian",
    "ko": "korean", "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish",
    "pl": "polish", "ca": "catalan", "nl": "dutch", "ar": "arabic", "sv": "swedish",
    "it": "italian", "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese",
    "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay", "cs": "czech",
    "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian",
    "la": "latin", "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak",
    "te": "telugu", "fa": "persian", "lv": "latvian", "bn": "bengali", "sr": "serbian",
    "az": "azerbaijani", "sl": "slovenian", "kn": "kannada", "et": "estonian",
    "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian",
    "sw": "swahili", "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala",
    "km": "khmer", "sn": "shona", "yo": "yoruba", "so": "somali", "af": "afrikaans",
    "oc": "occitan", "ka": "georgian", "be": "belarusian", "tg": "tajik", "sd": "sindhi",
    "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek",
    "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan",
    "tl": "tagalog", "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian",
    "ln": "lingala", "ha": "hausa", "ba": "bashkir", "jw": "javanese", "su": "sundanese",
    "yue": "cantonese",
}  # fmt: skip

# Tags clients send that Whisper spells differently (deprecated ISO codes, ISO 639-3, BCP 47).
_ALIASES: dict[str, str] = {
    "iw": "he", "in": "id", "ji": "yi", "jv": "jw", "nb": "no", "fil": "tl", "cmn": "zh",
    "zho": "zh", "eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de",
}  # fmt: skip

_BY_NAME: dict[str, str] = {name: code for code, name in WHISPER_LANGUAGES.items()}
_BY_NAME.update(
    {"castilian": "es", "flemish": "nl", "haitian": "ht", "burmese": "my", "valencian": "ca",
     "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "moldavian": "ro",
     "moldovan": "ro", "sinhalese": "si", "mandarin": "zh"}
)  # fmt: skip

AUTO = "auto"


def to_whisper_code(tag: str) -> str:
    """Fold an RFC 5646 tag, ISO code or English name to Whisper's language code.

    Only the primary subtag decides (``en-US`` -> ``en``, ``zh-Hant-TW`` -> ``zh``), because
    Whisper has one token per language and no regional variants.
    """
    cleaned = tag.strip().lower().replace("_", "-")
    if cleaned in _BY_NAME:
        return _BY_NAME[cleaned]
    primary = cleaned.split("-", 1)[0]
    primary = _ALIASES.get(primary, primary)
    if primary in WHISPER_LANGUAGES:
        return primary
    raise UnsupportedLanguageError(
        f"unsupported language {tag!r}: use an ISO 639-1 code or RFC 5646 tag Whisper knows, "
        "or 'auto'",
        language=tag,
    )


def parse_language_option(value: str | None) -> str | None:
    """A request's language field: ``None``, empty or ``auto`` mean detect; else a code."""
    if value is None or not value.strip() or value.strip().lower() == AUTO:
        return None
    return to_whisper_code(value)


def normalise_language_set(tags: Iterable[str] | None) -> frozenset[str] | None:
    """A licensed-language list as Whisper codes; ``None`` (no list) allows everything."""
    if tags is None:
        return None
    return frozenset(to_whisper_code(tag) for tag in tags)


def ensure_licensed(code: str, licensed: frozenset[str] | None) -> None:
    """Refuse a requested language that the deployment or API key is not licensed for."""
    if licensed is not None and code not in licensed:
        raise UnlicensedLanguageError(
            f"language {code!r} is not licensed here; licensed: {', '.join(sorted(licensed))}",
            language=code,
            licensed=sorted(licensed),
        )


def most_probable_allowed(
    probabilities: Sequence[tuple[str, float]],
    allowed: frozenset[str] | None,
) -> tuple[str, float]:
    """The most probable language among the allowed ones.

    Detection ranks every language; when the top one is not licensed, the best licensed
    candidate is the closest usable answer (Phonexia's rule for auto and switching modes).
    """
    for code, probability in sorted(probabilities, key=lambda item: item[1], reverse=True):
        if allowed is None or code in allowed:
            return code, probability
    if allowed:
        # The detector ranked none of them (cannot happen with Whisper's full ranking).
        return sorted(allowed)[0], 0.0
    raise UnlicensedLanguageError("no language is licensed here", licensed=[])
