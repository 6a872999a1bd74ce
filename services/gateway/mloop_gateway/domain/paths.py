"""Data paths: where a file lives inside a scenario, as users name it (pure)."""

from __future__ import annotations

import unicodedata

MAX_PATH_CHARS = 512


class BadPath(ValueError):
    pass


def clean_data_path(path: str) -> str:
    """Return the path, or refuse anything that could name a place outside the scenario."""
    if not path or not path.strip():
        raise BadPath("the path is empty")
    if len(path) > MAX_PATH_CHARS:
        raise BadPath(f"the path is longer than {MAX_PATH_CHARS} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in path):
        raise BadPath("the path contains a control character (NUL, newline, ...)")
    if "\\" in path:
        raise BadPath("the path contains a backslash; use '/' between folders")
    if "%" in path:
        raise BadPath("the path contains '%'; percent-encoded paths are refused")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise BadPath("the path is absolute; give it relative to the scenario")
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise BadPath("the path has an empty, '.' or '..' segment")
    if any(segment != segment.strip() for segment in segments):
        raise BadPath("a path segment starts or ends with whitespace")
    return path
