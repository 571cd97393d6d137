from __future__ import annotations

import pytest

from aural.errors import UnlicensedLanguageError, UnsupportedLanguageError
from aural.languages import (
    WHISPER_LANGUAGES,
    ensure_licensed,
    most_probable_allowed,
    parse_language_option,
    to_whisper_code,
)

# The allowed values listed in the DeepInfra document (specs/000_*.txt).
DEEPINFRA_CODES = """af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo
fr gl gu ha haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn
mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl
tr tt uk ur uz vi yi yo yue zh""".split()  # noqa: SIM905


def test_every_deepinfra_code_is_a_whisper_language() -> None:
    assert sorted(DEEPINFRA_CODES) == sorted(WHISPER_LANGUAGES)
    assert all(to_whisper_code(code) == code for code in DEEPINFRA_CODES)


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en-US", "en"),
        ("zh-Hant", "zh"),
        ("zh-Hant-TW", "zh"),
        ("pt_BR", "pt"),
        ("FR", "fr"),
        ("iw", "he"),
        ("nb-NO", "no"),
        ("English", "en"),
        ("haw", "haw"),
        ("yue-HK", "yue"),
    ],
)
def test_tags_fold_to_whisper_codes(tag: str, code: str) -> None:
    assert to_whisper_code(tag) == code


@pytest.mark.parametrize("tag", ["xx", "klingon", "x-private", ""])
def test_unknown_tags_are_refused(tag: str) -> None:
    with pytest.raises(UnsupportedLanguageError):
        to_whisper_code(tag)


@pytest.mark.parametrize("value", [None, "", "auto", " AUTO "])
def test_auto_means_detect(value: str | None) -> None:
    assert parse_language_option(value) is None


def test_unlicensed_language_is_refused() -> None:
    ensure_licensed("en", None)
    ensure_licensed("en", frozenset({"en", "de"}))
    with pytest.raises(UnlicensedLanguageError, match="'fr' is not licensed"):
        ensure_licensed("fr", frozenset({"en", "de"}))


def test_most_probable_licensed_language_wins() -> None:
    ranking = [("sk", 0.7), ("cs", 0.2), ("pl", 0.1)]
    assert most_probable_allowed(ranking, None) == ("sk", 0.7)
    assert most_probable_allowed(ranking, frozenset({"pl", "cs"})) == ("cs", 0.2)
