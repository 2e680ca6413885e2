"""Security Hub keys a row by the finding's Id together with its ProductArn (connectors/securityhub)."""
from __future__ import annotations


def config(sim):
    return {"region": "us-east-1"}


def expected_ids(truth: dict[str, dict]) -> set[str]:
    return {f"{f['Id']}|{f['ProductArn']}" for f in truth.values()}
