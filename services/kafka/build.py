"""The jars Kafka needs, fetched once into the cache: the broker's, and the KafkaIO expansion service.

Cache layout:
  $CACHE/kafka/<kafka version>/libs/*.jar              kafka_2.13 and its runtime dependencies
  $CACHE/jars/beam-kafka-expansion-service-<beam>.jar   launcher jar (Main-Class + Class-Path)
  $CACHE/jars/beam-kafka-expansion-service-<beam>-libs/ what its Class-Path points at
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from services.base import ROOT, ServiceError, beam_version, cache_dir, digest, locked, mvn, run_quiet, say, stamped
from services.kafka import KAFKA_VERSION

HERE = ROOT / "services" / "kafka"


def kafka_libs() -> Path:
    return cache_dir() / "kafka" / KAFKA_VERSION / "libs"


def expansion_jar() -> Path:
    return cache_dir() / "jars" / f"beam-kafka-expansion-service-{beam_version()}.jar"


def fetch_kafka() -> Path:
    libs = kafka_libs()
    stamp = libs.parent / ".fetched"
    want = f"kafka_2.13 {KAFKA_VERSION} {digest(HERE / 'pom.xml')}"
    with locked("fetch"):
        if stamped(stamp, want):
            return libs
        say(f"fetching Apache Kafka {KAFKA_VERSION} (kafka_2.13 and its dependencies) from Maven Central")
        started, tmp = time.monotonic(), libs.parent / "libs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        mvn(HERE / "pom.xml", "dependency:copy-dependencies", f"-DoutputDirectory={tmp}", kafka_version=KAFKA_VERSION)
        if not (tmp / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
            raise ServiceError(f"kafka_2.13-{KAFKA_VERSION}.jar missing after the fetch")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        stamp.write_text(want + "\n")
        took = time.monotonic() - started
        say(f"Kafka {KAFKA_VERSION}: {len(list(libs.glob('*.jar')))} jars in {libs} ({took:.0f} s)")
    return libs


def fetch_expansion_service() -> Path:
    """Beam's Python SDK would download org.apache.beam:beam-sdks-java-io-expansion-service, a shaded
    jar that Maven Central does not serve for 2.70.0. Its build is only :sdks:java:expansion-service +
    :sdks:java:io:kafka + kafka-clients + slf4j-jdk14, so this assembles the same from those artifacts:
    their jars in a -libs folder, and a launcher jar whose manifest names them in Class-Path (relative,
    so the pair can move) and whose Main-Class is Beam's ExpansionService main bound to 127.0.0.1."""
    jar, beam = expansion_jar(), beam_version()
    name, source = jar.stem, HERE / "expansion-service"
    libs, stamp = jar.parent / f"{name}-libs", jar.parent / f".{name}.fetched"
    java_source = source / "src" / "LocalExpansionService.java"
    want = f"{name} kafka-clients-{KAFKA_VERSION} {digest(source / 'pom.xml', java_source)}"
    with locked("fetch"):
        if jar.exists() and stamped(stamp, want):
            return jar
        if not (shutil.which("javac") and shutil.which("jar")):
            raise ServiceError("javac and jar are needed (a JDK 17: apt-get install openjdk-17-jdk-headless)")
        say(f"fetching the Beam {beam} KafkaIO expansion service (expansion-service + io-kafka) from Maven Central")
        started, tmp = time.monotonic(), jar.parent / f"{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "classes").mkdir(parents=True)
        mvn(source / "pom.xml", "dependency:copy-dependencies", f"-DoutputDirectory={tmp / 'libs'}",
            beam_version=beam, kafka_version=KAFKA_VERSION)  # fmt: skip
        javac = ["javac", "-nowarn", "--release", "17", "-d", tmp / "classes", "-cp", f"{tmp / 'libs'}/*"]
        run_quiet([*javac, java_source], "compiling LocalExpansionService.java")
        # Manifest continuation lines start with one space; the second space separates the entries.
        entries = "".join(f"  {libs.name}/{lib.name}\n" for lib in sorted((tmp / "libs").glob("*.jar")))
        (tmp / "MANIFEST.MF").write_text(
            "Manifest-Version: 1.0\n"
            "Main-Class: spectator.services.LocalExpansionService\n"
            f"Implementation-Title: Beam {beam} KafkaIO expansion service (kafka-clients {KAFKA_VERSION})\n"
            f"Class-Path:{entries}"
        )
        jar_tool = ["jar", "--create", "--file", tmp / jar.name, "--manifest", tmp / "MANIFEST.MF"]
        run_quiet([*jar_tool, "-C", tmp / "classes", "."], "jar --create")
        shutil.rmtree(libs, ignore_errors=True)
        jar.unlink(missing_ok=True)
        (tmp / "libs").rename(libs)
        (tmp / jar.name).rename(jar)
        shutil.rmtree(tmp)
        stamp.write_text(want + "\n")
        say(f"expansion service: {jar} (+ {len(list(libs.glob('*.jar')))} jars, {time.monotonic() - started:.0f} s)")
    return jar
