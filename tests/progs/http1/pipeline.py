#!/usr/bin/env python3
"""An HTTP/1.1 client over TLS (or plain TCP when PLAIN=1 is in the
environment) that pipelines: each round writes a batch of requests at once
(one TLS record, or one write), then reads every response in order.

Usage: pipeline.py PORT CONNS ROUNDS BATCH...
A BATCH item is METHOD:PATH (POST sends a 100-byte body with Content-Length).
Prints one JSON object: connections, requests sent, responses per
"METHOD PATH STATUS".
"""
import contextlib
import json
import os
import socket
import ssl
import sys


def read_response(f, method):
    line = f.readline()
    if not line:
        raise EOFError("connection closed")
    status = int(line.split()[1])
    length, chunked = None, False
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v.strip())
        elif k == "transfer-encoding":
            chunked = True
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status
    if chunked:
        while True:
            size = int(f.readline().split(b";")[0], 16)
            f.read(size + 2) if size else None
            if not size:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
    elif length is not None:
        f.read(length)
    else:
        raise ValueError("response without length")
    return status


def main():
    port, conns, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    batch = [item.split(":", 1) for item in sys.argv[4:]]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    seen, sent = {}, 0
    for _ in range(conns):
        with socket.create_connection(("127.0.0.1", port)) as raw:
            plain = os.environ.get("PLAIN") == "1"
            with (contextlib.nullcontext(raw) if plain else ctx.wrap_socket(raw, server_hostname="localhost")) as s:
                f = s.makefile("rb")
                for _ in range(rounds):
                    out = b""
                    for method, path in batch:
                        body = b"x" * 100 if method == "POST" else b""
                        out += ("%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: pipeline\r\n" % (method, path)).encode()
                        if body:
                            out += b"Content-Type: text/plain\r\nContent-Length: %d\r\n" % len(body)
                        out += b"\r\n" + body
                    s.sendall(out)
                    sent += len(batch)
                    for method, path in batch:
                        key = "%s %s %d" % (method, path, read_response(f, method))
                        seen[key] = seen.get(key, 0) + 1
                f.close()
    print(json.dumps({"connections": conns, "sent": sent, "responses": seen}))


main()
