"""How much a fetch from one source node asks for (the first after a new mirror is small)."""

from clusterlink.engine.datapath.copier import FIRST_FETCH_BYTES, MIN_PARTITION_SHARE, fetch_limits

MIB = 1 << 20


def test_a_full_size_fetch_uses_the_links_limits_as_they_are():
    assert fetch_limits(50 * MIB, 6, fetch_max=50 * MIB, partition_max=10 * MIB) == (50 * MIB, 10 * MIB)
    # However many partitions share it: the limits are the operator's.
    assert fetch_limits(50 * MIB, 5000, fetch_max=50 * MIB, partition_max=10 * MIB) == (50 * MIB, 10 * MIB)


def test_a_small_first_fetch_is_shared_by_every_partition():
    max_bytes, partition_max = fetch_limits(FIRST_FETCH_BYTES, 4, fetch_max=50 * MIB, partition_max=10 * MIB)
    assert max_bytes == FIRST_FETCH_BYTES
    assert partition_max == FIRST_FETCH_BYTES // 4  # not one partition taking the whole answer


def test_a_share_has_a_floor_and_never_exceeds_the_partition_limit():
    assert fetch_limits(FIRST_FETCH_BYTES, 5000, 50 * MIB, 10 * MIB) == (FIRST_FETCH_BYTES, MIN_PARTITION_SHARE)
    assert fetch_limits(FIRST_FETCH_BYTES, 1, 50 * MIB, 256 * 1024) == (FIRST_FETCH_BYTES, 256 * 1024)
    assert fetch_limits(FIRST_FETCH_BYTES, 0, 50 * MIB, 10 * MIB) == (FIRST_FETCH_BYTES, FIRST_FETCH_BYTES)
