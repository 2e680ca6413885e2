"""The SA key's token_uri is Google's: the simulator serves the token endpoint under its prefix. The listing is
the audit logs of the simulated projects (the syslog entries the audit filter leaves out are not expected)."""
from connectors.gcpaudit import entry_key

PROJECTS = ["projects/nexus-prod-1", "projects/nexus-prod-2", "projects/nexus-data"]


def config(sim) -> dict:
    return {"token_url": f"{sim.base_url('gcpaudit')}/token", "resource_names": PROJECTS}


def expected_ids(truth: dict[str, dict]) -> set[str]:
    return {entry_key(e) for e in truth.values() if "cloudaudit.googleapis.com" in e["logName"]}
