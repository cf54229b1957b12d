"""A real two-node Slurm cluster on this machine, from nothing, in a temporary folder.

Each `slurmd` runs in its own network namespace (an address on a private bridge) and its own
UTS and mount namespaces (its host name; an /etc/hosts bind-mounted from the folder, so the
node names resolve there and nothing in /etc changes). `slurmctld` and `munged` run in the
root namespace with their own key, socket, state and logs in the folder. `stop()` ends every
process by its pid and removes the namespaces, the bridge and the folder.

The slurmds are started with `nsenter --net=...` rather than `ip netns exec`, which remounts
/sys and so hides the cgroup file system that slurmd looks up at start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NODE_NUMBERS = (9, 10)  # node9, node10: Slurm's order, not the string order of TF's resolver


def missing() -> str | None:
    """Why this machine cannot run the cluster, or None."""
    if os.geteuid() != 0:
        return "the Slurm cluster tests need root (network namespaces, slurmd)"
    for tool in ("slurmctld", "slurmd", "srun", "sbatch", "scontrol", "munged", "nsenter", "unshare", "ip"):
        if shutil.which(tool) is None:
            return (f"{tool} is not installed: apt-get install -y slurmctld slurmd slurm-client munge "
                    "(.ci/run does)")
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)


class SlurmCluster:
    """Start with `start()`, always `stop()`; `env` has SLURM_CONF for srun/sbatch/scontrol."""

    def __init__(self) -> None:
        self.tag = f"zs{os.getpid() % 100000}"
        self.subnet = f"10.213.{os.getpid() % 250}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))  # short: unix socket paths <= 107
        self.dir.chmod(0o755)  # munged wants its socket's folder searchable by all
        self.nodes = [f"{self.tag}n{n}" for n in NODE_NUMBERS]
        self.addresses = [f"{self.subnet}.{2 + i}" for i in range(len(self.nodes))]
        self.procs: list[subprocess.Popen] = []
        self.netns: list[str] = []
        self.links: list[str] = []
        self.conf = self.dir / "slurm.conf"
        self.made = [p for p in (Path("/run/netns"), Path("/run/mount")) if not p.exists()]  # to remove
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        for name in list(self.env):
            if name.startswith(("SLURM_", "SBATCH_", "SRUN_")) and name != "SLURM_CONF":
                del self.env[name]

    # --- bringing it up -------------------------------------------------------------------
    def start(self, timeout: float = 60) -> SlurmCluster:
        self._network()
        self._munge()
        self._config()
        self._daemon(["slurmctld", "-D", "-i", "-f", str(self.conf)], "slurmctld")
        for node, netns in zip(self.nodes, self.netns, strict=True):
            inner = (f"hostname {node} && mount -n --bind {self.dir}/hosts /etc/hosts && "
                     f"exec slurmd -D -N {node} -f {self.conf}")
            self._daemon(["nsenter", f"--net=/var/run/netns/{netns}", "unshare", "--uts", "--mount",
                          "--propagation", "private", "sh", "-c", inner], f"slurmd-{node}")
        self._wait_idle(timeout)
        return self

    def _network(self) -> None:
        bridge = f"{self.tag}br"
        _ip("link", "add", bridge, "type", "bridge")
        self.links.append(bridge)
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, address in enumerate(self.addresses):
            netns, outer = f"{self.tag}ns{i}", f"{self.tag}v{i}"
            _ip("netns", "add", netns)
            self.netns.append(netns)
            _ip("link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", netns)
            self.links.append(outer)
            _ip("link", "set", outer, "master", bridge, "up")
            _ip("addr", "add", f"{address}/24", "dev", "eth0", netns=netns)
            for link in ("lo", "eth0"):
                _ip("link", "set", link, "up", netns=netns)
            _ip("route", "add", "default", "via", f"{self.subnet}.1", netns=netns)  # srun's address
        hosts = Path("/etc/hosts").read_text()
        names = "".join(f"{a} {n}\n" for a, n in zip(self.addresses, self.nodes, strict=True))
        (self.dir / "hosts").write_text(hosts + f"{self.subnet}.1 {self.tag}ctl\n" + names)

    def _munge(self) -> None:
        key = self.dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.munge_socket = self.dir / "munge.sock"
        self._daemon(["munged", "-F", "-f", f"--socket={self.munge_socket}", f"--key-file={key}",
                      f"--pid-file={self.dir}/munged.pid", f"--log-file={self.dir}/munged.log",
                      f"--seed-file={self.dir}/munged.seed"], "munged")
        deadline = time.monotonic() + 10
        while not self.munge_socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("munged did not start: " + self.log("munged"))
            time.sleep(0.05)

    def _config(self) -> None:
        d = self.dir
        (d / "state").mkdir()
        (d / "plugstack.conf").write_text("")
        nodes = "\n".join(f"NodeName={n} NodeAddr={a} NodeHostname={n} CPUs={os.cpu_count()} State=UNKNOWN"
                          for n, a in zip(self.nodes, self.addresses, strict=True))
        self.conf.write_text(f"""\
