"""Kafka SASL and SSL passed through to every client (produce, the topic check, KafkaIO on Direct
and on Flink, the offset commit) against a broker that requires them; the password never shown."""

import json
import os
import re
import time
import uuid
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient

from spectator.cli import main
from spectator.core.errors import UsageError
from spectator.io.kafka.config import kafka_config, python_client_args, redact_pair
from spectator.io.redis.store import SessionStore
from tests.support.data import GAP_S, PANE_FIELDS, edge_case_events
from tests.support.redis import export
from tests.support.reference import reference_sessions
from tests.support.secure_kafka import PASSWORD, secure_broker
from tests.support.streams import cancel_active, flink_run, group_name, wait_until

JAR = os.environ.get("SPECTATOR_EXPANSION_JAR", "")


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    with secure_broker(tmp_path_factory.mktemp("kafka-secure")) as broker:
        yield broker


def flags(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--kafka-config", pair)]


def produce_lines(tmp_path: Path, bootstrap: str, topic: str, lines: list[str], config: list[str]) -> int:
    path = tmp_path / f"{topic}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["produce", "--bootstrap-servers", bootstrap, "--topic", topic, "--partitions", "2", "--input", str(path)]
    return main([*argv, *config])


def committed(bootstrap: str, pairs: list[str], group: str) -> int:
    config = dict(pair.split("=", 1) for pair in pairs)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **python_client_args(config))
    try:
        return sum(meta.offset for meta in admin.list_group_offsets({group: None})[group].values())
    finally:
        admin.close()


@pytest.mark.parametrize("listener", ["sasl", "ssl"])
def test_direct_run_reads_a_secured_broker(listener, secured, tmp_path, redis_url, capsys):
    bootstrap, pairs = (
        (secured.sasl, secured.sasl_config()) if listener == "sasl" else (secured.ssl, secured.ssl_config())
    )
    # One way in through a properties file, the other through flags.
    if listener == "ssl":
        (tmp_path / "client.properties").write_text("# Kafka client settings\n" + "\n".join(pairs) + "\n")
        config = ["--kafka-config-file", str(tmp_path / "client.properties")]
    else:
        config = flags(pairs)
    topic, group = f"secure-{uuid.uuid4().hex[:8]}", group_name()
    events = edge_case_events(seed=5)
    assert produce_lines(tmp_path, bootstrap, topic, [json.dumps(e) for e in events], config) == 0
    argv = ["run", "--bootstrap-servers", bootstrap, "--topic", topic, "--consumer-group", group, "--redis-url",
            redis_url, "--gap-seconds", str(GAP_S), "--bot-threshold", "50", "--expansion-service", JAR,
            "--max-read-time-seconds", "3", *config]  # fmt: skip
    assert main(argv) == 0
    assert PASSWORD not in "".join(capsys.readouterr())
    got = [{k: v for k, v in r.items() if k not in PANE_FIELDS} for r in export(redis_url, capsys)]
    assert got == reference_sessions(events, GAP_S * 1000, bot_threshold=50)
    assert committed(bootstrap, pairs, group) == len(events)


@pytest.mark.parametrize(
    "config, error",
    [
        ([], "cannot reach Kafka at"),
        (["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN",
          'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="spectator" '
          'password="wrong-pw";'], "Authentication failed"),
    ],
    ids=["no-credentials", "wrong-password"],
)  # fmt: skip
def test_refused_credentials_are_one_line(config, error, secured, tmp_path, capsys):
    assert produce_lines(tmp_path, secured.sasl, "t", ["{}"], flags(config)) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "wrong-pw" not in err
    # kafka-python 3.0.12 drops the bytes of a read that ends in EOF (kafka/net/transport.py
    # _read_from_sock): when the broker's refusal and its close arrive together, as on a loaded
    # machine, the client sees only a closed socket and gives up bootstrapping.
    assert error in err or (config and "cannot reach Kafka at" in err), err


def test_flink_job_reads_over_sasl_without_showing_the_password(secured, rest, redis_url, tmp_path, capsys):
    topic, group = f"secure-{uuid.uuid4().hex[:8]}", group_name()
    config = flags(secured.sasl_config())
    assert produce_lines(tmp_path, secured.sasl, topic, [], config) == 0  # creates the topic
    job = flink_run(capsys, topic, redis_url, group, "--bootstrap-servers", secured.sasl, *config)
    try:
        now = int(time.time() * 1000)
        lines = [json.dumps({"user_id": "sealed", "timestamp": now + i}) for i in range(3)]
        assert produce_lines(tmp_path, secured.sasl, topic, lines, config) == 0
        store = SessionStore(redis.Redis.from_url(redis_url))
        wait_until(lambda: store.top(1) == [("sealed", 3)], 90, "the session read over SASL")
        shown = json.dumps([rest.job(job), rest.get(f"/jobs/{job}/config")]) + capsys.readouterr().err
        # Beam hands list options to Flink's job configuration blank; its redacted form is tested offline.
        assert PASSWORD not in shown and '"kafkaConfig": ""' in shown
        logs = Path(os.environ["SPECTATOR_FLINK_CHECKPOINTS"]).parent / "log"
        for log in logs.iterdir():
            assert PASSWORD not in log.read_text(errors="replace"), log
    finally:
        cancel_active(rest, f"spectator-{group}")


def test_properties_file_and_flags(tmp_path):
    (tmp_path / "a.properties").write_text(
        "# comment\n! also a comment\nsecurity.protocol = SASL_SSL\nsasl.mechanism: SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n"
        '    username="u" password="p=w";\nssl.truststore.type=PEM\nssl.truststore.location=/ca.pem\n'
    )
    config = kafka_config(["sasl.mechanism=SCRAM-SHA-256", "client.id=x=y"], [str(tmp_path / "a.properties")])
    assert config["sasl.mechanism"] == "SCRAM-SHA-256" and config["client.id"] == "x=y"
    assert config["sasl.jaas.config"].endswith('required username="u" password="p=w";')
    assert python_client_args(config) == {
        "security_protocol": "SASL_SSL",
        "ssl_cafile": "/ca.pem",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p=w",
    }
    assert redact_pair("ssl.key.password=abc") == "ssl.key.password=***" and redact_pair("acks=all") == "acks=all"


@pytest.mark.parametrize(
    "pairs, error",
    [
        (["group.id=g"], "cannot set group.id: it comes from --consumer-group"),
        (["bootstrap.servers=h:1"], "cannot set bootstrap.servers"),
        (["enable.auto.commit=true"], "cannot set enable.auto.commit"),
        (["no-equals-sign"], "takes key=value"),
        (["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=GSSAPI"], "sasl.mechanism GSSAPI"),
        (["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN"], 'sasl.jaas.config with username="..."'),
        (["security.protocol=SSL", "ssl.truststore.location=/t.jks"], "set ssl.truststore.type=PEM"),
    ],
)
def test_refused_settings(pairs, error):
    with pytest.raises(UsageError, match=re.escape(error)):
        python_client_args(kafka_config(pairs, None))


def test_missing_properties_file_is_a_usage_error(tmp_path, capsys):
    argv = ["produce", "--topic", "t", "--kafka-config-file", str(tmp_path / "nope.properties")]
    assert main(argv) == 2
    assert "cannot read Kafka config file" in capsys.readouterr().err
