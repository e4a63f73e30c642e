from clusterlink.engine.segments import Segment, destination_for_source, source_for_destination


def test_no_segment_means_exact():
    assert source_for_destination([], 42) == 42
    assert destination_for_source([], 42) == 42


def test_resume_point_maps_through_the_last_segment_at_or_below():
    # A marker at source 10 shifts by one; a later gap of two more lands source 33 at 30.
    segs = [Segment(11, 10), Segment(33, 30)]
    assert source_for_destination(segs, 5) == 5
    assert source_for_destination(segs, 10) == 11
    assert source_for_destination(segs, 29) == 30
    assert source_for_destination(segs, 30) == 33
    assert source_for_destination(segs, 40) == 43


def test_source_offsets_translate_forward():
    segs = [Segment(11, 10), Segment(33, 30)]
    assert [destination_for_source(segs, s) for s in (0, 9, 11, 20, 33, 42)] == [0, 9, 10, 19, 30, 39]


def test_a_gap_recorded_at_the_log_start():
    # The source deleted 0..499 before anything was mirrored into a non-empty mirror.
    segs = [Segment(500, 120)]
    assert source_for_destination(segs, 120) == 500
    assert destination_for_source(segs, 510) == 130


def test_translation_before_between_and_after_segments():
    segments = [Segment(100, 90), Segment(200, 180)]
    assert destination_for_source([], 42) == 42
    assert destination_for_source(segments, 50) == 50
    assert destination_for_source(segments, 100) == 90
    assert destination_for_source(segments, 150) == 140
    # Source 190..199 are the gap before the second segment: a consumer at 199
    # goes on with the next record, source 200 at destination 180.
    assert destination_for_source(segments, 189) == 179
    assert destination_for_source(segments, 190) == 180
    assert destination_for_source(segments, 199) == 180
    assert destination_for_source(segments, 200) == 180
    assert destination_for_source(segments, 1000) == 980
