"""Carbon Black alerts in the contract: the org key goes in the path; the simulated alerts lie in the 30
days before 2024-06-01, so a full sync starts before them."""


def config(sim) -> dict:
    return {"org_key": "7DESJ9GN", "start_time": "2024-04-30T00:00:00Z"}
