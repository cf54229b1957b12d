"""Run N `zoo train strategy=multi_worker` processes on loopback, each with its own TF_CONFIG.

Every worker's output is streamed with a `[worker i]` prefix; when one worker fails (or the
time limit passes) the launcher stops the whole process group of every other worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from zoo.core.errors import ZooError


def free_ports(n: int) -> list[int]:
    """`n` distinct free TCP ports on loopback (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_configs(n: int, ports: Sequence[int] | None = None) -> list[dict]:
    """One `TF_CONFIG` per worker of an `n`-worker cluster on 127.0.0.1."""
    hosts = [f"127.0.0.1:{p}" for p in (ports or free_ports(n))]
    return [{"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}} for i in range(n)]


def shared_run_dir(overrides: Sequence[str]) -> list[str]:
    """Pin one run folder for all workers (each would otherwise stamp its own start time)."""
    if any(o.startswith("hydra.run.dir=") for o in overrides):
        return list(overrides)
    stamp = datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
    return [*overrides, f"hydra.run.dir=outputs/{stamp}"]


def _stream(prefix: str, source: TextIO, sink: TextIO) -> None:
    for line in source:
        sink.write(f"{prefix} {line}")
        sink.flush()


def _stop(procs: list[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM every live worker's process group, then SIGKILL what is left after `grace`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        live = [p for p in procs if p.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
        deadline = time.monotonic() + grace
        while any(p.poll() is None for p in live) and time.monotonic() < deadline:
            time.sleep(0.1)


def start_workers(n: int, overrides: Sequence[str], env: dict | None = None) -> list[subprocess.Popen]:
    """Start `n` training workers, each in its own process group with its own TF_CONFIG."""
    if n < 1:
        raise ZooError(f"workers={n}: expected a number of worker processes >= 1")
    args = [sys.executable, "-m", "zoo.cli.main", "train", "strategy=multi_worker",
            *shared_run_dir(overrides)]
    procs = []
    for config in cluster_configs(n):
        worker_env = {**os.environ, **(env or {}), "TF_CONFIG": json.dumps(config),
                      "PYTHONUNBUFFERED": "1"}
        procs.append(subprocess.Popen(args, env=worker_env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, start_new_session=True))
    return procs


def launch(n: int, overrides: Sequence[str], timeout: float = 3600, sink: TextIO | None = None) -> int:
    """Run an `n`-worker cluster to the end; returns 0, or the exit code of the first failure."""
    sink = sink or sys.stdout
    procs = start_workers(n, overrides)
    threads = [threading.Thread(target=_stream, args=(f"[worker {i}]", p.stdout, sink), daemon=True)
               for i, p in enumerate(procs)]
    for t in threads:
        t.start()
    sink.write(f"[launch] {n} worker(s), pids " + " ".join(str(p.pid) for p in procs) + "\n")
    sink.flush()
    deadline = time.monotonic() + timeout
    code = 0
    try:
        while any(p.poll() is None for p in procs):
            failed = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode not in (None, 0)]
            if failed:
                i, code = failed[0]
                sink.write(f"[launch] worker {i} exited with code {code}: stopping the others\n")
                break
            if time.monotonic() > deadline:
                sink.write(f"[launch] time limit of {timeout:.0f} s passed: stopping all workers\n")
                code = 124
                break
            time.sleep(0.2)
    finally:
        _stop(procs)
        for t in threads:
            t.join(timeout=5)
    if code == 0:
        failed = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode != 0]
        if failed:
            i, code = failed[0]
            sink.write(f"[launch] worker {i} exited with code {code}: stopping the others\n")
    return code if code >= 0 else 128 - code