ClusterName={self.tag}
SlurmctldHost={socket.gethostname().split(".")[0]}({self.subnet}.1)
MailProg=/bin/true
SlurmctldPort={_free_port()}
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool-%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
PlugStackConfig={d}/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
MpiDefault=none
MpiParams=ports=12000-12999
ReturnToService=2
KillWait=10
SlurmdTimeout=60
InactiveLimit=0
{nodes}
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
""")

    def _daemon(self, args: list[str], name: str) -> None:
        log = open(self.dir / f"{name}.out", "wb")  # noqa: SIM115 - closed with the process
        self.procs.append(subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True))
        log.close()

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}: " + self.logs())
            done = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env, capture_output=True,
                                  text=True)
            out = done.stdout
            states = dict(line.split() for line in out.splitlines() if line.strip())
            if len(states) == len(self.nodes) and all(s == "idle" for s in states.values()):
                return
            time.sleep(0.25)
        raise RuntimeError(f"the Slurm nodes did not become idle: {out!r}\n" + self.logs())

    # --- using it -------------------------------------------------------------------------
    def log(self, name: str) -> str:
        texts = []
        for path in sorted(self.dir.glob(f"{name}*")):
            if path.suffix in (".log", ".out"):
                texts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(texts)

    def logs(self) -> str:
        return "\n".join(self.log(n) for n in ("munged", "slurmctld", "slurmd"))

    def run(self, *args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              **kwargs)

    def job_state(self, job_id: str) -> str:
        out = self.run("scontrol", "show", "job", job_id).stdout
        for field in out.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return "UNKNOWN"

    def wait_job(self, job_id: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                         "PREEMPTED", "BOOT_FAIL", "DEADLINE"):
                return state
            time.sleep(0.5)
        self.run("scancel", job_id)
        raise AssertionError(f"job {job_id} did not end within {timeout:.0f} s ({state})")

    # --- tearing it down ------------------------------------------------------------------
    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run("scancel", "--full", "--partition=main", timeout=10)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._kill_leftover_tasks()
        for netns in self.netns:
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True)
        for link in self.links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self._remove_run_folders()

    def _remove_run_folders(self) -> None:
        """/run/netns (which `ip netns add` makes and bind-mounts) and /run/mount, if this cluster
        made them and nobody else put a namespace there meanwhile."""
        for path in self.made:
            if path.is_dir() and not any(path.iterdir()):
                subprocess.run(["umount", "-n", str(path)], capture_output=True)  # a bind mount onto itself
                with contextlib.suppress(OSError):
                    path.rmdir()

    def _kill_leftover_tasks(self) -> None:
        """Any process still in one of our namespaces (a job step that outlived its slurmd)."""
        for netns in self.netns:
            done = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
            for pid in done.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
