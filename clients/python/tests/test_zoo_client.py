"""The Python client's side of the dps, greso and pools strategies against a live moppsd: settings
dicts, PoolInfo fields, step=, Get's strategy arrays, and the errors that name the field."""

import numpy as np
import pytest

from mopps import InvalidArgument, RpcError, StatusCode


def test_settings_round_trip_and_info(client):
    d = client.create_pool("d", strategy="dps", dps={"decay": 0.7, "prior": "progress", "selection": "topk+entropy",
                                                     "entropy_weight": 0.2}, seed=1)
    assert d.strategy == "dps" and d.greso is None and d.pools is None
    assert d.dps["decay"] == 0.7 and d.dps["prior"] == "progress" and d.dps["selection"] == "topk+entropy"
    assert d.dps["prior_counts"] == [1, 0.5, 0.5, 1, 1, 0.5, 1, 1, 1]
    assert d.steps == 0 and d.greso_p_easy is None and d.bytes_per_prompt > 24
    g = client.create_pool("g", strategy="greso", greso={"p_easy": 0.3, "adapt": False}, seed=2)
    assert g.greso["p_easy"] == 0.3 and g.greso["adapt"] is False and g.greso["p_hard"] == 0.5
    assert g.greso_p_easy == 0.3 and g.greso_p_hard == 0.5
    p = client.create_pool("p", strategy="pools", pools={"weight_hard": 0.5}, seed=3)
    assert p.pools["weight_hard"] == 0.5 and p.pools["weight_easy"] == 0.2
    m = client.create_pool("m", seed=4)
    assert m.dps is None and m.greso is None and m.pools is None and m.bytes_per_prompt == 24
    # exist_ok compares the settings given.
    assert client.create_pool("g", strategy="greso", greso={"p_easy": 0.3}, exist_ok=True).name == "g"
    with pytest.raises(RpcError) as e:
        client.create_pool("g", strategy="greso", greso={"p_easy": 0.4}, exist_ok=True)
    assert "greso.p_easy" in str(e.value)


def test_refusals_name_the_field(client):
    with pytest.raises(InvalidArgument, match="dps.colour"):
        client.create_pool("x", strategy="dps", dps={"colour": 1})
    with pytest.raises(InvalidArgument, match="dps.decay"):
        client.create_pool("x", strategy="dps", dps={"decay": "high"})
    with pytest.raises(RpcError, match="config.dps.decay") as e:
        client.create_pool("x", strategy="dps", dps={"decay": 1.5})
    assert e.value.code == StatusCode.INVALID_ARGUMENT
    with pytest.raises(RpcError, match="config.greso: set, but strategy is dps"):
        client.create_pool("x", strategy="dps", greso={"p_easy": 0.5})
    with pytest.raises(RpcError, match="config.pools: set, but strategy is topk"):
        client.create_pool("x", pools={"weight_hard": 0.5})
    assert [p.name for p in client.list_pools()] == []
    client.create_pool("d", strategy="dps", seed=1)
    with pytest.raises(RpcError, match="^INVALID_ARGUMENT: strategy"):
        client.select("d", 1, candidates=[1, 2], strategy="topk")
    with pytest.raises(InvalidArgument, match="step"):
        client.update("d", [1], [1], rollouts=2, step=-1)


def test_steps_and_strategy_arrays(client):
    client.create_pool("g", strategy="greso", seed=5)
    client.update("g", [1, 2], [8, 0], rollouts=8, step=3)
    client.report("g", [3, 4], np.array([[1.0, 1.0], [0.0, 1.0]]), step=3)
    info = next(p for p in client.list_pools() if p.name == "g")
    assert info.steps == 1 and info.update_count == 2
    # Step 3 as one: 4 groups, 2 all solved (>= 1/12), 1 all failed (>= 1/6): both p fall once.
    assert info.greso_p_easy == pytest.approx(0.49) and info.greso_p_hard == pytest.approx(0.49)
    with pytest.raises(RpcError) as e:
        client.update("g", [1], [1], rollouts=8, step=2)
    assert e.value.code == StatusCode.FAILED_PRECONDITION and "step" in str(e.value)
    got = client.get("g", [1, 2, 3, 9])
    assert got.greso_easy_run.tolist() == [1, 0, 1, 0] and got.greso_hard_run.tolist() == [0, 1, 0, 0]
    assert got.dps_predicted is None and got.last_mean is None

    client.create_pool("d", strategy="dps", seed=6)
    client.select("d", 2, candidates=[10, 11, 12])
    client.update("d", [10], [3], rollouts=4)
    pred = client.get("d", [10, 11, 99]).dps_predicted
    assert pred.shape == (3, 3) and np.allclose(pred.sum(axis=1), 1)
    assert np.allclose(pred[2], 1 / 3)

    client.create_pool("p", strategy="pools", seed=7)
    client.update("p", [5], [3], rollouts=4)
    mean = client.get("p", [5, 6]).last_mean
    assert mean[0] == 0.75 and np.isnan(mean[1])


def test_reference_formats_are_mopps_only(client, tmp_path):
    client.create_pool("d", strategy="dps", seed=1)
    with pytest.raises(RpcError) as e:
        client.import_state("d", {"1": [1.0, 2.0]})
    assert e.value.code == StatusCode.FAILED_PRECONDITION
    assert "MoPPS-only (pool d uses strategy dps)" in str(e.value)
    with pytest.raises(RpcError) as e:
        client.export_state("d")
    assert e.value.code == StatusCode.FAILED_PRECONDITION and "uses strategy dps" in str(e.value)
