"""Regenerates the committed gRPC code in this folder from `proto/`.

Run `make proto` after editing a .proto file. The generated modules are
committed so that an install needs no code generator; a unit test
regenerates into a temporary folder and fails when they differ.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTO_ROOT = REPO_ROOT / "proto"
OUT_ROOT = REPO_ROOT / "service"


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "clusterlink" / "v1").glob("*.proto"))


def generate(out_root: Path = OUT_ROOT) -> list[Path]:
    """Writes `clusterlink/v1/*_pb2*.py(i)` under `out_root`; returns them."""
    from grpc_tools import protoc  # dev dependency, only needed here

    well_known = resources.files("grpc_tools") / "_proto"
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {files}")
    return sorted((out_root / "clusterlink" / "v1").glob("*_pb2*"))


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(REPO_ROOT))
    sys.exit(0)
