"""IAM in the contract: static keys from the secrets store (CloudTrail's contract assumes a role); the root
user comes from the credential report beside the listed users."""
from __future__ import annotations


def expected_ids(truth: dict[str, dict]) -> set[str]:
    from nexus_sync.simulator.aws import ACCOUNT

    return set(truth) | {ACCOUNT}
