"""The issue's targets, the headline figures they speak of, and the verdict of one figure against its target."""
from __future__ import annotations

from typing import Any

# the targets; `le` = at most, `ge` = at least
TARGETS: dict[str, tuple[str, float, str]] = {
    "first_sync_vs_copy": ("ge", 0.75, "first sync ≥ 75 % of the same-run COPY limit"),
    "vs_loader_first": ("ge", 1.0, "first sync ahead of the same-run hand-tuned loader"),
    "unchanged_rps": ("ge", 40_000, "unchanged re-sync within resolution ≥ 40,000 records/s"),
    "touch_due_rps": ("ge", 15_000, "unchanged re-sync with every touch due ≥ 15,000 records/s"),
    "steady_rps": ("ge", 30_000, "steady state, 15-minute schedule at 1 h resolution (mean) ≥ 30,000 records/s"),
    "vs_loader_unchanged": ("ge", 1.0, "unchanged re-sync ahead of the hand-tuned loader"),
    "changed_rps": ("ge", 20_000, "10 % changed ≥ 20,000 records/s"),
    "vs_loader_changed": ("ge", 1.0, "10 % changed ahead of the hand-tuned loader"),
    "normalize_us": ("le", 20.0, "normalize ≤ 20 µs/record"),
    "dedup_us": ("le", 5.0, "dedup ≤ 5 µs/record"),
    "write_1000_ms": ("le", 70.0, "a 1,000-row write ≤ 70 ms"),
    "worker_rss_mb": ("le", 300.0, "worker RSS ≤ 300 MB"),
    "rss_flat_ratio": ("le", 1.25, "RSS flat from 10k to 1M (largest/smallest peak ≤ 1.25)"),
    "full_cycle_s": ("lt", 30.0, "full cycle of all connectors < 30 s"),
}


def headline(r: dict[str, Any]) -> dict[str, Any]:
    """The figures the targets speak of, flat: name → value."""
    h: dict[str, Any] = {}
    m = r.get("main")
    if m:
        h["first_rps"] = m["first"]["records_per_s"]
        h["copy_rps"] = m["copy_limit"]["records_per_s"]
        h["first_sync_vs_copy"] = m["first"]["vs_copy"]
        h["fetch_only_rps"] = m["fetch_only"]["records_per_s"]
        h["unchanged_rps"] = m["unchanged"]["records_per_s"]
        h["changed_rps"] = m["changed"]["records_per_s"]
        if "touch_due" in m:
            h["touch_due_rps"] = m["touch_due"]["records_per_s"]
            h["steady_rps"] = m["steady"]["mean_records_per_s"]
        for k, ld in m.get("loader", {}).items():
            h[f"loader_{k}_rps"] = ld["records_per_s"]
            h[f"vs_loader_{k}"] = round(h[f"{k}_rps"] / ld["records_per_s"], 2)
        st = m["stages"]
        h["normalize_us"] = st["new"]["us_per_record"]["normalize"]
        # the dedup lookup proper: cache-hit rounds (a first sync's cold cache asks Postgres: shown beside)
        h["dedup_us"] = max(st[k]["us_per_record"]["dedup"] for k in ("unchanged", "changed"))
        h["dedup_cold_us"] = st["new"]["us_per_record"]["dedup"]
        h["write_1000_ms"] = st["new"]["write_ms_per_1000_written"]
    rss = r.get("rss", {})
    peaks = {int(k): _peak(v) for k, v in rss.items() if v.get("meter", {}).get("rss_mb")}
    if peaks:
        h["worker_rss_mb"] = max(peaks.values())
        h["rss_by_records"] = dict(sorted(peaks.items()))
    if r.get("full_cycle"):
        h["full_cycle_s"] = r["full_cycle"]["wall_s"]
    return h


def verdict(name: str, value: float | None) -> tuple[bool | None, str]:
    if value is None:
        return None, "not measured"
    op, target, _ = TARGETS[name]
    ok = value >= target if op == "ge" else value <= target if op == "le" else value < target
    if ok:
        return True, "met"
    if op == "ge":
        return False, f"missed: {value / target:.0%} of target (needs {target / value:.2f}×)"
    return False, f"missed: {value / target:.2f}× the target ({(value - target) / target:+.0%})"


def _peak(run: dict[str, Any]) -> float:
    """A size's worker RSS peak: its first sync's, or its unchanged re-sync's when higher (bench-large runs both)."""
    again = run.get("unchanged_resync", {}).get("meter", {}).get("rss_mb", {}).get("peak_any", 0.0)
    return float(max(run["meter"]["rss_mb"]["peak_any"], again))
