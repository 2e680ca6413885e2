"""The simulated cases lie in the 30 days before 2024-06-01: a full sync starts before them; year-long windows
keep the walk to now short (a window past the row cap is split anyway)."""


def config(sim) -> dict:
    return {"start_time": "2024-04-30T00:00:00Z", "window_hours": 24 * 366}
