"""What a killed run's own Ray leaves behind on this machine: its task workers outlive a
SIGKILLed driver by seconds (until they notice their raylet is gone) and may still write into
the study's folder. A run that takes over such a run's folder waits for them first.

They are found by the log file each task worker holds open in that Ray's session folder
(`logs/python-core-worker-…`; a worker renames itself `ray::…`, so its command line does not
say whose it is). Ray's dashboard and runtime-env agents of a killed run linger for good
(they write only Ray's own logs): they are not waited for. A session folder is named
`session_<date>_<PID of the process that started it>`.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path

from tasks.core import logs
from tasks.core.errors import UserError

LOG = logs.get("out")

WORKER_LOG = "/logs/python-core-worker-"  # held open by every task worker of a session
WAIT_S = 60.0  # Ray's workers notice a dead raylet within seconds; this is ample


def session_pattern(session_dir: str | None, driver_pid: int | None) -> re.Pattern[str] | None:
    """Paths under the recorded session folder or, when none was recorded (killed before its
    Ray answered), under any session folder its driver started."""
    if session_dir:
        return re.compile(re.escape(session_dir.rstrip("/")) + WORKER_LOG)
    if driver_pid:
        return re.compile(rf"/session_[^/]*_{int(driver_pid)}{WORKER_LOG}")
    return None


def processes_using(pattern: re.Pattern[str], proc: Path = Path("/proc")) -> list[int]:
    """PIDs of this machine's processes (other than this one) holding a matching file open;
    none where /proc cannot be read (not Linux)."""
    found = []
    for entry in proc.glob("[0-9]*"):
        if int(entry.name) == os.getpid():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(pattern.search(link) for link in links):
            found.append(int(entry.name))
    return sorted(found)


def titled(pids: list[int], prefixes: tuple[bytes, ...], proc: Path = Path("/proc")) -> list[int]:
    """Those of `pids` whose command line starts with one of `prefixes` (a Ray worker names
    itself `ray::<task>` while it runs one; Ray's agents and monitors keep theirs)."""
    found = []
    for pid in pids:
        try:
            if (proc / str(pid) / "cmdline").read_bytes().startswith(prefixes):
                found.append(pid)
        except OSError:
            continue
    return found


def process_ended(pid: int, proc: Path = Path("/proc")) -> bool:
    """Gone, or a zombie its parent has not reaped yet (it runs nothing any more)."""
    try:
        return (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def wait_for_leftovers(
    held: dict, where: str, timeout: float = WAIT_S, scan: Callable[[re.Pattern[str]], list[int]] = processes_using
) -> None:
    """Wait until the processes of the Ray run `held` (a lock record: pid, ray_session) started
    are gone; one line if there are any, one line and UserError if they outlive `timeout`."""
    if held.get("host") != platform.node() or held.get("pid") == os.getpid():
        return  # another machine's processes are not visible here; this process's Ray is its own
    pattern = session_pattern(held.get("ray_session"), held.get("pid"))
    if pattern is None:
        return
    deadline, said = time.monotonic() + timeout, False
    while pids := scan(pattern):
        if not said:
            LOG.warning(f"[out] waiting for {len(pids)} process(es) of the earlier run's Ray to end ({where})")
            said = True
        if time.monotonic() > deadline:
            raise UserError(
                f"{len(pids)} process(es) of the earlier run's Ray are still running after {timeout:.0f} s "
                f"(PIDs {' '.join(map(str, pids))}) and may still write into {where}: end them, then run again"
            )
        time.sleep(0.2)
    if said:
        LOG.info("[out] they have ended")
