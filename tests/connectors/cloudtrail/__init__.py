"""CloudTrail in the contract: its region, and access through the simulator's role (AssumeRole with the
external id, served by the simulator's STS)."""
from __future__ import annotations

from typing import Any


def config(sim: Any) -> dict[str, Any]:
    from nexus_sync.simulator.aws import EXTERNAL_ID, ROLE_ARN

    return {"region": "us-east-1", "role_arn": ROLE_ARN, "external_id": EXTERNAL_ID,
            "sts_url": sim.base_url("cloudtrail") + "/sts"}
