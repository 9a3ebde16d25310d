#!/usr/bin/env python3
"""A plain HTTP upstream of known latency, for a proxy under test.

/slow answers after --slow-ms (the delay it measured is kept), /chunk answers
without a length, closing the connection (the proxy re-frames it, as chunked
for HTTP/1.1 clients), anything else 200. Prints "listening on 127.0.0.1:PORT";
on SIGUSR1 prints one JSON line: requests answered per path and the /slow
delay's median in ns.
"""
import argparse
import http.server
import json
import signal
import sys
import threading
import time

answered = {}
delays = []
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        body = b"upstream\n"
        if path == "/slow":
            t0 = time.monotonic_ns()
            time.sleep(ARGS.slow_ms / 1000.0)
            with lock:
                delays.append(time.monotonic_ns() - t0)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if path != "/chunk":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with lock:
            answered[path] = answered.get(path, 0) + 1


def stats(*_):
    with lock:
        d = sorted(delays)
        out = {"answered": dict(answered), "slow_delay_ns": {"p50": d[len(d) // 2] if d else 0, "n": len(d)}}
    print(json.dumps(out), flush=True)


p = argparse.ArgumentParser()
p.add_argument("--slow-ms", type=float, default=50)
ARGS = p.parse_args()
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
signal.signal(signal.SIGUSR1, stats)
print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
