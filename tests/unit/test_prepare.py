"""Which destination partitions must be moved up to the source's log start."""

from clusterlink.engine.prepare import Offsets, partitions_to_fill
from clusterlink.engine.segments import Segment


def _never_called(_offsets):
    raise AssertionError("no record needed to be read")


def test_empty_destination_behind_a_moved_source_start_is_filled():
    src = Offsets(low={0: 500, 1: 0}, high={0: 900, 1: 10})
    dst = Offsets(low={0: 0, 1: 0}, high={0: 0, 1: 0})
    assert partitions_to_fill(src, dst, {}, _never_called) == {0: 500}


def test_an_interrupted_fill_is_finished_but_real_records_are_kept():
    src = Offsets(low={0: 500, 1: 500}, high={0: 900, 1: 900})
    dst = Offsets(low={0: 0, 1: 0}, high={0: 300, 1: 300})
    asked = {}

    def last_is_filler(offsets):
        asked.update(offsets)
        return {0: True, 1: False}

    assert partitions_to_fill(src, dst, {}, last_is_filler) == {0: 500}
    assert asked == {0: 299, 1: 299}


def test_translated_partitions_and_caught_up_ones_are_left_alone():
    src = Offsets(low={0: 500, 1: 200}, high={0: 900, 1: 900})
    dst = Offsets(low={0: 100, 1: 200}, high={0: 100, 1: 250})
    assert partitions_to_fill(src, dst, {0: [Segment(40, 30)]}, _never_called) == {}


def test_filler_left_untrimmed_at_the_source_start_is_trimmed_again():
    """Filled up to the source's log start, but DeleteRecords failed: the filler is still readable."""
    src = Offsets(low={0: 10, 1: 10}, high={0: 30, 1: 30})
    dst = Offsets(low={0: 0, 1: 10}, high={0: 10, 1: 10})

    def last_is_filler(offsets):
        assert offsets == {0: 9}  # partition 1 was trimmed: nothing to read
        return {0: True}

    assert partitions_to_fill(src, dst, {}, last_is_filler) == {0: 10}


def test_real_records_up_to_the_source_start_are_kept():
    src = Offsets(low={0: 10}, high={0: 30})
    dst = Offsets(low={0: 0}, high={0: 10})  # the destination kept records the source's retention dropped
    assert partitions_to_fill(src, dst, {}, lambda offsets: {0: False}) == {}


def test_an_admin_call_not_answered_in_time_is_an_unreachable_cluster_not_a_crash():
    # librdkafka's futures raise concurrent.futures' TimeoutError, not a KafkaException:
    # the prepare batch must fail as "source unavailable" (retried), not as a bug.
    from concurrent.futures import TimeoutError as FutureTimeout

    import pytest

    from clusterlink.engine.errors import SourceUnavailableError
    from clusterlink.engine.mirror import Clusters, MirrorSpec, prepare_many

    class _Silent:
        def list_topics(self, timeout):
            raise FutureTimeout()

    clusters = Clusters(None, None, _Silent(), _Silent(), 1.0)  # type: ignore[arg-type]
    with pytest.raises(SourceUnavailableError, match="no answer within the request timeout"):
        prepare_many([MirrorSpec(1, "t", "t")], clusters, None, frozenset())  # type: ignore[arg-type]
