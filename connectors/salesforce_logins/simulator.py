"""Salesforce `LoginHistory` over SOQL, as in ../shared/vendor-apis-2.md §35: the org simulated by
connectors/salesforce/simulator.py (token, `/query`, query locators, errors, `Sforce-Limit-Info`, 403
REQUEST_LIMIT_EXCEEDED), served under ``/salesforce_logins`` with login rows instead of users. Rows are
read-only: a "mutation" round leaves a login as it was (Salesforce never changes one)."""
from __future__ import annotations

import random

from connectors.salesforce.simdata import login_records
from connectors.salesforce.simulator import SalesforceSim
from nexus_sync.simulator import register


@register
class SalesforceLoginsSim(SalesforceSim):
    name = "salesforce_logins"

    def generate(self) -> tuple[dict, ...]:
        return tuple(login_records(self.seed, self.size))

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        return dict(record)

    def table(self, obj: str) -> list[dict]:
        with self.lock:
            return [self.records[rid] for rid in self.order] if obj == "LoginHistory" else []
