"""py-spy on the worker's process tree, and its samples attributed to the pipeline's stages."""
from __future__ import annotations

import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from nexus_sync.dev.bench.common import ROOT, STAGES

_STAGE_FUNCTIONS = (*STAGES, "close_sync")  # the pipeline's stage functions; close_sync is notify's close
_FRAME_RE = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# frames of the machinery around a task, left out of a stage's hottest functions
_AROUND_TASKS = ("_bootstrap", "celery/", "billiard/", "kombu/", "<module>", "tasks/base.py", "tasks/sync.py",
              "trace.py")


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))


class Profile:
    """py-spy on a process tree (on-CPU samples only), attributed to pipeline stages."""

    def __init__(self, pid: int, out: Path, rate: int = 100):
        self.pid, self.out, self.rate = pid, out, rate
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return _py_spy() is not None

    def __enter__(self) -> Profile:
        exe = _py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.proc = subprocess.Popen([exe, "record", "--pid", str(self.pid), "--subprocesses", "--nonblocking",
                                      "--rate", str(self.rate), "--format", "raw", "--output", str(self.out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def result(self, top: int = 8) -> dict[str, Any]:
        return summarize_profile(self.out, top)


def _stage_of(frames: list[dict[str, Any]]) -> str:
    """The pipeline stage function on the stack (nexus_sync/pipeline.py or a module of nexus_sync/pipeline/)."""
    for fr in frames:
        file = fr["file"]
        in_pipeline = file.endswith("nexus_sync/pipeline.py") or "nexus_sync/pipeline/" in file
        if in_pipeline and fr["func"] in _STAGE_FUNCTIONS:
            return str(fr["func"])
    return "outside the stages (celery, kombu, idle loop)"


def summarize_profile(path: Path, top: int = 8) -> dict[str, Any]:
    """Collapsed stacks → per stage: share of samples, top self lines (with their source), top callees."""
    if not path.exists():
        return {"error": "py-spy wrote no profile"}
    per_stage: Counter[str] = Counter()
    self_lines: dict[str, Counter[tuple[str, str, int]]] = defaultdict(Counter)
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    total = 0
    for raw_line in path.read_text(errors="replace").splitlines():
        stack, _, count = raw_line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        parsed = [m.groupdict() for m in (_FRAME_RE.match(f) for f in frames) if m]
        stage = _stage_of(parsed)
        total += n
        per_stage[stage] += n
        if parsed:
            leaf = parsed[-1]
            self_lines[stage][(leaf["func"], leaf["file"], int(leaf["line"] or 0))] += n
            for name in {f"{fr['func']} ({_short(fr['file'])})" for fr in parsed}:
                inclusive[stage][name] += n
    out: dict[str, Any] = {"samples": total, "stages": {}}
    for stage, n in per_stage.most_common():
        lines = []
        for (func, file, line), k in self_lines[stage].most_common(top):
            src = linecache.getline(file, line).strip() if line else ""
            lines.append({"share": round(k / n, 3), "where": f"{_short(file)}:{line} {func}", "code": src[:100]})
        hot = [{"share": round(k / n, 3), "function": name} for name, k in inclusive[stage].most_common(top + 12)
               if not any(s in name for s in _AROUND_TASKS)][:top]
        out["stages"][stage] = {"share": round(n / max(total, 1), 3), "self": lines, "inclusive": hot}
    return out


def _short(file: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file
