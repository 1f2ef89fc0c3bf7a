from tests.detectors.test_pipeline_planted import account_scores, pipeline
from tests.detectors import test_young_hydra as ty, test_fresh_burst_hydra as tf
def _show(warehouse, ids):
    s = account_scores(warehouse)
    cl = {r["cluster_id"]: r for r in warehouse.engine.to_arrow("select * from cluster_features").to_pylist()}
    for a in ids:
        r = s.get(a)
        if r: print(a, r["risk"], r["verdict"], r["cluster_id"], [x[:90] for x in r["reasons"] if x.startswith(("cluster.member","account.training","account.harvest"))])
    for c, r in cl.items():
        print(" CL", c, r["accounts"], "mb", round(r["mean_behaviour"],2), "mh", round(r["mean_harvest"],2), "own", round(r["mean_own_risk"],2), "tt", r["template_tie"], "rt", r["record_tie"], "ls", round(r["lockstep_ratio"],1), "sig", round(r["mean_signup"],2), "tr", round(r["mean_training"],2))
def test_young(warehouse, config, monkeypatch):
    _, young = ty._planted(warehouse, monkeypatch, coordinated=True)
    pipeline.scan(warehouse, config, until=ty.CHECKPOINT)
    _show(warehouse, young)
def test_planted(warehouse, config, planted):
    pipeline.scan(warehouse, config)
    s = account_scores(warehouse)
    _show(warehouse, [a for a in s if s[a]["verdict"] != "ok" or a in planted.hydra][:40])
