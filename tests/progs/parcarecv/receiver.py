#!/usr/bin/python3
"""A Parca profile store for tests, on loopback: gRPC over HTTP/2 in the clear (h2c),
answering parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw. Each request's
WriteRawRequest is decoded (protobuf, by hand: series = 2 { labels = 1 { labels = 1
{ name = 1, value = 2 } }, samples = 2 { raw_profile = 1 } }); each sample goes to
DIR/N.pb.gz with its series' labels in DIR/N.json. Answers grpc-status 0 (or 12,
UNIMPLEMENTED, to any other path). Prints "listening on 127.0.0.1:PORT"; logs one line
per call on stderr.

usage: receiver.py DIR
"""
import json
import os
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events

DIR = sys.argv[1]
PATH = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"
state = {"n": 0, "lock": threading.Lock()}


def fields(buf):
    """(field number, wire type, value) of a protobuf message; value bytes for type 2."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
            if i > len(buf):
                raise ValueError("truncated field")
        else:
            raise ValueError("unexpected wire type %d" % wt)
        yield num, wt, v


def varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def save(body):
    if len(body) < 5 or body[0] != 0 or int.from_bytes(body[1:5], "big") != len(body) - 5:
        raise ValueError("bad gRPC framing")
    for num, _, series in fields(body[5:]):
        if num != 2:
            continue
        labels, samples = {}, []
        for f, _, v in fields(series):
            if f == 1:
                for g, _, label in fields(v):
                    kv = {h: val.decode() for h, _, val in fields(label)}
                    labels[kv[1]] = kv[2]
            elif f == 2:
                samples += [val for h, _, val in fields(v) if h == 1]
        for raw in samples:
            with state["lock"]:
                state["n"] += 1
                n = state["n"]
            with open(os.path.join(DIR, "%d.pb.gz" % n), "wb") as f:
                f.write(raw)
            with open(os.path.join(DIR, "%d.json" % n), "w") as f:
                json.dump(labels, f)


def serve(sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    streams = {}
    while True:
        data = sock.recv(65536)
        if not data:
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                streams[ev.stream_id] = {"headers": dict(ev.headers), "body": b""}
            elif isinstance(ev, h2.events.DataReceived):
                streams[ev.stream_id]["body"] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                st = streams.pop(ev.stream_id)
                path = st["headers"].get(b":path", b"").decode()
                status = "12"
                if path == PATH and st["headers"].get(b"content-type") == b"application/grpc":
                    save(st["body"])
                    status = "0"
                sys.stderr.write("receiver: %s grpc-status %s (%d bytes)\n" % (path, status, len(st["body"])))
                conn.send_headers(ev.stream_id, [(":status", "200"), ("content-type", "application/grpc")])
                if status == "0":
                    conn.send_data(ev.stream_id, b"\x00\x00\x00\x00\x00")  # WriteRawResponse {}
                conn.send_headers(ev.stream_id, [("grpc-status", status)], end_stream=True)
        sock.sendall(conn.data_to_send())


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
while True:
    s, _ = listener.accept()
    threading.Thread(target=serve, args=(s,), daemon=True).start()
