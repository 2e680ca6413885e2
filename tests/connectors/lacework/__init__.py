"""The simulated alerts lie in the 30 days before 2024-06-01: a full sync starts before them."""


def config(sim) -> dict:
    return {"start_time": "2024-04-30T00:00:00Z"}
