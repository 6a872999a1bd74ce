"""The dashboard's languages: every message in English and Korean, every used key defined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mloop_gateway.web import i18n

WEB = Path(i18n.__file__).parent


def test_every_message_has_both_languages() -> None:
    catalogs = i18n.load()
    assert set(catalogs) == {"en", "ko"}
    assert catalogs["en"], "no English messages"
    gaps = i18n.gaps(catalogs)
    assert not gaps["ko"], f"English messages without a Korean translation: {gaps['ko']}"
    assert not gaps["en"], f"Korean messages without an English original: {gaps['en']}"


def test_each_area_has_the_same_files_in_both_languages() -> None:
    en = {file.name for file in (WEB / "messages" / "en").glob("*.json")}
    ko = {file.name for file in (WEB / "messages" / "ko").glob("*.json")}
    assert en == ko


def test_translations_keep_their_placeholders() -> None:
    catalogs = i18n.load()
    for key, text in catalogs["en"].items():
        wanted = set(i18n.PLACEHOLDER.findall(text))
        found = set(i18n.PLACEHOLDER.findall(catalogs["ko"].get(key, "")))
        assert wanted == found, f"{key}: placeholders {wanted} in English, {found} in Korean"


def test_korean_messages_are_translated_not_copied() -> None:
    catalogs = i18n.load()
    hangul = [key for key, text in catalogs["ko"].items() if any("가" <= c <= "힣" for c in text)]
    assert len(hangul) > 0.8 * len(catalogs["ko"]), "most Korean messages should be in Hangul"


def test_templates_and_scripts_use_only_defined_keys() -> None:
    english = i18n.load()["en"]
    sources = [*(WEB / "templates").rglob("*.html"), *(WEB / "static").rglob("*.js")]
    sources = [file for file in sources if "vendor" not in file.parts]
    assert sources
    missing = {
        f"{file.relative_to(WEB)}: {key}"
        for file in sources
        for key in i18n.used_keys(file.read_text(encoding="utf-8"))
        if key not in english
    }
    assert not missing, f"keys used but not in the English catalog: {sorted(missing)}"


def test_used_keys_reads_literal_keys_only() -> None:
    text = """{{ t("home.title") }} MLoop.t('data.rows', {n: 1}) t("common.status_" + s) t(key)"""
    assert i18n.used_keys(text) == {"home.title", "data.rows"}


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        ("ko", "en-US,en;q=0.9", "ko"),
        ("en", "ko-KR", "en"),
        (None, "ko-KR,ko;q=0.9,en;q=0.8", "ko"),
        (None, "en-US,en;q=0.9,ko;q=0.8", "en"),
        (None, "fr-FR,ko;q=0.5", "ko"),
        (None, "fr-FR,de;q=0.5", "en"),
        (None, "ko;q=0,en;q=0.1", "en"),
        (None, "ko;q=abc", "en"),
        ("xx", None, "en"),
        (None, "", "en"),
    ],
)
def test_language_from_cookie_then_browser(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert i18n.choose(cookie, header) == expected


def test_placeholders_are_filled_and_unknown_keys_shown() -> None:
    messages = {"a.greet": "Hello {name}, {missing}"}
    assert i18n.translate(messages, "a.greet", name="Kim") == "Hello Kim, {missing}"
    assert i18n.translate(messages, "a.nothing") == "a.nothing"


def test_a_catalog_must_be_a_flat_object_of_strings(tmp_path: Path) -> None:
    for lang in i18n.LANGUAGES:
        (tmp_path / lang).mkdir()
    (tmp_path / "en" / "x.json").write_text(json.dumps({"k": {"nested": "no"}}))
    with pytest.raises(ValueError, match="not a string"):
        i18n.load(tmp_path)
    (tmp_path / "en" / "x.json").write_text(json.dumps({"k": "v"}))
    assert i18n.load(tmp_path) == {"en": {"x.k": "v"}, "ko": {}}
    assert i18n.gaps(i18n.load(tmp_path)) == {"en": [], "ko": ["x.k"]}
