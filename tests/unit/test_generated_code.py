"""The committed gRPC code must match proto/ (run `make proto` after editing it)."""

from pathlib import Path

from clusterlink.v1 import regenerate


def test_generated_code_is_up_to_date(tmp_path: Path):
    fresh = regenerate.generate(tmp_path)
    assert fresh, "no proto files found"
    committed_dir = regenerate.OUT_ROOT / "clusterlink" / "v1"
    for path in fresh:
        committed = committed_dir / path.name
        assert committed.exists(), f"{path.name} is missing: run `make proto`"
        assert committed.read_text() == path.read_text(), f"{path.name} is out of date with proto/: run `make proto`"
