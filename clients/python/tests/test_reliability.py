"""Lazy Pirate retries: a lost reply is retried and an Update still applies once."""

import threading
import time

import numpy as np
import pytest
import zmq

import mopps


class LossyProxy:
    """Forwards requests to moppsd and drops the replies whose indices are in `drop` (as a flaky
    network would): the server has processed those requests, the client never hears back."""

    def __init__(self, upstream, endpoint, drop):
        self.upstream, self.endpoint, self.drop = upstream, endpoint, set(drop)
        self.seen = 0
        self.requests = []  # [method, body] of every request forwarded, retries included
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        ctx = zmq.Context.instance()
        front = ctx.socket(zmq.ROUTER)
        front.setsockopt(zmq.LINGER, 0)
        front.bind(self.endpoint)
        back = ctx.socket(zmq.DEALER)
        back.setsockopt(zmq.LINGER, 0)
        back.connect(self.upstream)
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        poller.register(back, zmq.POLLIN)
        while not self.stop.is_set():
            for sock, _ in poller.poll(50):
                if sock is front:
                    frames = front.recv_multipart()
                    self.requests.append(frames[-2:])
                    back.send_multipart(frames)
                else:
                    reply = back.recv_multipart()
                    index = self.seen
                    self.seen += 1
                    if index not in self.drop:
                        front.send_multipart(reply)
        front.close()
        back.close()

    def close(self):
        self.stop.set()
        self.thread.join()


def test_lost_update_reply_is_retried_and_applied_once(server, tmp_path):
    with mopps.Client(server.listen) as direct:
        direct.create_pool("p", seed=1)
    proxy = LossyProxy(server.listen, f"ipc://{tmp_path}/proxy.sock", drop=[0, 2])
    try:
        with mopps.Client(proxy.endpoint, timeout=0.3, retries=2) as c:
            result = c.update("p", [7], [1], rollouts=1)  # reply 0 dropped, retry answered (duplicate)
            assert result.duplicate
            c.create_pool("q", seed=2)  # reply 2 dropped; the retry finds it created
            assert c.get("p", [7]).alpha[0] == 2.0  # applied once
            assert [p.name for p in c.list_pools()] == ["p", "q"]
    finally:
        proxy.close()


def test_a_retry_is_what_makes_already_exists_and_not_found_a_success(server, tmp_path):
    """The transport marks a reply to a resent request (Reply.retried); CreatePool and DropPool take
    ALREADY_EXISTS / NOT_FOUND as their own first attempt's work only then."""
    from mopps._transport import Transport
    from mopps.v1 import selector_pb2 as pb

    with mopps.Client(server.listen) as direct:
        direct.create_pool("p", seed=1)
    proxy = LossyProxy(server.listen, f"ipc://{tmp_path}/proxy.sock", drop=[0, 2, 4])
    try:
        transport = Transport(proxy.endpoint, timeout=0.3, retries=1)
        reply = transport.request("/mopps.v1.Selector/Health", pb.HealthRequest().SerializeToString())
        assert (reply.code, reply.retried) == (mopps.StatusCode.OK, True)  # reply 0 dropped, 1 answered
        transport.close()
        with mopps.Client(proxy.endpoint, timeout=0.3, retries=2) as c:
            c.drop_pool("p")  # reply 2 dropped; the retry finds it gone: success
            c.create_pool("q", seed=2)  # reply 4 dropped; the retry finds it created: success
            assert [p.name for p in c.list_pools()] == ["q"]
            with pytest.raises(mopps.RpcError) as e:  # not retried: the pool was not there
                c.drop_pool("p")
            assert e.value.code == mopps.StatusCode.NOT_FOUND
            with pytest.raises(mopps.RpcError) as e:  # not retried: it existed before
                c.create_pool("q", seed=2)
            assert e.value.code == mopps.StatusCode.ALREADY_EXISTS
    finally:
        proxy.close()


def test_unavailable_after_the_last_retry(tmp_path):
    with mopps.Client(f"ipc://{tmp_path}/nobody.sock", timeout=0.1, retries=2) as c:
        with pytest.raises(mopps.Unavailable) as e:
            c.health()
        assert "3 attempt(s)" in str(e.value)


def test_subscribe_through_the_client(tmp_path):
    with mopps.launch(state_dir=str(tmp_path / "s")) as c:
        c.create_pool("ev", seed=1)
        events = c.subscribe(pool="ev", timeout=5)
        time.sleep(0.3)  # slow joiner: let the subscription reach the server
        sel = c.select("ev", 1, candidates=[1, 2])
        event = next(events)
        assert (event.pool, event.kind) == ("ev", "select") and event.ids.tolist() == sel.ids.tolist()
        events.close()
