"""Config the contract tests give arcsight_logger: the simulated events lie in May 2024, before the default
history of a full sync."""


def config(sim) -> dict:
    return {"start_time": "2024-01-01T00:00:00Z"}
