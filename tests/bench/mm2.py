"""Apache Kafka MirrorMaker 2 for the benchmark: its jars, its configuration, its process.

MirrorMaker 2 runs in dedicated mode (`org.apache.kafka.connect.mirror.MirrorMaker
mm2.properties`), from `connect-mirror` of the brokers' Kafka version, fetched from
Maven Central with `tests/bench/mirrormaker-pom.xml` into a cache folder of its own
(`<user cache>/clusterlink/kafka-<version>/mirrormaker`, or
$CLUSTERLINK_MIRRORMAKER_LIBS_CACHE) by the same code that fetches the sandbox's jars.
That folder is a complete classpath; the sandbox's jar set is left as it is.

Where the settings go (read in Kafka 4.1's MirrorMakerConfig / MirrorConnectorConfig,
and checked at run time in MirrorMaker's own log, see `effective_client_configs`):

- `dst.producer.X`: `clusterProps("dst")` puts `producer.X` into the Connect worker
  config of the src->dst herder; the worker gives `producer.*` to the producers of
  its source tasks, which write the mirrored records.
- `src.consumer.X`: becomes the connector config `source.consumer.X`, which
  `MirrorSourceConfig.sourceConsumerConfig` gives to each task's consumer of the
  source cluster.
- `src->dst.X`: connector-level settings of the src->dst MirrorSourceConnector
  (`topics`, `tasks.max`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from clusterlink.sandbox.jars import KAFKA_VERSION, ensure_jars, find_java

MM2_POM = Path(__file__).with_name("mirrormaker-pom.xml")
MM2_LIBS_ENV = "CLUSTERLINK_MIRRORMAKER_LIBS_CACHE"
MM2_REQUIRED_JARS = ("connect-mirror", "connect-mirror-client", "connect-runtime", "connect-json", "kafka-clients")
MM2_MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"
# What Kafka's bin/connect-mirror-maker.sh gives it when KAFKA_HEAP_OPTS is unset. With
# the broker's 512 MiB, MM2 on its defaults (6 consumers with 50 MiB fetches, 6
# producers with 32 MiB buffers) died of OutOfMemoryError within a minute.
MM2_HEAP = ("-Xms256m", "-Xmx2g")

# The "tuned for volume" run: bigger, fuller producer batches and larger fetches.
TUNED = {
    "dst.producer.batch.size": "327680",
    "dst.producer.linger.ms": "100",
    "src.consumer.fetch.max.bytes": "52428800",
}

# Client settings read back from MirrorMaker's log, to show what the runs really used.
PRODUCER_KEYS = ("batch.size", "linger.ms", "compression.type", "acks", "max.in.flight.requests.per.connection",
                 "enable.idempotence", "buffer.memory", "max.request.size")
CONSUMER_KEYS = ("fetch.max.bytes", "max.partition.fetch.bytes", "fetch.min.bytes", "max.poll.records",
                 "auto.offset.reset")

LOG4J2 = """\
# Written by tests/bench/mm2.py for one MirrorMaker 2 run.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:mm2.logs.dir}/mirrormaker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
"""


def mm2_libs_dir() -> Path:
    override = os.environ.get(MM2_LIBS_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("clusterlink")) / f"kafka-{KAFKA_VERSION}" / "mirrormaker"


def ensure_mm2_jars() -> Path:
    """The MirrorMaker 2 classpath folder, fetched from Maven Central the first time."""
    return ensure_jars(mm2_libs_dir(), pom=MM2_POM, required=MM2_REQUIRED_JARS)


def mm2_properties(*, source: str, destination: str, topic: str, tasks: int, run_id: str,
                   extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """mm2.properties for one run mirroring `topic` from `src` to `dst` under its own name.

    Each run has its own Connect group and internal topics, so it starts from the
    source's first offset and never waits for an earlier run's group member to expire.
    """
    props = {
        "clusters": "src, dst",
        "src.bootstrap.servers": source,
        "dst.bootstrap.servers": destination,
        "src->dst.enabled": "true",
        "dst->src.enabled": "false",
        # A regex list; the bench's topic names (bench-<hex>) hold no regex characters.
        "src->dst.topics": topic,
        "src->dst.tasks.max": str(tasks),
        # The destination topic has the source topic's name, as with ClusterLink.
        "replication.policy.class": "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
        # Single-node clusters: every topic MM2 creates has one replica.
        "replication.factor": "1",
        "offset-syncs.topic.replication.factor": "1",
        "checkpoints.topic.replication.factor": "1",
        "heartbeats.topic.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "config.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.topic": f"mm2-offsets.{run_id}.internal",
        "config.storage.topic": f"mm2-configs.{run_id}.internal",
        "status.storage.topic": f"mm2-status.{run_id}.internal",
        "dst.group.id": f"mm2-{run_id}",
        # Only the data: no ACL or topic-config sync, no consumer-group checkpoints,
        # no heartbeats (which would also start a dst->src herder). Offset syncs
        # (emit.offset-syncs.enabled) stay on, as in any MM2 deployment.
        "sync.topic.acls.enabled": "false",
        "sync.topic.configs.enabled": "false",
        "emit.checkpoints.enabled": "false",
        "emit.heartbeats.enabled": "false",
        "sync.group.offsets.enabled": "false",
        "refresh.groups.enabled": "false",
    }
    props.update(extra or {})
    return props


def write_run_files(folder: Path, props: Mapping[str, str]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "mm2.properties"
    # java.util.Properties: no key or value here holds a character that needs escaping
    # ('->' in keys and ':' in values are read as they are).
    config.write_text("".join(f"{k} = {v}\n" for k, v in props.items()))
    log4j = folder / "log4j2.properties"
    log4j.write_text(LOG4J2)
    return config, log4j


def mm2_command(libs: Path, config: Path, log4j: Path, log_dir: Path) -> list[str]:
    """MM2's JVM as its own launcher script sizes it, headless, log4j2 to a file."""
    return [
        find_java(), *MM2_HEAP, "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}", f"-Dmm2.logs.dir={log_dir}",
        "-cp", f"{libs}/*", MM2_MAIN, str(config),
    ]


