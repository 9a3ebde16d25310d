#!/usr/bin/python3
"""A Pyroscope ingestion receiver for tests, on loopback. MODE "push": its push API,
POST /push.v1.PusherService/Push (Connect JSON: series of labels and samples whose
rawProfile is a base64 pprof); MODE "legacy": that answers 404, as servers without it
do, and POST /ingest?name=NAME{k=v,...}&format=pprof&from=&until= takes the pprof as
the body. Each profile received goes to DIR/N.pb.gz with its labels in DIR/N.json.
Prints "listening on 127.0.0.1:PORT"; logs one line per request on stderr.

usage: receiver.py DIR MODE
"""
import base64
import http.server
import json
import os
import sys
import urllib.parse

DIR, MODE = sys.argv[1], sys.argv[2]
state = {"n": 0}


def save(labels, profile):
    state["n"] += 1
    with open(os.path.join(DIR, "%d.pb.gz" % state["n"]), "wb") as f:
        f.write(profile)
    with open(os.path.join(DIR, "%d.json" % state["n"]), "w") as f:
        json.dump(labels, f)


def legacy_labels(name):
    # NAME{k=v,k=v}
    app, _, rest = name.partition("{")
    labels = {"__name__": app}
    for kv in rest.rstrip("}").split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            labels[k] = v
    return labels


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        url = urllib.parse.urlparse(self.path)
        code = 404
        if url.path == "/push.v1.PusherService/Push" and MODE == "push":
            req = json.loads(body)
            for series in req["series"]:
                labels = {l["name"]: l["value"] for l in series["labels"]}
                for sample in series["samples"]:
                    save(labels, base64.b64decode(sample["rawProfile"]))
            code = 200
        elif url.path == "/ingest" and MODE == "legacy":
            q = urllib.parse.parse_qs(url.query)
            if q.get("format") == ["pprof"] and int(q["until"][0]) >= int(q["from"][0]):
                save(legacy_labels(q["name"][0]), body)
                code = 200
            else:
                code = 400
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("receiver: " + (fmt % args) + "\n")


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
