"""The dashboard's languages: English and Korean message catalogs, and which one a visitor gets.

Catalogs are flat JSON objects in `messages/<lang>/<area>.json`; a message's full key is
`<area>.<key>` (`home.title`). The language is the `lang` cookie when it names one we have,
else the best of the browser's Accept-Language (Korean for `ko`, else English).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "ko")
DEFAULT = "en"
COOKIE = "lang"
MESSAGES = Path(__file__).parent / "messages"
PLACEHOLDER = re.compile(r"\{(\w+)\}")

Catalog = dict[str, str]


def load(folder: Path = MESSAGES) -> dict[str, Catalog]:
    """Every language's catalog: {lang: {"area.key": text}}."""
    catalogs: dict[str, Catalog] = {}
    for lang in LANGUAGES:
        catalog: Catalog = {}
        for file in sorted((folder / lang).glob("*.json")):
            entries = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(entries, dict):
                raise ValueError(f"{file}: a catalog is one flat JSON object")
            for key, text in entries.items():
                if not isinstance(text, str):
                    raise ValueError(f"{file}: {key} is not a string")
                catalog[f"{file.stem}.{key}"] = text
        catalogs[lang] = catalog
    return catalogs


@cache
def catalogs() -> dict[str, Catalog]:
    return load()


def catalog(lang: str) -> Catalog:
    """The language's messages, with English filling any gap."""
    found = catalogs()
    return found[DEFAULT] | found.get(lang, {})


def fill(text: str, values: dict[str, object]) -> str:
    """Replace `{name}` placeholders; unknown names stay as they are."""
    return PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], text)


def translate(messages: Catalog, key: str, **values: object) -> str:
    """The message for `key` (the key itself when no catalog has it), placeholders filled."""
    return fill(messages.get(key, key), values)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The visitor's language: the cookie's when valid, else the browser's preference."""
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        primary = tag.strip().lower().split("-")[0]
        if weight > 0 and primary in LANGUAGES:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else DEFAULT


def gaps(found: dict[str, Catalog]) -> dict[str, list[str]]:
    """Keys one language has and another lacks: {"ko": [keys missing in ko], ...}."""
    every = set().union(*(set(catalog) for catalog in found.values()))
    return {lang: sorted(every - set(catalog)) for lang, catalog in found.items()}


# A template's `t("area.key")` or a script's `MLoop.t("area.key", ...)`: literal keys only (a key
# built at run time, `t("common.status_" + value)`, is not matched).
USED_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_]+\.[a-z0-9_.]+)["']\s*[,)]""")


def used_keys(text: str) -> set[str]:
    return set(USED_KEY.findall(text))