def _config_blocks(text: str, kind: str) -> list[dict[str, str]]:
    """Every `<kind> values:` dump (AbstractConfig logs one per client it creates)."""
    blocks = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if f"{kind} values:" not in line:
            continue
        values: dict[str, str] = {}
        for follow in lines[i + 1:]:
            if not follow.startswith("\t"):
                break
            key, sep, value = follow.strip().partition(" = ")
            if sep:
                values[key] = value
        blocks.append(values)
    return blocks


def effective_client_configs(log_file: Path) -> dict[str, object]:
    """What the mirroring clients really ran with, from MirrorMaker's INFO log.

    Producers: the source tasks' (Connect names them `connector-producer-<connector>-<task>`).
    Consumers: the tasks' source consumers (MM2 names them `...replication-consumer`).
    """
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return {"verified": False, "why": f"no log at {log_file}"}
    producers = [b for b in _config_blocks(text, "ProducerConfig")
                 if b.get("client.id", "").startswith("connector-producer-MirrorSourceConnector")]
    consumers = [b for b in _config_blocks(text, "ConsumerConfig")
                 if "replication-consumer" in b.get("client.id", "")]

    def summary(blocks: list[dict[str, str]], keys: tuple[str, ...]) -> dict[str, object]:
        out: dict[str, object] = {"clients": len(blocks)}
        for key in keys:
            seen = sorted({b.get(key, "?") for b in blocks})
            out[key] = seen[0] if len(seen) == 1 else seen
        return out

    tasks = len(set(re.findall(r"MirrorSourceConnector-(\d+)", " ".join(b.get("client.id", "") for b in producers))))
    return {
        "verified": bool(producers and consumers),
        "tasks_seen": tasks,
        "producer": summary(producers, PRODUCER_KEYS),
        "consumer": summary(consumers, CONSUMER_KEYS),
    }
