"""The readable consumer offset sync flags of `link create/update`."""

import argparse
import json

import pytest

from clusterlink.cli.client import UsageError
from clusterlink.cli.sync_flags import add_sync_arguments, merged_config
from clusterlink.config import link_config


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=lambda s: tuple(s.split("=", 1)), action="append")
    add_sync_arguments(parser)
    args = parser.parse_args(argv)
    args.config = dict(args.config or [])
    return args


def test_flags_become_the_config_keys_the_service_validates():
    config = merged_config(parse("--consumer-offset-sync", "on", "--group-filter", "include:prefixed:payments-",
                                 "--group-filter", "exclude:literal:payments-test", "--consumer-offset-sync-ms", "10000",
                                 "--consumer-group-prefix", "dr."))
    assert config["consumer.offset.sync.enable"] == "true"
    assert json.loads(config["consumer.offset.group.filters"]) == {"groupFilters": [
        {"name": "payments-", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": "payments-test", "patternType": "LITERAL", "filterType": "EXCLUDE"}]}
    assert config["consumer.offset.sync.ms"] == "10000" and config["consumer.group.prefix"] == "dr."
    assert link_config.validate(config) == []


def test_no_flag_sets_nothing():
    assert merged_config(parse("--config", "mirror.topic.prefix=a.")) == {"mirror.topic.prefix": "a."}


def test_a_bad_filter_says_the_form():
    with pytest.raises(SystemExit):
        parse("--group-filter", "include:regex:x")


def test_a_key_given_twice_is_refused():
    with pytest.raises(UsageError, match="given both with --config and with its own flag"):
        merged_config(parse("--config", "consumer.offset.sync.enable=true", "--consumer-offset-sync", "on"))


def test_new_topic_config_and_acl_flags_become_their_config_keys():
    config = merged_config(parse(
        "--auto-create-mirror-topics", "on", "--topic-filter", "include:prefixed:orders.",
        "--topic-filter", "exclude:glob:orders.tmp-*", "--auto-create-mirror-topics-ms", "5000",
        "--topic-config-sync", "off", "--topic-config-sync-ms", "2000",
        "--topic-config-include", "min.insync.replicas", "--topic-config-exclude", "segment.ms",
        "--acl-sync", "on", "--acl-filter", "resource=topic,pattern=prefixed,name=orders.,principal=User:alice",
        "--acl-filter", "resource=group", "--acl-sync-ms", "3000"))
    assert json.loads(config["auto.create.mirror.topics.filters"]) == {"topicFilters": [
        {"name": "orders.", "patternType": "PREFIXED", "filterType": "INCLUDE"},
        {"name": "orders.tmp-*", "patternType": "GLOB", "filterType": "EXCLUDE"}]}
    assert json.loads(config["acl.filters"]) == {"aclFilters": [
        {"resourceFilter": {"resourceType": "topic", "patternType": "prefixed", "name": "orders."},
         "accessFilter": {"principal": "User:alice"}},
        {"resourceFilter": {"resourceType": "group"}, "accessFilter": {}}]}
    assert {k: config[k] for k in ("auto.create.mirror.topics.enable", "topic.config.sync.enable",
                                   "acl.sync.enable")} == {
        "auto.create.mirror.topics.enable": "true", "topic.config.sync.enable": "false", "acl.sync.enable": "true"}
    assert config["topic.config.sync.include"] == "min.insync.replicas"
    assert link_config.validate(config) == []


def test_a_bad_acl_filter_says_the_form():
    with pytest.raises(SystemExit):
        parse("--acl-filter", "kind=topic")
