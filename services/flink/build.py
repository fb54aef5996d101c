"""The one-time builds behind the Flink cluster: Flink itself, assembled from PyPI, and Beam's Flink
job server jar, built with Maven. Each is stamped, so a second run reuses it.

Flink comes from PyPI, not from a tarball: apache-flink-libraries holds flink-dist, lib/, opt/ and
plugins/, and the apache-flink wheel holds bin/ and conf/. Both are unpacked under
$SPECTATOR_CACHE/flink/<version>/ (never into the project venv: apache-flink pins an older
apache-beam).

The job server is the project's own shaded jar (services/flink/pom.xml): Maven Central serves no
beam-runners-flink-*-job-server artifact. It also goes into Flink's lib/ (see config.yaml.in).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from services.base import ROOT, ServiceError, beam_version, cache_dir, digest, locked, mvn, run_quiet, say, stamped
from services.kafka import KAFKA_VERSION

FLINK_VERSION = "1.19.3"  # apache-flink-libraries / apache-flink on PyPI, and the cluster
FLINK_MINOR = FLINK_VERSION.rsplit(".", 1)[0]
JOB_SERVICE_VERSION = "2.65.0"  # beam-runners-java-job-service: 2.70.0 is not served, 2.65.0 is
POM = ROOT / "services" / "flink" / "pom.xml"


def flink_home() -> Path:
    return cache_dir() / "flink" / FLINK_VERSION


def job_server_path() -> Path:
    return cache_dir() / "jars" / f"beam-flink-{FLINK_MINOR}-job-server-{beam_version()}.jar"


# ---------------------------------------------------------------- Flink from PyPI


def assemble() -> Path:
    """Downloads and unpacks Flink (once); returns FLINK_HOME."""
    home = flink_home()
    stamp = home / ".assembled"
    if stamped(stamp, FLINK_VERSION):
        return home
    with locked("flink-assemble"):
        if stamped(stamp, FLINK_VERSION):  # another run did it meanwhile
            return home
        say(f"assembling Flink {FLINK_VERSION} from PyPI into {home}")
        download = cache_dir() / "flink" / f"download-{FLINK_VERSION}"
        work = home.with_name(f"{home.name}.partial")
        sdist, wheel = _download(download)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        _unpack_libraries(sdist, work)
        _unpack_scripts(wheel, work)
        _check_assembled(work)
        shutil.rmtree(home, ignore_errors=True)
        work.rename(home)
        stamp.write_text(f"{FLINK_VERSION}\n")
        shutil.rmtree(download, ignore_errors=True)
        say(f"Flink {FLINK_VERSION} assembled in {home}")
    return home


def _download(dest: Path) -> tuple[Path, Path]:
    """The apache-flink-libraries sdist and the apache-flink wheel, fetched unless already there."""
    dest.mkdir(parents=True, exist_ok=True)
    sdist = dest / f"apache-flink-libraries-{FLINK_VERSION}.tar.gz"
    if not sdist.exists():
        _pip_download(dest, f"apache-flink-libraries=={FLINK_VERSION}")
    # apache-flink-libraries is an sdist only (230 MB); the wheel's bin/ and conf/ do not depend on
    # the platform, so fetch the CPython 3.11 x86_64 wheel whatever Python runs this.
    if not list(dest.glob(f"apache_flink-{FLINK_VERSION}-*.whl")):
        _pip_download(
            dest, "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--platform", "manylinux2014_x86_64", f"apache-flink=={FLINK_VERSION}",
        )  # fmt: skip
    return sdist, sorted(dest.glob(f"apache_flink-{FLINK_VERSION}-*.whl"))[0]


def _pip_download(dest: Path, *args: str) -> None:
    """Downloads without installing, with the venv's pip if there is one yet."""
    venv_pip = cache_dir() / "venv" / "bin" / "pip"
    pip = [str(venv_pip)] if os.access(venv_pip, os.X_OK) else [sys.executable, "-m", "pip"]
    cmd = [*pip, "download", "--quiet", "--disable-pip-version-check", "--no-deps", "-d", str(dest), *args]
    run_quiet(cmd, f"pip download {args[-1]}")


