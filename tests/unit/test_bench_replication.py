"""The mirror benchmark's reference run of Kafka's own replication: its rates and ratios."""

from tests.bench.replication import copy_rates

MIB = 1024 * 1024


def test_the_follower_is_timed_from_its_first_byte_to_its_last() -> None:
    target = 100 * MIB
    # The tool's JVM starts for 1.5 s with nothing on disk; then 100 MiB arrive over 4 s.
    samples = [(0.0, 0), (1.5, 0), (2.0, 10 * MIB), (3.0, 40 * MIB), (4.0, 70 * MIB), (5.0, 90 * MIB),
               (5.5, 100 * MIB)]
    rates = copy_rates(samples, target, records=102_400, record_size=1024)
    # first byte seen at 2.0 s, last at 5.5 s: 100 MiB of payload in 3.5 s
    assert rates["seconds_copying"] == 3.5
    assert rates["copy_mib_per_s"] == round(100 / 3.5, 2)
    # 10% at 2.0 s, 90% at 5.0 s: 80 MiB in 3 s
    assert rates["middle_mib_per_s"] == round(80 / 3, 2)
    assert rates["on_disk_mib"] == 100.0


def test_a_copy_too_short_to_time_reports_no_rate() -> None:
    rates = copy_rates([(0.0, 0), (0.5, MIB // 2), (1.0, MIB)], MIB, records=1024, record_size=1024)
    assert rates["copy_mib_per_s"] == 2.0  # 1 MiB from the first byte (0.5 s) to the last (1.0 s)
    assert "middle_mib_per_s" not in rates  # 10% -> 90% took under a second
    # everything showed up in one sample: no time to divide by
    assert "copy_mib_per_s" not in copy_rates([(0.0, 0), (0.5, MIB)], MIB, records=1024, record_size=1024)


def test_the_report_sets_the_mirror_rounds_against_the_replication_rate() -> None:
    from tests.bench.mirror_bench import build_report, parse_args

    def mirror(copy: float) -> dict:
        return {"caught_up": True, "mib_per_s": copy * 0.9, "copy_mib_per_s": copy, "cpu_s_per_gib": 3.0}

    results = {
        "source_consume": {"mib_per_s": 300.0}, "mirror": mirror(200.0),
        "source_consume_after": {"mib_per_s": 300.0},
        "rounds": [mirror(150.0), mirror(250.0)],
        "source_consume_round_2": {"mib_per_s": 300.0}, "source_consume_round_3": {"mib_per_s": 300.0},
        "replication": {"copy_mib_per_s": 250.0, "consume_mib_per_s": 250.0, "on_disk_mib": 1032.6,
                        "seconds_copying": 4.0, "cores_busy": {}},
    }
    ratios = build_report(parse_args([]), {}, results, "complete")["ratios"]
    assert ratios["replication_copy_vs_its_consume"] == 1.0
    assert ratios["mirror_copy_vs_replication_copy"] == 0.8  # round 1
    assert ratios["median_mirror_copy_vs_replication_copy"] == 0.8  # median of 200, 150, 250
