from clusterlink.config.link_config import KNOBS, effective, validate


def test_every_knob_is_documented_and_its_default_valid():
    for knob in KNOBS.values():
        assert knob.doc
        assert knob.check(knob.default) is None, knob.key


def test_unknown_and_bad_values_are_named():
    errors = validate({"no.such.key": "1", "mirror.batch.max.records": "zero",
                       "mirror.producer.compression.type": "brotli", "mirror.topic.prefix": "a/b"})
    text = "\n".join(errors)
    assert "no.such.key" in text and "known keys" in text
    assert "mirror.batch.max.records" in text
    assert "brotli" in text
    assert "mirror.topic.prefix" in text
    assert len(errors) == 4


def test_effective_fills_defaults():
    cfg = effective({"mirror.topic.prefix": "east."})
    assert cfg["mirror.topic.prefix"] == "east."
    assert cfg["mirror.producer.compression.type"] == "lz4"


# --------------------------------------------------------------------------- strict numbers (issue 7)

import pytest  # noqa: E402

from clusterlink.config.numbers import NumberError, parse_int, parse_seconds  # noqa: E402

NOT_ASCII_DIGITS = [
    "+5", " 5", "5 ", "5\n", "\n5", "1_000", "\uff15", "\u0665", "\u0e55", "5.0", "0x10", "1e3", "-1", "",
    "5\x00", "٥٥", "𝟓", "5" * 19,
]


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
def test_parse_int_is_strict(text: str) -> None:
    with pytest.raises(NumberError, match=r"^must be a whole number from 1 to 10000, written with the digits 0-9 only$"):
        parse_int(text, 1, 10_000)


def test_parse_int_range() -> None:
    assert parse_int("5", 1, 10) == 5
    assert parse_int("10", 1, 10) == 10
    assert parse_int("007", 1, 10) == 7
    with pytest.raises(NumberError, match=r"^must be from 1 to 10$"):
        parse_int("11", 1, 10)
    with pytest.raises(NumberError, match=r"^must be from 1 to 10$"):
        parse_int("0", 1, 10)
    assert parse_int("9" * 18, 0, 10**18) == 10**18 - 1


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "+1", "1e3", " 1", "1\n", "1_0", "\uff11", ".5", "1.", "1.5.2"])
def test_parse_seconds_is_strict(text: str) -> None:
    with pytest.raises(NumberError, match=r"^must be a number of seconds from"):
        parse_seconds(text, 0.001, 86_400)


def test_parse_seconds() -> None:
    assert parse_seconds("30", 0.001, 86_400) == 30.0
    assert parse_seconds("0.5", 0.001, 86_400) == 0.5
    with pytest.raises(NumberError, match=r"^must be from 0.001 to 86400 seconds$"):
        parse_seconds("0", 0.001, 86_400)


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
def test_every_numeric_knob_refuses_what_is_not_ascii_digits(text: str) -> None:
    numeric = [k for k in KNOBS.values() if k.default.isascii() and k.default.isdigit()]
    assert numeric
    for knob in numeric:
        problem = knob.check(text)
        assert problem and "written with the digits 0-9 only" in problem, (knob.key, text, problem)
        assert knob.check(knob.default) is None
    (error,) = validate({numeric[0].key: text})
    assert error.startswith(f"config {numeric[0].key}=") and "digits 0-9 only" in error


def test_a_prefix_with_a_trailing_newline_is_refused() -> None:
    from clusterlink.config.link_config import validate

    assert validate({"mirror.topic.prefix": "east."}) == []
    (error,) = validate({"mirror.topic.prefix": "east.\n"})
    assert "mirror.topic.prefix" in error and "ASCII letters" in error
