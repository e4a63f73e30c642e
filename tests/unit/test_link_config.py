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
