# Two commands on a fresh clone: `make demo` and `make test`.
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROTO   := $(wildcard proto/clusterlink/v1/*.proto)

.PHONY: install demo test unit integration bench bench-scale bench-failover bench-replicas bench-datapath proto provider-mirror clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip==25.3
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Regenerate the committed gRPC code after editing proto/.
# tests/unit/test_generated_code.py fails when this was forgotten.
proto: $(STAMP)
	$(BIN)/python -m clusterlink.v1.regenerate

demo: $(STAMP)
	$(BIN)/python -m clusterlink.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra --durations=25

unit: $(STAMP)
	$(BIN)/python -m pytest -q -ra tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q -ra tests/integration

# Measured, never asserted. SIZE_MB=100 for a quick run. Includes MirrorMaker 2.
SIZE_MB ?= 1024
bench: $(STAMP)
	$(BIN)/python -m tests.bench.mirror_bench --size-mb $(SIZE_MB)

# Many mirror topics on one link: creation, catch-up, footprint, idle CPU.
N_TOPICS ?= 500
N_PARTITIONS ?= 10
IDLE_SECONDS ?= 60
bench-scale: $(STAMP)
	$(BIN)/python -m tests.bench.scale_bench --topics $(N_TOPICS) --partitions $(N_PARTITIONS) \
		--idle-seconds $(IDLE_SECONDS)

# Records a consumer re-reads after a failover, per consumer offset sync interval.
bench-failover: $(STAMP)
	$(BIN)/python -m tests.bench.failover_bench

# Replicas sharing one link on PostgreSQL: MiB/s with 1, 2, 3 replicas, and how fast a killed one's work moves.
REPLICAS ?= 1,2,3
bench-replicas: $(STAMP)
	$(BIN)/python -m tests.bench.replicas_bench --size-mb $(SIZE_MB) --replicas $(REPLICAS)

# The data path's own CPU per GiB, offline (no broker): compares two versions of it.
bench-datapath: $(STAMP)
	$(BIN)/python -m tests.bench.datapath_bench --size-mb $(SIZE_MB)

# A Terraform filesystem mirror holding clusterlink/clusterlink (see README).
provider-mirror: $(STAMP)
	@test -n "$(DIR)" || (echo "usage: make provider-mirror DIR=/path/to/mirror" >&2; exit 2)
	$(BIN)/python -m clusterlink_terraform.mirror --dir "$(DIR)"

clean:
	rm -rf $(VENV) build *.egg-info service/*.egg-info
