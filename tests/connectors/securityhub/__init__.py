def config(sim):
    return {"region": "us-east-1"}
