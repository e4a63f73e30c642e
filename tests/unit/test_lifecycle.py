import pytest

from clusterlink.store import lifecycle as lc


@pytest.mark.parametrize(
    "action,current,expected",
    [
        ("pause", lc.ACTIVE, lc.PAUSED),
        ("pause", lc.PAUSED, lc.PAUSED),
        ("resume", lc.PAUSED, lc.ACTIVE),
        ("resume", lc.ACTIVE, lc.ACTIVE),
        ("resume", lc.FAILED, lc.ACTIVE),
        ("promote", lc.ACTIVE, lc.PROMOTING),
        ("promote", lc.PROMOTED, lc.PROMOTED),
        ("failover", lc.FAILED, lc.FAILED_OVER),
        ("failover", lc.PROMOTING, lc.FAILED_OVER),
        ("failover", lc.SOURCE_UNAVAILABLE, lc.FAILED_OVER),
        ("failover", lc.PROMOTED, lc.FAILED_OVER),
    ],
)
def test_allowed(action, current, expected):
    assert lc.apply(action, current) == expected


@pytest.mark.parametrize(
    "action,current",
    [
        ("resume", lc.PROMOTED),
        ("resume", lc.FAILED_OVER),
        ("pause", lc.PROMOTED),
        ("promote", lc.FAILED),
        ("promote", lc.FAILED_OVER),
        ("pause", lc.DELETING),
    ],
)
def test_refused_with_a_reason(action, current):
    with pytest.raises(lc.TransitionError) as err:
        lc.apply(action, current)
    assert current in str(err.value) or "deleted" in str(err.value)
