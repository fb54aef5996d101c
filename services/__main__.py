"""python3 -m services: the local services on 127.0.0.1, stopping only what these scripts started.

  up|down|status [redis] [redis-cluster] [kafka] [kafka-cluster] [flink]
        default: redis and kafka; when named, a Redis Cluster (3 masters, 3 replicas), a Kafka
        cluster (3 brokers) and Flink (a JobManager, a TaskManager, Beam's job server, the KafkaIO
        expansion service and the Python worker pool)
  env [redis] [redis-cluster] [kafka] [kafka-cluster] [flink]   shell exports: eval "$(... env)"
  redis|redis-cluster|kafka-cluster up|down|status|env
  kafka up|down|status|env|reset|fetch|jar|logs [N]
  flink up|down [PIECE...]|status|env|logs [PIECE] [N]|jar|assemble

scripts/services.sh, scripts/kafka.sh and scripts/flink.sh call this; the settings are environment
variables, listed in docs/kafka.md and docs/flink.md.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable

from services import SERVICES, environment
from services.base import ServiceError
from services.flink.cluster import FlinkCluster
from services.kafka.broker import KafkaBroker
from services.kafka.build import fetch_expansion_service, fetch_kafka

ACTIONS = ("up", "down", "status", "env")


def all_services(action: str, names: list[str]) -> None:
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        names_usage = " ".join(f"[{name}]" for name in SERVICES)
        raise SystemExit(f"usage: python3 -m services {'|'.join(ACTIONS)} {names_usage} (not {unknown[0]!r})")
    names = names or ["redis", "kafka"]
    if action == "env":
        if "kafka" in names:
            fetch_expansion_service()  # the jar that `spectator validate` needs offline, broker or not
        print("".join(f"export {key}={shlex.quote(value)}\n" for key, value in environment(*names).items()), end="")
        return
    if action == "down":
        names.reverse()  # Flink's jobs read Kafka and write Redis: stop them first
    for name in names:
        service = SERVICES[name]()
        if action == "status":
            print(service.status())
        else:
            getattr(service, action)()


def one_service(name: str, args: list[str]) -> None:
    action, rest = (args[0], args[1:]) if args else ("status", [])
    commands: dict[str, Callable[[], object]] = {
        "redis": {},
        "redis-cluster": {},
        "kafka-cluster": {},
        "kafka": {
            "reset": lambda: KafkaBroker().reset(),
            "fetch": lambda: (fetch_kafka(), fetch_expansion_service()),
            "jar": lambda: print(fetch_expansion_service()),
            "logs": lambda: print(KafkaBroker().log_tail(int(rest[0]) if rest else 50)),
        },
        "flink": {
            "down": lambda: FlinkCluster().down(*rest),
            "logs": lambda: print(FlinkCluster().logs(*rest[:1], *(int(n) for n in rest[1:2]))),
            "jar": lambda: print(FlinkCluster().job_server_jar()),
            "assemble": lambda: print(FlinkCluster().assemble()),
        },
    }[name]
    if action in commands:
        commands[action]()
    elif action in ACTIONS and not rest:
        all_services(action, [name])
    else:
        raise SystemExit(f"usage: {name} {'|'.join([*ACTIONS, *commands])} (see python3 -m services --help)")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__, file=sys.stderr)
        return 0 if argv else 2
    try:
        if argv[0] in SERVICES:
            one_service(argv[0], argv[1:])
        elif argv[0] in ACTIONS:
            all_services(argv[0], argv[1:])
        else:
            raise SystemExit(f"unknown command {argv[0]!r}; see python3 -m services --help")
    except ServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
