"""The mirror benchmark's rounds: each mirror run against the consume runs around it."""

from tests.bench.mirror_bench import median_of, round_table


def _mirror(mib: float, cpu: float) -> dict:
    return {"caught_up": True, "mib_per_s": mib, "copy_mib_per_s": mib * 1.1, "middle_mib_per_s": mib * 1.2,
            "cpu_s_per_gib": cpu}


def test_each_round_is_compared_with_the_consume_runs_just_before_and_after_it() -> None:
    results = {
        "source_consume": {"mib_per_s": 200.0},
        "mirror": _mirror(150.0, 3.0),
        "source_consume_after": {"mib_per_s": 300.0},
        "rounds": [_mirror(240.0, 2.0), _mirror(100.0, 4.0)],
        "source_consume_round_2": {"mib_per_s": 300.0},
        "source_consume_round_3": {"mib_per_s": 100.0},
    }
    table = round_table(results)
    assert [(r["round"], r["consume_mib_per_s"], r["vs_source_consume"]) for r in table] == [
        (1, 250.0, 0.6), (2, 300.0, 0.8), (3, 200.0, 0.5)]
    assert median_of(table, "vs_source_consume") == 0.6
    assert median_of(table, "cpu_s_per_gib") == 3.0


def test_a_round_without_a_consume_run_after_it_is_left_out() -> None:
    results = {
        "source_consume": {"mib_per_s": 200.0},
        "mirror": _mirror(150.0, 3.0),
        "source_consume_after": {"mib_per_s": 200.0},
        "rounds": [_mirror(240.0, 2.0)],  # the run stopped before its consume run
    }
    assert [r["round"] for r in round_table(results)] == [1]


def test_a_brokers_cpu_is_split_into_jit_gc_and_its_other_threads() -> None:
    from tests.bench.mirror_bench import jvm_cpu_split

    # Names as /proc/PID/task/TID/comm shows a JVM's threads: cut to 15 characters,
    # trailing numbers already grouped away by ThreadMeter.
    seconds = {"C2 CompilerThre": 1.5, "C1 CompilerThre": 0.25, "GC Thread#": 0.5, "G1 Conc#": 0.125,
               "G1 Refine#": 0.125, "VM Thread": 0.25, "data-plane-kafk": 3.0, "kafka-scheduler": 0.5}
    assert jvm_cpu_split(seconds) == {"jit": 1.75, "gc": 1.0, "work": 3.5}
    assert jvm_cpu_split({}) == {"jit": 0.0, "gc": 0.0, "work": 0.0}
