"""The one strict number parser of ClusterLink.

Link config values (checked by the API for gRPC, CLI and Terraform alike) and
the CLI's own numeric options are read here. A number is written with the
ASCII digits 0-9 only, and nothing else: no sign, no spaces, no trailing
newline, no underscores, no other script's digits (Python's `int()` accepts
all of those, which is why it is not used on input directly).
"""

from __future__ import annotations

import re

# At most 18 digits: every value below 10**18 fits a signed 64-bit integer.
MAX_DIGITS = 18
_DIGITS = re.compile(r"[0-9]{1,%d}" % MAX_DIGITS)
_DECIMAL = re.compile(r"([0-9]{1,%d})(?:\.([0-9]{1,9}))?" % MAX_DIGITS)


class NumberError(ValueError):
    """Not a number of the allowed form or range; the message says which form and range."""


def int_rule(low: int, high: int) -> str:
    return f"a whole number from {low} to {high}, written with the digits 0-9 only"


def parse_int(text: str, low: int, high: int) -> int:
    """`text` as an int in [low, high] (low >= 0), or NumberError saying what is allowed."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise NumberError(f"must be {int_rule(low, high)}")
    number = int(text)
    if not low <= number <= high:
        raise NumberError(f"must be from {low} to {high}")
    return number


def seconds_rule(low: float, high: float) -> str:
    return f"a number of seconds from {low:g} to {high:g}, written with the digits 0-9 and an optional '.'"


def parse_seconds(text: str, low: float, high: float) -> float:
    """A duration such as `30` or `0.5` in [low, high], or NumberError (no 'nan', 'inf', '1e3', '+1')."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise NumberError(f"must be {seconds_rule(low, high)}")
    value = float(text)
    if not low <= value <= high:
        raise NumberError(f"must be from {low:g} to {high:g} seconds")
    return value
