"""Find Java and Maven, and fetch the Apache Kafka jars from Maven Central once.

The jars land in a cache folder outside the work tree so every test run, CI job
and `clusterlink sandbox up` reuses them. Maven resolves them only when the folder
is missing or was written for another Kafka version.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import platformdirs

# The one place the Kafka version is pinned; pom.xml receives it as -Dkafka.version.
KAFKA_VERSION = "4.1.1"
MIN_JAVA_MAJOR = 17
LIBS_CACHE_ENV = "CLUSTERLINK_KAFKA_LIBS_CACHE"
COMPLETE_MARKER = ".clusterlink-complete"
MVN_TIMEOUT_S = 900.0
# Artifacts whose <name>-<version>.jar must be in a folder for it to count as complete.
SANDBOX_JARS = ("kafka_2.13", "kafka-tools")


class SandboxError(RuntimeError):
    """A local Kafka could not be prepared, started or stopped; the message says what to do."""


def default_libs_dir() -> Path:
    """Where the jars live unless the caller or CLUSTERLINK_KAFKA_LIBS_CACHE says otherwise."""
    override = os.environ.get(LIBS_CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("clusterlink")) / f"kafka-{KAFKA_VERSION}" / "libs"


def find_java() -> str:
    """Path of a Java 17+ executable: $JAVA_HOME/bin/java if JAVA_HOME is set, else `java` on PATH."""
    java = _locate_java()
    major = _java_major_version(java)
    if major < MIN_JAVA_MAJOR:
        raise SandboxError(
            f"Java {MIN_JAVA_MAJOR} or newer is needed to run Kafka {KAFKA_VERSION}, "
            f"but {java} is Java {major}; install a newer JDK and point JAVA_HOME at it."
        )
    return java


def find_mvn() -> str:
    """Path of the `mvn` executable, needed only the first time the jars are fetched."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SandboxError(
            "Maven (`mvn`) is needed once to download the Kafka jars from Maven Central but "
            "was not found on PATH; install Maven 3.8+ (e.g. `apt-get install maven`) or set "
            f"{LIBS_CACHE_ENV} to a folder that already holds the Kafka {KAFKA_VERSION} jars."
        )
    return mvn


def ensure_jars(
    cache_dir: Path | None = None,
    *,
    pom: Path | None = None,
    required: Sequence[str] = SANDBOX_JARS,
) -> Path:
    """Return a folder holding every Kafka jar (use as `-cp 'DIR/*'`), fetching it once.

    `cache_dir` (or $CLUSTERLINK_KAFKA_LIBS_CACHE) is the folder itself; by default
    `<user cache>/clusterlink/kafka-<version>/libs`.

    `pom` and `required` let another jar set (e.g. the benchmark's MirrorMaker 2) use
    the same cache logic in a folder of its own: `pom` replaces the sandbox's pom.xml
    (it receives -Dkafka.version too) and `required` names the artifacts whose
    `<name>-<version>.jar` must be present.
    """
    libs = Path(cache_dir) if cache_dir is not None else default_libs_dir()
    if _is_complete(libs, required):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Parallel test workers may all find the cache empty: one resolves, the others wait
    # on the lock and then see the finished folder.
    with _file_lock(libs.parent / f".{libs.name}.lock"):
        if _is_complete(libs, required):
            return libs
        _resolve_atomically(libs, pom, required)
    return libs


def _locate_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
        raise SandboxError(
            f"JAVA_HOME is set to {java_home} but {candidate} is not an executable; "
            f"point JAVA_HOME at a Java {MIN_JAVA_MAJOR}+ installation or unset it."
        )
    java = shutil.which("java")
    if java is None:
        raise SandboxError(
            f"Java {MIN_JAVA_MAJOR} or newer is needed to run Kafka but `java` was not found on "
            "PATH and JAVA_HOME is not set; install a JDK (e.g. `apt-get install "
            "openjdk-17-jre-headless`) or set JAVA_HOME."
        )
    return java


def _java_major_version(java: str) -> int:
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"could not run `{java} -version`: {exc}") from exc
    # `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` (or "1.8.0_392") on stderr.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        raise SandboxError(f"could not read the Java version from `{java} -version`: {done.stderr.strip()}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _has_jars(libs: Path, required: Sequence[str]) -> bool:
    return all((libs / f"{name}-{KAFKA_VERSION}.jar").is_file() for name in required)


def _is_complete(libs: Path, required: Sequence[str] = SANDBOX_JARS) -> bool:
    marker = _read_marker(libs)
    if marker is not None:
        return marker.get("kafka_version") == KAFKA_VERSION and _has_jars(libs, required)
    # A folder someone filled by hand (e.g. a Kafka release's libs/) is fine as it is.
    return _has_jars(libs, required)


def _read_marker(libs: Path) -> dict[str, object] | None:
    try:
        marker = json.loads((libs / COMPLETE_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _resolve_atomically(libs: Path, pom: Path | None = None, required: Sequence[str] = SANDBOX_JARS) -> None:
    """Resolve into a sibling temp folder, then rename: readers never see a half-filled folder."""
    if libs.exists() and _read_marker(libs) is None and any(libs.iterdir()):
        # Not written by us (ours always carry the marker): never delete someone's folder.
        raise SandboxError(
            f"{libs} exists but holds no Kafka {KAFKA_VERSION} jars ({', '.join(required)}); "
            f"empty it, or point {LIBS_CACHE_ENV} at another folder"
        )
    mvn = find_mvn()
    work = Path(tempfile.mkdtemp(prefix=f".{libs.name}.tmp-", dir=libs.parent))
    try:
        staged = work / "libs"
        _run_maven(mvn, work, staged, pom)
        jars = sorted(p.name for p in staged.glob("*.jar"))
        missing = [name for name in required if f"{name}-{KAFKA_VERSION}.jar" not in jars]
        if missing:
            raise SandboxError(f"Maven finished but no {', '.join(missing)} jar appeared in {staged}")
        (staged / COMPLETE_MARKER).write_text(
            json.dumps({"kafka_version": KAFKA_VERSION, "jars": jars}, indent=1)
        )
        if libs.exists():
            # A stale or half-written folder from an older version or a crash: move it
            # into the temp folder (one rename) so it is removed with it.
            libs.rename(work / "stale")
        staged.rename(libs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_maven(mvn: str, work: Path, output: Path, pom: Path | None = None) -> None:
    source = pom if pom is not None else resources.files("clusterlink.sandbox").joinpath("pom.xml")
    # A copy in the temp folder keeps Maven from writing anything next to the package.
    (work / "pom.xml").write_bytes(source.read_bytes())
    cmd = [
        mvn, "-q", "-B", "-Dstyle.color=never",
        f"-Dkafka.version={KAFKA_VERSION}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output}",
        "-DincludeScope=runtime",
    ]
    try:
        done = subprocess.run(
            cmd, cwd=work, capture_output=True, text=True, timeout=MVN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"Maven did not finish fetching the Kafka jars within {MVN_TIMEOUT_S:.0f}s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise SandboxError(
            f"Maven could not fetch the Kafka {KAFKA_VERSION} jars from Maven Central "
            f"(exit {done.returncode}); is the network up?\n{tail}"
        )
