"""Kafka client settings passed through to every client: SASL, SSL and anything else Kafka takes.

`--kafka-config key=value` (repeatable) and `--kafka-config-file FILE` (a Java properties file, as
Kafka's own tools take) use Kafka's Java names. KafkaIO gets them as they are. The Python clients
(`spectator produce`, the topic checks, the offset commit after a bounded read) are kafka-python,
which takes a subset under other names; `python_client_args` translates it and refuses what it
cannot translate, rather than connect without the security asked for.
"""

from __future__ import annotations

import re

from spectator.core.errors import UsageError

# Set from their own flags. Auto-commit must stay off: a commit before the sessions are written
# would lose them on a failure.
RESERVED = {
    "bootstrap.servers": "--bootstrap-servers",
    "group.id": "--consumer-group",
    "enable.auto.commit": "(offsets are committed on checkpoints, or after a bounded run)",
}
SECRET_KEY = re.compile(r"password|secret|jaas|token|\.key$", re.IGNORECASE)
JAAS_FIELD = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')
PYTHON_SASL = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}


def read_properties(path: str) -> dict[str, str]:
    """`key=value` or `key: value` lines; `#` and `!` start comments; a trailing `\\` continues a line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read Kafka config file {path}: {e.strerror}") from None
    pairs, pending = {}, ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:]?\s*(.*)", line)
        key, value = match.groups() if match else (line, "")
        pairs[key] = value
    return pairs


def kafka_config(pairs: list[str] | None, files: list[str] | None) -> dict[str, str]:
    """The files in order, then the `key=value` pairs over them."""
    config: dict[str, str] = {}
    for path in files or []:
        config.update(read_properties(path))
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError("--kafka-config takes key=value; one of them has no key")
        config[key.strip()] = value.strip()
    clash = sorted(config.keys() & RESERVED.keys())
    if clash:
        raise UsageError(f"--kafka-config cannot set {clash[0]}: it comes from {RESERVED[clash[0]]}")
    return config


def redact_pair(pair: str) -> str:
    key, sep, _ = pair.partition("=")
    return f"{key}=***" if sep and SECRET_KEY.search(key) else pair


def python_client_args(config: dict[str, str]) -> dict[str, object]:
    """kafka-python keyword arguments for the security settings in `config`."""
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    args: dict[str, object] = {"security_protocol": protocol}
    if "SSL" in protocol:
        args.update(_ssl_args(config))
    if "SASL" in protocol:
        mechanism = config.get("sasl.mechanism", "GSSAPI").upper()
        if mechanism not in PYTHON_SASL:
            speak = ", ".join(sorted(PYTHON_SASL))
            raise UsageError(f"sasl.mechanism {mechanism}: spectator's Python clients speak {speak}")
        fields = dict(JAAS_FIELD.findall(config.get("sasl.jaas.config", "")))
        if "username" not in fields or "password" not in fields:
            raise UsageError('SASL needs sasl.jaas.config with username="..." and password="..."')
        args.update(sasl_mechanism=mechanism, sasl_plain_username=fields["username"])
        args["sasl_plain_password"] = fields["password"]
    return args


def _ssl_args(config: dict[str, str]) -> dict[str, object]:
    args: dict[str, object] = {}
    for store in ("truststore", "keystore"):
        location = config.get(f"ssl.{store}.location")
        if location and config.get(f"ssl.{store}.type", "JKS").upper() != "PEM":
            raise UsageError(f"ssl.{store}.location: spectator's Python clients read PEM; set ssl.{store}.type=PEM")
        if location and store == "truststore":
            args["ssl_cafile"] = location
        elif location:  # a PEM keystore holds the certificate chain and the private key
            args.update(ssl_certfile=location, ssl_keyfile=location, ssl_password=config.get("ssl.key.password"))
    if config.get("ssl.endpoint.identification.algorithm", "https") == "":
        args["ssl_check_hostname"] = False
    return args


def add_kafka_config_args(parser) -> None:
    parser.add_argument(
        "--kafka_config",
        "--kafka-config",
        action="append",
        metavar="KEY=VALUE",
        help="a Kafka client setting, by its Java name (security.protocol=SASL_SSL, sasl.jaas.config=...); "
        "repeatable, over --kafka-config-file",
    )
    parser.add_argument(
        "--kafka_config_file",
        "--kafka-config-file",
        action="append",
        metavar="FILE",
        help="a Java properties file of Kafka client settings (SASL, SSL), as Kafka's own tools take",
    )
