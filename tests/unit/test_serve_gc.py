"""serve collects garbage rarely: large answers decoded into short-lived objects
must not set off walks of the whole heap (see serve_cmd.GC_YOUNG_OBJECTS)."""

import gc

from clusterlink.cli import serve_cmd


def test_tuning_freezes_the_start_up_heap_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        serve_cmd._tune_gc()
        assert gc.get_threshold() == (serve_cmd.GC_YOUNG_OBJECTS, serve_cmd.GC_OLDER_EVERY, serve_cmd.GC_OLDER_EVERY)
        assert gc.get_freeze_count() > 0  # what start-up loaded is left out of every collection

        # Objects alive while one large answer is decoded set off no collection,
        # so none of them is moved into an older generation.
        gc.collect()
        collections = gc.get_stats()[0]["collections"]
        answer = [[] for _ in range(serve_cmd.GC_YOUNG_OBJECTS // 2)]
        del answer
        assert gc.get_stats()[0]["collections"] == collections
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
