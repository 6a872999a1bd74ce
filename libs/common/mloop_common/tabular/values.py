"""What the strings of one column mean: missing, numbers, datetimes or booleans.

Every function takes an arrow string array without nulls (the CSV reader never makes nulls) and
returns None when some value does not fit, so that one bad value anywhere in a column changes its
type instead of failing the read. Surrounding whitespace is tolerated.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .arrow import strings

NA_TOKENS = ("", "NA", "N/A", "n/a", "#N/A", "null", "NULL", "Null", "NaN", "nan", "None", "none")
_NA = strings(NA_TOKENS)
_TRUE = strings(["true", "yes", "t"])
_BOOLEAN = strings(["true", "yes", "t", "false", "no", "f"])
_ZONE = r"[T ]\d\d(?::\d\d){0,2}(?:[.,]\d+)?(?:Z|[+-]\d\d(?::?\d\d)?)$"
NUMBER_PATTERN = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$|^\s*[+-]?inf(?:inity)?\s*$"
TIMESTAMP = pa.timestamp("us")
_PROBE = 256
_UTC = pa.timestamp("us", tz="UTC")


def missing_mask(values: pa.Array) -> pa.BooleanArray:
    return pc.is_in(values, value_set=_NA)


def parse_numbers(values: pa.Array, *, integers: bool = True, trim: bool = True) -> pa.Array | None:
    """int64 when every value is an integer (tried only with `integers`), float64 when every
    value is a number, else None. "nan" and "NaN" parse as NaN, which callers count as missing.
    With `trim`, values with surrounding whitespace are tried again without it.
    """
    targets = (pa.int64(), pa.float64()) if integers else (pa.float64(),)
    candidates = _as_is_then_trimmed(values) if trim else iter((values,))
    for candidate in candidates:
        for target in targets:
            parsed = _cast(candidate, target)
            if parsed is not None:
                return parsed
    return None


def parse_datetimes(values: pa.Array) -> pa.Array | None:
    """Microsecond timestamps when every value is an ISO 8601 date or datetime, else None.

    A value with a zone ("Z", "+02:00") is converted to UTC; one without is taken as it is.
    """
    for candidate in _as_is_then_trimmed(values):
        parsed = _cast(candidate, TIMESTAMP)
        if parsed is not None:
            return parsed
        zoned = pc.match_substring_regex(candidate, _ZONE)
        try:
            if pc.all(zoned).as_py():
                return pc.cast(pc.cast(candidate, _UTC), TIMESTAMP)
            if pc.any(zoned).as_py():
                return _mixed_zones(candidate, zoned)
        except pa.ArrowInvalid:
            continue
    return None


def parse_booleans(values: pa.Array) -> pa.BooleanArray | None:
    """true/false, yes/no, t/f in any case; not 0/1, which are numbers."""
    if not len(values):
        return pc.is_in(values, value_set=_TRUE)
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    if not pc.all(pc.is_in(lowered, value_set=_BOOLEAN)).as_py():
        return None
    return pc.is_in(lowered, value_set=_TRUE)


def _cast(values: pa.Array, target: pa.DataType) -> pa.Array | None:
    """`values` cast to `target`, or None when some value does not convert.

    A failing arrow cast costs about 0.4 µs per failing value, so a prefix is tried first: a
    column of words fails there, cheaply.
    """
    try:
        if len(values) > _PROBE:
            pc.cast(values.slice(0, _PROBE), target)
        return pc.cast(values, target)
    except pa.ArrowInvalid:
        return None


def _as_is_then_trimmed(values: pa.Array) -> Iterator[pa.Array]:
    yield values
    trimmed = pc.utf8_trim_whitespace(values)
    if not trimmed.equals(values):
        yield trimmed


def _mixed_zones(values: pa.Array, zoned: pa.BooleanArray) -> pa.TimestampArray:
    utc = pc.cast(pc.cast(values.filter(zoned), _UTC), TIMESTAMP)
    local = pc.cast(values.filter(pc.invert(zoned)), TIMESTAMP)
    merged = pc.replace_with_mask(pa.nulls(len(values), TIMESTAMP), zoned, utc)
    return pc.replace_with_mask(merged, pc.invert(zoned), local)
