"""What every part of the benchmark shares: where the checkout is, the vendor of the main sync, the stage
names, how it speaks, and the description of the machine it ran on."""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
MAIN_VENDOR = "crowdstrike"  # the 100,000-record sync is CrowdStrike-shaped
STAGES = ("start", "fetch", "normalize", "dedup", "persist", "archive", "finish")


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def mb(n: float) -> float:
    return round(n / 2**20, 1)


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def machine() -> dict[str, Any]:
    import psutil

    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass  # not Linux: the model name stays empty
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "git_commit": commit + ("-dirty" if dirty else "")}
