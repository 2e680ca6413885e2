"""The one severity scale of every kind and vendor (the spec's Layer 4 "compute severity scores"): 0-100 with a
label from documented bands, derived once in the model layer from what the normalized record already says.

Bands (the CVSS v3 qualitative ratings x 10, so a CVSS base score reads the same here):

    info       0-9     (CVSS 0.0 "none"; records with no severity of their own)
    low       10-39
    medium    40-69
    high      70-89
    critical  90-100

A record's score:
- given by its vendor (a native 0-100 risk score a normalizer passes as `severity_score`): kept as given;
- else from its severity label (vulnerabilities, events, incidents: every vendor scale — Qualys 1-5, Tenable
  0-4, Jira priorities, alert urgencies — is already mapped onto the label by models.severity), placed at the
  band's typical score; a CVSS base score, where the record has one, refines it inside that band (the label is
  the vendor's verdict, CVSS only orders findings within it);
- else 0 (info): assets and users have no severity of their own unless their vendor gives a risk score.
The label is always the score's band, so a filter on either agrees.
"""
from __future__ import annotations

from typing import Any

LABELS = ("info", "low", "medium", "high", "critical")
BANDS: dict[str, tuple[int, int]] = {"info": (0, 9), "low": (10, 39), "medium": (40, 69), "high": (70, 89),
                                     "critical": (90, 100)}
TYPICAL = {"info": 0, "low": 25, "medium": 55, "high": 80, "critical": 95}  # a label's score without CVSS
_LABEL_OF = tuple(next(label for label, (lo, hi) in BANDS.items() if lo <= s <= hi) for s in range(101))


def label(score: int) -> str:
    """The band of a 0-100 score."""
    return _LABEL_OF[score]


def score(severity_label: str, cvss: float | None = None) -> int:
    """A label's score; with a CVSS base score (0-10), that score x 10 kept inside the label's band."""
    if cvss is None:
        return TYPICAL[severity_label]
    lo, hi = BANDS[severity_label]
    return min(max(round(cvss * 10), lo), hi)


def rate(data: dict[str, Any]) -> None:
    """Set `severity_score` and `severity_label` of a validated record's data, in place (both validation paths
    of nexus_sync.models call this on the dict they return)."""
    given = data.get("severity_score")
    if given is None:
        sev = data.get("severity")
        given = 0 if sev is None else score(sev, data.get("cvss"))
        data["severity_score"] = given
    data["severity_label"] = _LABEL_OF[given]
