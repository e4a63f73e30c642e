"""Repeated library log lines are shown once per window."""

import logging

from clusterlink.cli.log_repeats import RepeatFilter


def record(name: str, msg: str, *args, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_lines_differing_only_in_numbers_are_held_back_then_counted():
    now = [0.0]
    f = RepeatFilter("kafka.", window=60, clock=lambda: now[0])
    assert f.filter(record("kafka.net.manager", "Bootstrap not ready; waiting %s secs", 0.11))
    now[0] = 1.0
    assert not f.filter(record("kafka.net.manager", "Bootstrap not ready; waiting %s secs", 0.17))
    now[0] = 2.0
    assert not f.filter(record("kafka.net.manager", "Bootstrap not ready; waiting %s secs", 0.5))
    now[0] = 61.0
    again = record("kafka.net.manager", "Bootstrap not ready; waiting %s secs", 1.0)
    assert f.filter(again)
    assert again.getMessage() == "Bootstrap not ready; waiting 1.0 secs (2 similar line(s) in the last 60s not shown)"


def test_other_lines_and_other_loggers_pass():
    f = RepeatFilter("kafka.", window=60, clock=lambda: 0.0)
    assert f.filter(record("kafka.net.transport", "Abort: socket disconnected"))
    assert f.filter(record("kafka.net.transport", "Abort: authentication failed"))  # another line
    assert f.filter(record("kafka.net.connection", "Abort: socket disconnected"))   # another logger
    for _ in range(3):
        assert f.filter(record("clusterlink.engine.runtime", "mirror failed"))       # not under the prefix
