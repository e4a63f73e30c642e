"""Name filters in Cluster Linking's JSON form."""

import pytest

from clusterlink.config import link_config
from clusterlink.config.filters import FilterError, NameFilter, parse, passes


def test_cluster_linking_form_parses():
    got = parse('{"groupFilters":[{"name":"app","patternType":"LITERAL","filterType":"INCLUDE"}]}', "groupFilters")
    assert got == (NameFilter("app", "LITERAL", "INCLUDE"),)


def test_enums_are_case_insensitive_and_missing_fields_default():
    got = parse('{"groupFilters":[{"name":"orders.","patternType":"prefixed"},{"filterType":"Exclude","name":"x"},{}]}',
                "groupFilters")
    assert got == (NameFilter("orders.", "PREFIXED", "INCLUDE"), NameFilter("x", "LITERAL", "EXCLUDE"),
                   NameFilter("*", "LITERAL", "INCLUDE"))


def test_include_and_exclude():
    filters = parse('{"groupFilters":[{"name":"*"},{"name":"test-","patternType":"PREFIXED","filterType":"EXCLUDE"},'
                    '{"name":"*-tmp?","patternType":"GLOB","filterType":"EXCLUDE"}]}', "groupFilters")
    assert passes(filters, "billing")
    assert not passes(filters, "test-1")
    assert not passes(filters, "job-tmp1")
    assert passes(filters, "job-tmp")


def test_literal_matches_only_itself_and_star_means_all():
    assert passes((NameFilter("app"),), "app")
    assert not passes((NameFilter("app"),), "app2")
    assert passes((NameFilter("*"),), "anything")
    assert not passes((NameFilter("a*"),), "ab")  # a literal, not a glob
    assert passes((NameFilter("a*", "GLOB"),), "ab")


def test_only_excludes_pass_nothing():
    assert not passes((NameFilter("x", filter_type="EXCLUDE"),), "y")


@pytest.mark.parametrize("value, says", [
    ("not json", "must be JSON like"),
    ('{"topicFilters":[]}', "the one key 'groupFilters'"),
    ('{"groupFilters":[]}', "at least one filter"),
    ('{"groupFilters":["app"]}', "groupFilters[0] must be an object"),
    ('{"groupFilters":[{"name":"a","patternType":"REGEX"}]}', "groupFilters[0].patternType must be one of"),
    ('{"groupFilters":[{"name":"a","filterType":"MAYBE"}]}', "groupFilters[0].filterType must be one of"),
    ('{"groupFilters":[{"name":""}]}', "groupFilters[0].name must be a non-empty string"),
    ('{"groupFilters":[{"name":"a","colour":"red"}]}', "unknown field 'colour'"),
])
def test_malformed_filters_say_what_to_fix(value, says):
    with pytest.raises(FilterError, match=None) as info:
        parse(value, "groupFilters")
    assert says in str(info.value)


def test_offset_sync_needs_filters_and_a_sane_interval():
    base = {"consumer.offset.sync.enable": "true"}
    assert any("needs consumer.offset.group.filters" in e for e in link_config.validate(base))
    good = {**base, "consumer.offset.group.filters": '{"groupFilters":[{"name":"*"}]}'}
    assert link_config.validate(good) == []
    assert link_config.validate({**good, "consumer.offset.sync.ms": "999"})
    assert link_config.validate({"consumer.offset.group.filters": "{"})
