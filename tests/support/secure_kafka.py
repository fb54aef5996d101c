"""A second, throwaway Kafka broker on loopback that only speaks SASL (PLAIN) and SSL.

It runs from the jars that scripts/kafka.sh fetched (SPECTATOR_KAFKA_CLASSPATH): a KRaft node
with a SASL_PLAINTEXT listener (user `spectator`), an SSL listener (a self-signed certificate for
127.0.0.1), and a plaintext controller listener that clients cannot use for data.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_ports

USER, PASSWORD = "spectator", "k4fka-s3cret"
JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="{}" password="{}";'


@dataclass
class SecureBroker:
    sasl: str  # host:port of the SASL_PLAINTEXT listener
    ssl: str  # host:port of the SSL listener
    ca: Path  # the PEM certificate a client trusts

    def sasl_config(self, password: str = PASSWORD) -> list[str]:
        return [
            "security.protocol=SASL_PLAINTEXT",
            "sasl.mechanism=PLAIN",
            "sasl.jaas.config=" + JAAS.format(USER, password),
        ]

    def ssl_config(self) -> list[str]:
        return ["security.protocol=SSL", "ssl.truststore.type=PEM", f"ssl.truststore.location={self.ca}"]


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def secure_broker(folder: Path):
    classpath = os.environ.get("SPECTATOR_KAFKA_CLASSPATH")
    if not classpath:
        raise RuntimeError('SPECTATOR_KAFKA_CLASSPATH is not set: eval "$(scripts/kafka.sh env)"')
    cert, key = self_signed(folder)
    keystore = folder / "keystore.pem"  # Kafka's PEM keystore: the private key, then the certificate
    keystore.write_text(key.read_text() + cert.read_text())
    sasl, ssl, controller = free_ports(3)
    props = folder / "server.properties"
    props.write_text(
        f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=SASL_PLAINTEXT://127.0.0.1:{sasl},SSL://127.0.0.1:{ssl},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{sasl},SSL://127.0.0.1:{ssl}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
required username="admin" password="admin-pw" user_admin="admin-pw" user_{USER}="{PASSWORD}";
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
log.dirs={folder / "data"}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.ms=-1
"""
    )
    log4j = folder / "log4j.properties"
    log4j.write_text(
        "log4j.rootLogger=INFO, out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.out.layout=org.apache.log4j.PatternLayout\n"
    )
    java = [shutil.which("java"), "-Xmx256m", f"-Dlog4j.configuration=file:{log4j}", "-cp", classpath]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    # As one word: one id in 64 starts with "-", and `-t ID` then reads as a missing argument.
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props)],
        check=True, capture_output=True,
    )  # fmt: skip
    log = open(folder / "broker.log", "wb")
    broker = subprocess.Popen([*java, "kafka.Kafka", str(props)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while b"Kafka Server started" not in (folder / "broker.log").read_bytes():
            if broker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the secured broker did not start: {(folder / 'broker.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield SecureBroker(f"127.0.0.1:{sasl}", f"127.0.0.1:{ssl}", cert)
    finally:
        broker.terminate()
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        log.close()
