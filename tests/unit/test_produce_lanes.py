"""Which destination connection (lane) a partition's next batch goes through."""

from clusterlink.engine.datapath.copier import LANE_SPREAD_BYTES, lane_for


def test_a_partition_with_writes_in_flight_keeps_their_lane():
    # Its batches must stay in order, whatever the size of the next one.
    assert lane_for(2, 10, spread=7, lanes=3) == 2
    assert lane_for(0, LANE_SPREAD_BYTES * 4, spread=7, lanes=3) == 0


def test_small_batches_share_the_first_lane():
    assert {lane_for(None, LANE_SPREAD_BYTES - 1, spread=s, lanes=3) for s in range(9)} == {0}


def test_large_batches_spread_over_every_lane():
    assert [lane_for(None, LANE_SPREAD_BYTES, spread=s, lanes=3) for s in range(6)] == [0, 1, 2, 0, 1, 2]


def test_one_lane_takes_everything():
    assert lane_for(None, LANE_SPREAD_BYTES * 10, spread=5, lanes=1) == 0
