"""Finding 16: floors past known advisories, one lock file that installs use, and an audit target."""
from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"requests": "2.32.4", "urllib3": "2.6.3"}  # CVE-2024-47081; CVE-2025-50181/66471, CVE-2026-21441


def test_installed_and_locked_versions_are_past_the_advisories():
    lock = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M))
    for name, floor in FLOORS.items():
        assert Version(version(name)) >= Version(floor), name
        assert Version(lock[name]) >= Version(floor), name
        assert re.search(rf'"{name}>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text()), name


def test_make_install_and_the_image_use_the_lock_and_make_audit_checks_it():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK\s*:?=\s*requirements\.lock$", makefile, re.M)
    install = re.search(r"^\$\(STAMP\):.*?(?=^\S)", makefile, re.M | re.S).group(0)
    assert "$(LOCK)" in install.split("\n", 1)[0] and "pip install --quiet -c $(LOCK) -e" in install
    audit = re.search(r"^audit:.*?(?=^\S|\Z)", makefile, re.M | re.S).group(0)
    assert "pip-audit --requirement $(LOCK)" in audit
    assert "-c requirements.lock" in (ROOT / "Dockerfile").read_text()
