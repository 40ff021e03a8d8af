"""The committed generated code matches proto/, and the installed protobuf runtime handles it."""

import filecmp
import subprocess
from pathlib import Path

import numpy as np

from mopps.v1 import selector_pb2 as pb
from mopps.v1 import service_pb2

REPO = Path(__file__).resolve().parents[3]


def generated_files(root: Path):
    return sorted(
        p.relative_to(root)
        for base in ("CModules/MoPPSProtoC", "clients/python/mopps", "clients/cpp/gen", "clients/rust/src/gen")
        for p in (root / base).rglob("*")
        if p.name.endswith((".pb-c.c", ".pb-c.h", "_pb2.py", ".pb.h", ".pb.cc", ".rs"))
    )


def test_committed_generated_code_matches_proto(tmp_path):
    subprocess.run([str(REPO / "scripts" / "gen-proto.sh"), str(tmp_path)], check=True)
    fresh = generated_files(tmp_path)
    assert fresh, "gen-proto.sh produced nothing"
    assert generated_files(REPO) == fresh, "generated files differ in name: run `make proto` and commit"
    for rel in fresh:
        assert filecmp.cmp(REPO / rel, tmp_path / rel, shallow=False), f"{rel} is stale: run `make proto`"


def test_messages_round_trip_on_installed_runtime():
    req = pb.SelectRequest(pool="math", batch_size=3, candidates_le=np.arange(5, dtype="<u8").tobytes())
    back = pb.SelectRequest.FromString(req.SerializeToString())
    assert back == req
    cfg = pb.PoolConfig(decay=0.0)
    assert pb.PoolConfig.FromString(cfg.SerializeToString()).HasField("decay")
    assert not pb.PoolConfig().HasField("decay")


def test_service_lists_every_method():
    methods = [m.name for m in service_pb2.DESCRIPTOR.services_by_name["Selector"].methods]
    assert methods == [
        "CreatePool", "DropPool", "ListPools", "Register", "Select", "Update", "Get",
        "Snapshot", "Restore", "ListSnapshots", "Import", "Export", "Stats", "Health",
    ]


def test_committed_type_stubs_match_proto(tmp_path):
    """mopps/v1/*_pb2.pyi (what mypy checks the client against) are protoc's --pyi_out of proto/."""
    protos = sorted(str(p.relative_to(REPO / "proto")) for p in (REPO / "proto").rglob("*.proto"))
    subprocess.run(["protoc", f"--pyi_out={tmp_path}", *protos], cwd=REPO / "proto", check=True)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.pyi"))
    committed = sorted(p.relative_to(REPO / "clients" / "python") for p in (REPO / "clients/python/mopps").rglob("*.pyi"))
    assert fresh and committed == fresh
    for rel in fresh:
        assert filecmp.cmp(REPO / "clients" / "python" / rel, tmp_path / rel, shallow=False), (
            f"{rel} is stale: cd proto && protoc --pyi_out=../clients/python $(find mopps -name '*.proto')")


def test_status_codes_are_the_wire_codes():
    from mopps import StatusCode

    assert {c.name: int(c) for c in StatusCode} == dict(pb.Code.items())
    assert StatusCode(pb.NOT_FOUND) is StatusCode.NOT_FOUND and StatusCode.NOT_FOUND == "NOT_FOUND"
    assert StatusCode(99) == 99 and StatusCode(99).name == "99"  # a newer server's code is kept