def _unpack_libraries(sdist: Path, work: Path) -> None:
    """The sdist's deps/ is a Flink distribution without bin/ and conf/: lib/ opt/ plugins/
    bin/bash-java-utils.jar. It goes to the top of `work`, with the LICENSE and NOTICE."""
    top = f"apache-flink-libraries-{FLINK_VERSION}"
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:  # one pass over the stream: extracting as it goes needs no seeking back
            parts = member.name.split("/")
            if parts[0] != top or len(parts) < 2:
                continue
            if parts[1] == "deps" and len(parts) > 2:
                member.name = "/".join(parts[2:])
            elif parts[1] in ("LICENSE", "NOTICE") and len(parts) == 2:
                member.name = parts[1]
            else:
                continue
            tar.extract(member, work, filter="data")


def _unpack_scripts(wheel: Path, work: Path) -> None:
    """bin/ and conf/ from the wheel's pyflink/, with the scripts made executable."""
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            for part in ("bin", "conf"):
                prefix = f"pyflink/{part}/"
                if name.startswith(prefix) and not name.endswith("/"):
                    dest = work / part / name[len(prefix) :]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(name) as src, open(dest, "wb") as dst:
                        shutil.copyfileobj(src, dst)
    for script in [*(work / "bin").glob("*.sh"), work / "bin" / "flink"]:
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _check_assembled(work: Path) -> None:
    expected = [work / "lib" / f"flink-dist-{FLINK_VERSION}.jar", work / "bin" / "bash-java-utils.jar"]
    if not all(path.is_file() for path in [*expected, work / "bin" / "jobmanager.sh"]):
        raise ServiceError(f"the Flink packages did not hold the expected files (see {work})")


# ---------------------------------------------------------------- the job server jar


def build_job_server() -> Path:
    """Builds Beam's Flink job server jar with Maven (once); returns its path."""
    jar = job_server_path()
    stamp = jar.with_name(f"{jar.name}.built")
    want = _job_server_want()
    if _built(jar, stamp, want):
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    with locked("flink-job-server"):
        if _built(jar, stamp, want):  # another run built it meanwhile
            return jar
        say(
            f"building Beam's Flink job server ({beam_version()}, Flink {FLINK_VERSION}) with Maven; "
            "the first build downloads about 200 MB"
        )
        started = time.monotonic()
        build = cache_dir() / "build" / "flink-job-server"
        shutil.rmtree(build, ignore_errors=True)
        try:
            mvn(
                POM, "package", build_dir=str(build), beam_version=beam_version(),
                job_service_version=JOB_SERVICE_VERSION, flink_version=FLINK_VERSION, kafka_version=KAFKA_VERSION,
            )  # fmt: skip
        except ServiceError as failed:
            output = str(failed).partition("\n")[2]
            raise ServiceError(f"building the Flink job server failed (mvn package -f {POM}):\n{output}") from None
        (build / "beam-flink-job-server-1.jar").replace(jar)
        shutil.rmtree(build, ignore_errors=True)
        stamp.write_text(f"{want}\n")
        say(f"job server: {jar} ({time.monotonic() - started:.0f} s)")
    return jar


def _job_server_want() -> str:
    """What the jar is built from: the versions and the digest of its sources (the stamp's content)."""
    sources = [
        POM,
        *sorted((ROOT / "services" / "flink" / "src").glob("*.java")),
        *sorted((ROOT / "services" / "kafka" / "expansion-service" / "src").glob("*.java")),
    ]
    return f"{beam_version()} {JOB_SERVICE_VERSION} {FLINK_VERSION} {digest(*sources)}"


def _built(jar: Path, stamp: Path, want: str) -> bool:
    return jar.is_file() and jar.stat().st_size > 0 and stamped(stamp, want)
