"""Envelopes: REQ, DEALER with and without the empty delimiter, and clients behind a ROUTER/DEALER proxy."""

import threading

import pytest
import zmq

from mopps.v1 import selector_pb2 as pb

PREFIX = b"/mopps.v1.Selector/"
# (method, body, reply type): empty bodies (Health, ListPools) and a non-empty one (Get of one id).
CALLS = [
    (b"Health", b"", pb.HealthResponse),
    (b"ListPools", b"", pb.ListPoolsResponse),
    (b"Get", pb.GetRequest(pool="env", ids=[7]).SerializeToString(), pb.GetResponse),
]


def check(frames, reply_type):
    assert len(frames) == 2, frames
    status = pb.Status.FromString(frames[0])
    assert status.code == pb.OK, status.message
    return reply_type.FromString(frames[1])


@pytest.fixture
def pool(client):
    client.create_pool("env", seed=1)
    client.register("env", [7])


def dealer_request(method, body, delimiter, single_frame):
    frames = [PREFIX + method] if single_frame else [PREFIX + method, body]
    return ([b""] if delimiter else []) + frames


@pytest.mark.parametrize("delimiter", [True, False])
@pytest.mark.parametrize("single_frame", [False, True])  # [method] alone stands for an empty body
def test_dealer_with_and_without_delimiter(server, pool, delimiter, single_frame):
    with zmq.Context() as ctx, ctx.socket(zmq.DEALER) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 5000)
        s.connect(server.listen)
        for method, body, reply_type in CALLS:
            if single_frame and body:
                continue
            s.send_multipart(dealer_request(method, body, delimiter, single_frame))
            reply = s.recv_multipart()
            # The reply carries the same envelope back: the delimiter only when one was sent.
            if delimiter:
                assert reply[0] == b""
                reply = reply[1:]
            check(reply, reply_type)


def test_req(server, pool):
    with zmq.Context() as ctx, ctx.socket(zmq.REQ) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 5000)
        s.connect(server.listen)
        for method, body, reply_type in CALLS:
            s.send_multipart([PREFIX + method, body])
            check(s.recv_multipart(), reply_type)


@pytest.mark.parametrize("kind", ["req", "dealer-delimiter", "dealer-bare"])
def test_clients_behind_a_router_dealer_proxy(server, pool, tmp_path, kind):
    ctx = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    back = ctx.socket(zmq.DEALER)
    for s in (front, back):
        s.setsockopt(zmq.LINGER, 0)
    front.bind(f"ipc://{tmp_path}/proxy.sock")
    back.connect(server.listen)
    control = ctx.socket(zmq.PAIR)
    control.bind("inproc://proxy-control")
    stop = ctx.socket(zmq.PAIR)
    stop.connect("inproc://proxy-control")
    thread = threading.Thread(target=zmq.proxy_steerable, args=(front, back, None, control), daemon=True)
    thread.start()
    try:
        client = ctx.socket(zmq.REQ if kind == "req" else zmq.DEALER)
        client.setsockopt(zmq.LINGER, 0)
        client.setsockopt(zmq.RCVTIMEO, 5000)
        client.connect(f"ipc://{tmp_path}/proxy.sock")
        for method, body, reply_type in CALLS:
            if kind == "req":
                client.send_multipart([PREFIX + method, body])
                reply = client.recv_multipart()
            else:
                client.send_multipart(dealer_request(method, body, kind == "dealer-delimiter", False))
                reply = client.recv_multipart()
                if kind == "dealer-delimiter":
                    assert reply[0] == b""
                    reply = reply[1:]
            check(reply, reply_type)
        client.close()
    finally:
        stop.send(b"TERMINATE")
        thread.join(5)
        for s in (front, back, control, stop):
            s.close()
        ctx.term()


def test_frames_without_a_method_get_an_error_reply(server):
    with zmq.Context() as ctx, ctx.socket(zmq.DEALER) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 5000)
        s.connect(server.listen)
        s.send_multipart([b"no-method", b"x"])
        frames = s.recv_multipart()
        assert pb.Status.FromString(frames[-2]).code == pb.UNIMPLEMENTED
