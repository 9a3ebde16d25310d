#!/usr/bin/python3
"""An OTLP/HTTP JSON trace receiver for tests, on loopback: accepts POST /v1/traces,
answers 503 to the first BUSY requests (to exercise the sender's retries), then 200,
and writes each accepted body to DIR/N.json. Prints "listening on 127.0.0.1:PORT" and
logs one line per request on stderr.

usage: receiver.py DIR BUSY
"""
import http.server
import json
import os
import sys

DIR, BUSY = sys.argv[1], int(sys.argv[2])
state = {"seen": 0, "saved": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        state["seen"] += 1
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/json":
            self.send_response(404)
        elif state["seen"] <= BUSY:
            self.send_response(503)
        else:
            json.loads(body)  # a body that is not JSON fails the request (500)
            state["saved"] += 1
            with open(os.path.join(DIR, "%d.json" % state["saved"]), "wb") as f:
                f.write(body)
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, fmt, *args):
        sys.stderr.write("receiver: " + (fmt % args) + "\n")


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
