"""Cybereason Malops: the simulated Malops were last updated in the 90 days before 2024-06-01; a full sync starts
before them, and year-long windows keep the walk to now short."""


def config(sim) -> dict:
    return {"start_time": "2024-03-01T00:00:00Z", "window_hours": 24 * 366}
