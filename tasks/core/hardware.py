"""Facts about this machine: its CPU model and per-core L2 cache (they size work and label timings)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

DEFAULT_L2_BYTES = 1 << 20


def l2_cache_bytes(cpu_dir: str = "/sys/devices/system/cpu/cpu0/cache") -> int:
    """Per-core L2 size from sysfs (Linux); 1 MiB when unknown."""
    try:
        for index in sorted(Path(cpu_dir).glob("index*")):
            if (index / "level").read_text().strip() == "2":
                return parse_size((index / "size").read_text())
    except (OSError, ValueError):
        pass
    return DEFAULT_L2_BYTES


def parse_size(text: str) -> int:
    text = text.strip().upper()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_identity(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU as precisely as this machine says: model name, family/model numbers (a VM may
    name only "AMD EPYC") and per-core L2: what a timing or a calibration holds for."""
    fields: dict[str, str] = {}
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if not line.strip():
                break  # the first processor is enough
    except OSError:
        pass
    numbers = f", family {fields['cpu family']} model {fields['model']}" if "cpu family" in fields else ""
    return f"{fields.get('model name') or cpu_model()}{numbers}, L2 {l2_cache_bytes() >> 10} KiB/core"


def process_age() -> float:
    """Seconds since this process started (its interpreter and imports before any code of
    ours ran); 0 where /proc cannot tell (not Linux)."""
    try:
        started = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, in ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0
