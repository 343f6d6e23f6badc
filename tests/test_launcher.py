"""The on-prem launcher path, executed for real: `ray up` → `ray submit` ×2 → `ray down` with
cluster-local.yaml over SSH, a head and a worker on two loopback addresses of this machine.

Nothing is simulated: an sshd of the test's own (its own config, host key, authorized-keys
file and pid file; listening on 127.0.0.2:22 and 127.0.0.3:22 only) takes the launcher's and
the head's autoscaler's SSH connections, rsync copies the project, the config's setup commands
build each node's venv, and the study runs the way `ray submit` runs it. The test changes only
the addresses and the SSH user and key in a copy of cluster-local.yaml, and checks that both
nodes trained bundles, that Ray on each node runs on that node's venv, and that the second
submit reuses everything.

Isolation on a shared machine:
- sshd and every launcher command run in network, PID and mount namespaces of their own
  (`unshare`; the launcher's commands enter them with `nsenter`): the network has only a
  loopback interface, so nothing can reach an address outside 127.0.0.0/8, port 22 is free
  whatever this machine runs, and Ray's ports cannot clash with another Ray here. `ray stop`
  (which the head's start commands and `ray down` run, and which stops every Ray process it
  can see) sees only this cluster's processes; stopping sshd (PID 1 there) ends all of them.
- Each node has its own HOME and TMPDIR (sshd `SetEnv` per listening address): its ~/.bashrc,
  venv, token and Ray session directory are its own; nothing in this machine's home directory
  or /tmp/ray is touched. In the namespaces' /etc/passwd (a bind mount) the user's home is the
  head's HOME, because ssh takes `~` in the autoscaler's `-i ~/ray_bootstrap_key.pem` from there.
- Runs of this test on one machine take turns (a lock file): Ray's SSH control sockets are
  per user and cluster name, in /tmp.
- It needs root (sshd, namespaces), sshd, ssh and rsync: where one is missing it skips saying
  why, and fails in CI (support.skip_unless_ci), like every test that needs a system package.
- It creates everything sshd needs, its privilege-separation directory included, inside its
  own mount namespace: nothing on the machine is created or changed outside /tmp/mlab-l-*.
  A failed run leaves its directory (/tmp/mlab-l-*) for inspection; a passing one removes it.
Why 127.0.0.2/.3 and not 127.0.0.1: Ray rewrites 127.0.0.1 given to --node-ip-address or
--address into the machine's routable address.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from support import skip_unless_ci

ROOT = Path(__file__).resolve().parent.parent
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
RAY_BIN = str(Path(sys.executable).parent / "ray")
LOCK = Path(tempfile.gettempdir()) / "multiplication-lab-launcher-test.lock"
USER = pwd.getpwuid(os.getuid()).pw_name

# Run inside the new namespaces before sshd: bring the loopback interface up, give the user
# the head node's HOME as its home directory in this mount namespace's /etc/passwd (ssh reads
# the autoscaler's `-i ~/ray_bootstrap_key.pem` from there, not from $HOME), and make sshd's
# compiled-in privilege-separation directory (/run/sshd) where a fresh machine (no systemd, no
# package scripts run) has none: /run becomes a tmpfs of this mount namespace only, holding
# links to everything the machine's /run holds (bind-mounted aside first) and the directory.
# Then check sshd's config there and start it. Arguments: passwd file, aside dir, log, sshd argv.
BOOT = """\
import fcntl, os, socket, struct, subprocess, sys
passwd, aside, log, sshd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]  # SIOCGIFFLAGS
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
subprocess.run(["mount", "--bind", passwd, "/etc/passwd"], check=True)
if not os.path.isdir("/run/sshd"):
    subprocess.run(["mount", "--rbind", "/run", aside], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"], check=True)
    for name in os.listdir(aside):
        os.symlink(os.path.join(aside, name), os.path.join("/run", name))
    os.mkdir("/run/sshd", 0o755)
check = subprocess.run([sshd[0], "-t", *sshd[2:4]], capture_output=True, text=True)  # -f CONFIG
if check.returncode:
    open(log, "a").write("sshd rejected its config: " + check.stderr)
    sys.exit(1)
os.execv(sshd[0], sshd)
"""


def _missing_tools() -> list[str]:
    missing = [t for t in ("ssh", "ssh-keygen", "rsync") if not shutil.which(t)]
    return missing + ([] if os.access(SSHD, os.X_OK) else ["sshd"])


def _namespaces_available() -> bool:
    try:
        cmd = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _processes() -> dict[int, list[str]]:
    """pid -> command line, for every process this one can see."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                raw = Path(f"/proc/{entry}/cmdline").read_bytes()
                out[int(entry)] = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return out


def _node_bashrc() -> str:
    """What the docs ask of a machine (docs/operate/clusters.md): a Python >= 3.11 as python3 on the login PATH. Here it
    is the interpreter running the tests, so the nodes' venvs (--system-site-packages) reuse its
    Ray and TensorFlow; if that interpreter is itself a venv's, its packages go on PYTHONPATH
    (a venv made from it sees only the base interpreter's)."""
    lines = [f'export PATH="{Path(sys.executable).parent}:$PATH"']
    if sys.prefix != sys.base_prefix:
        lines.append(f'export PYTHONPATH="{os.pathsep.join(site.getsitepackages())}"')
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _machine_lock():
    with open(LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class LoopbackNodes:
    """An sshd serving two 'machines', 127.0.0.2 and 127.0.0.3, each with its own HOME and
    TMPDIR, in network, PID and mount namespaces of its own."""

    def __init__(self, base: Path):
        self.base = base
        self.ssh_dir = base / "ssh"
        self.key = self.ssh_dir / "id_ed25519"
        self.homes = {HEAD_IP: base / "head", WORKER_IP: base / "worker"}
        self.proc: subprocess.Popen | None = None
        self.inner_pid: int | None = None

    def prepare(self) -> None:
        self.ssh_dir.mkdir(mode=0o700)
        for name in ("id_ed25519", "host_ed25519"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.ssh_dir / name)], check=True)
        keys = self.ssh_dir / "authorized_keys"
        keys.write_text((self.ssh_dir / "id_ed25519.pub").read_text())
        keys.chmod(0o600)
        passwd = []  # this user's home is the head node's HOME inside the namespaces
        for line in Path("/etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) == 7 and fields[0] == USER:
                fields[5] = str(self.homes[HEAD_IP])
            passwd.append(":".join(fields))
        (self.ssh_dir / "passwd").write_text("\n".join(passwd) + "\n")
        match_blocks = []
        for ip, home in self.homes.items():
            (home / "tmp").mkdir(parents=True)
            (home / ".bashrc").write_text(_node_bashrc())
            # PIP_NO_INDEX: the setup commands must install the project without any package index.
            env = f"HOME={home} TMPDIR={home / 'tmp'} PIP_NO_INDEX=1 RAY_USAGE_STATS_ENABLED=0"
            match_blocks += [f"Match LocalAddress {ip}", f"  SetEnv {env}"]
        lines = [
            f"ListenAddress {HEAD_IP}:22",
            f"ListenAddress {WORKER_IP}:22",
            f"HostKey {self.ssh_dir / 'host_ed25519'}",
            f"PidFile {self.ssh_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {keys}",
            f"AllowUsers {USER}",
            "AuthenticationMethods publickey",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",  # the keys live under /tmp
            "X11Forwarding no",
            "PrintMotd no",
            "PrintLastLog no",
            "MaxStartups 100",  # the launcher and the autoscaler connect in parallel
            "MaxSessions 100",  # Ray multiplexes its sessions over one connection per node
            *match_blocks,
        ]
        (self.ssh_dir / "sshd_config").write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        config = self.ssh_dir / "sshd_config"
        aside = self.ssh_dir / "host-run"  # the machine's /run, seen through links in the namespaces'
        aside.mkdir()
        log = self.ssh_dir / "sshd.log"
        # sshd is PID 1 of the new namespaces (after BOOT), and --kill-child ends it when unshare ends
        cmd = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
        cmd += [sys.executable, "-c", BOOT, str(self.ssh_dir / "passwd"), str(aside), str(log)]
        cmd += [SSHD, "-D", "-f", str(config), "-E", str(log)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while not all(f"Server listening on {ip} port 22." in self.log() for ip in self.homes):
            assert self.proc.poll() is None, f"sshd exited ({self.proc.returncode}): {self.log()}"
            assert time.monotonic() < deadline, f"sshd did not listen within 15 s: {self.log()}"
            time.sleep(0.1)
        self.inner_pid = int(Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()[0])

    def command(self, args: list[str]) -> list[str]:
        """args as run by the launching machine: inside the nodes' namespaces."""
        return ["nsenter", f"--target={self.inner_pid}", "--net", "--pid", "--mount", f"--wd={ROOT}", "--", *args]

    def raylets(self) -> dict[str, tuple[str, str]]:
        """This test's raylets: node id -> (address, the interpreter it starts Ray workers with)."""
        found = {}
        for cmd in _processes().values():
            if cmd and Path(cmd[0]).name == "raylet" and any(str(self.base) in a for a in cmd):
                flags = dict(a[2:].split("=", 1) for a in cmd if a.startswith("--") and "=" in a)
                found[flags["node_id"]] = (flags["node_ip_address"], flags["python_worker_command"].split()[0])
        return found

    def wait_for_port(self, port: int, timeout: float) -> None:
        """Wait until something listens on 127.0.0.1:port inside the namespaces."""
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)"
        deadline = time.monotonic() + timeout
        while subprocess.run(self.command([sys.executable, "-c", probe]), capture_output=True).returncode:
            assert time.monotonic() < deadline, f"nothing listens on port {port} after {timeout} s"
            time.sleep(0.5)

    def log(self) -> str:
        path = self.ssh_dir / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> list[str]:
        """Stop sshd by its PID; every process left in its namespaces ends with it. Returns the
        command lines of processes of this test still alive 10 s later (none expected)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        deadline = time.monotonic() + 10
        while True:
            left = [" ".join(c) for c in _processes().values() if any(str(self.base) in a for a in c)]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)


def _launcher_env(base: Path) -> dict[str, str]:
    """The launching machine: its own HOME (the token) and TMPDIR (the local provider's cluster
    state), no usage stats. Nothing about the autoscaler: the config itself selects it."""
    home = base / "launcher"
    (home / "tmp").mkdir(parents=True)
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(os.urandom(16).hex())  # `ray get-auth-token --generate`
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), TMPDIR=str(home / "tmp"), RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    env["RAY_AUTH_MODE"] = "token"  # for `ray job submit`, as the docs write it
    return env


def _test_config(nodes: LoopbackNodes) -> Path:
    """cluster-local.yaml with only the addresses and the SSH user and key filled in."""
    config = yaml.safe_load((ROOT / "cluster-local.yaml").read_text())
    config["provider"].update(head_ip=HEAD_IP, worker_ips=[WORKER_IP])
    config["auth"].update(ssh_user=USER, ssh_private_key=str(nodes.key))
    path = nodes.base / "cluster-local.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _active_nodes(status: str) -> int:
    """Nodes listed under 'Active:' in `ray status`."""
    section = status.split("Active:", 1)[-1].split("Pending:", 1)[0]
    return sum(int(n) for n in re.findall(r"^\s*(\d+) ", section, flags=re.M))


def _placements(out: Path) -> dict[str, Counter]:
    counts: dict[str, Counter] = {"shards": Counter(), "bundles": Counter(), "evaluations": Counter()}
    for m in out.glob("datasets/*/_manifest.json"):
        counts["shards"].update(s["node_id"] for s in json.loads(m.read_text())["shards"])
    for kind, sub in (("bundles", "models"), ("evaluations", "evals")):
        for m in out.glob(f"{sub}/*/_manifest.json"):
            counts[kind][json.loads(m.read_text())["placement"]["node_id"]] += 1
    return counts


def require_what_the_launcher_test_needs() -> None:
    """sshd, ssh, rsync and namespaces (root): in CI a failure, elsewhere a skip with the reason."""
    if missing := _missing_tools():
        skip_unless_ci(
            f"the launcher test needs {', '.join(missing)}: "
            "apt-get install openssh-server rsync (.ci/run installs them)"
        )
    if not _namespaces_available():
        skip_unless_ci(
            "the launcher test runs its nodes in network/PID/mount namespaces of their own and "
            "`unshare --net --pid --mount-proc` failed here (it needs root or CAP_SYS_ADMIN)"
        )


def test_missing_system_packages_skip_here_and_fail_in_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a fresh machine: no ssh, rsync, unshare
    monkeypatch.setattr(sys.modules[__name__], "SSHD", str(tmp_path / "sshd"))
    monkeypatch.delenv("MLAB_CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs ssh, ssh-keygen, rsync, sshd: apt-get install"):
        require_what_the_launcher_test_needs()
    monkeypatch.setenv("MLAB_CI", "1")
    with pytest.raises(pytest.fail.Exception, match=r"needs ssh, ssh-keygen, rsync, sshd.*\(required in CI\)"):
        require_what_the_launcher_test_needs()


def test_ray_up_submit_twice_down_on_two_ssh_nodes(capsys):
    require_what_the_launcher_test_needs()
    import ray

    ray.shutdown()  # this process's own Ray (from other tests) is not needed; it restarts on demand
    timings: dict[str, float] = {}
    with _machine_lock():
        base = Path(tempfile.mkdtemp(prefix="mlab-l-", dir="/tmp"))  # short: Ray's socket paths
        nodes = LoopbackNodes(base)
        nodes.prepare()
        env = _launcher_env(base)
        config = str(_test_config(nodes))
        out = base / "out"  # both nodes are this machine: a path both see is shared storage
        log = base / "launcher.log"

        def ray_cli(*args: str, timeout: float = 240) -> str:
            started = time.monotonic()
            proc = subprocess.run(
                nodes.command([RAY_BIN, *args]),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            output = proc.stdout + proc.stderr
            with open(log, "a") as fh:
                fh.write(f"\n$ ray {' '.join(args)}  ({time.monotonic() - started:.1f} s)\n{output}")
            assert proc.returncode == 0, f"ray {args[0]} failed ({proc.returncode}), log {log}:\n{output[-4000:]}"
            return output

        def timed(name: str, *args: str) -> str:
            started = time.monotonic()
            output = ray_cli(*args)
            timings[name] = time.monotonic() - started
            return output

        submit = ("submit", config, "workflows/run.py", "--", "--config", "smoke", "--out", str(out))
        try:
            nodes.start()
            timed("ray up", "up", "-y", config)
            started = time.monotonic()
            while _active_nodes(status := ray_cli("exec", config, "ray status")) < 2:  # the listed worker
                assert time.monotonic() - started < 120, f"the worker never joined:\n{status[-3000:]}"
                time.sleep(1)
            timings["worker up"] = time.monotonic() - started
            first = timed("ray submit", *submit)
            assert (out / "report" / "index.html").is_file(), first[-3000:]
            raylets = nodes.raylets()
            counts = _placements(out)
            second = timed("ray submit again", *submit)
            assert "0 of 4 models to train" in second, second[-3000:]
            # `ray job submit` through `ray dashboard`'s tunnel (a local port of its own: on this one
            # machine the head's dashboard already holds 127.0.0.1:8265)
            tunnel = subprocess.Popen(
                nodes.command([RAY_BIN, "dashboard", "-p", "8266", config]),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            nodes.wait_for_port(8266, timeout=60)
            job = ("job", "submit", "--address", "http://127.0.0.1:8266", "--working-dir", ".", "--")
            third = timed("ray job submit", *job, "python", "workflows/run.py", *submit[-4:])
            assert "0 of 4 models to train" in third and "succeeded" in third, third[-3000:]
            timed("ray down", "down", "-y", config)
            tunnel.terminate()
        finally:
            left = nodes.stop()
        assert not left, f"processes outlived the cluster: {left}"

    label = {HEAD_IP: "head", WORKER_IP: "worker"}
    names = {node_id: label[ip] for node_id, (ip, _) in raylets.items()}
    with capsys.disabled():
        print("\n[launcher] " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        for kind, c in counts.items():
            print(
                f"[launcher] {kind} per node: " + ", ".join(f"{names.get(n, n[:8])} {k}" for n, k in sorted(c.items()))
            )
    assert sorted(names.values()) == ["head", "worker"], raylets
    for ip, python in raylets.values():  # Ray runs on each node's venv, not on the system's Python
        assert Path(python) == nodes.homes[ip] / "multiplication-lab-venv" / "bin" / "python", raylets
    for kind in ("shards", "bundles", "evaluations"):  # generation and evaluation are spread, not left to the head
        assert set(counts[kind]) == set(names), f"{kind} did not run on both nodes: {counts}"
    shutil.rmtree(base, ignore_errors=True)
