"""A gRPC server over TLS on Debian's python3-grpcio, with protobuf messages
(python3-protobuf's C++ implementation, so they parse and serialize in
libprotobuf) and methods of known latency, for the tests:
  /latscope.pygrpc.Echo/Fast  answers at once
  /latscope.pygrpc.Echo/Slow  answers after sleeping SLOW_MS (20 ms unless --slow-ms)
Requests and replies are latscope.pygrpc.Numbers (repeated double values,
repeated string names), a message type of the service's own as a generated
_pb2 module would declare it: the reply echoes the request, so a large request
costs a large decode and encode.
usage: /usr/bin/python3 server.py --cert CERT --key KEY [--slow-ms N] [--workers N]
       /usr/bin/python3 server.py --body N   (a gRPC request of N values and N names on stdout)
Prints "listening on 127.0.0.1:PORT" once it listens. On SIGUSR1, and once more
on SIGINT/SIGTERM before it exits, prints one JSON line: calls answered per
method and the Slow delay it measured, in nanoseconds:
{"answered":{"Fast":N,"Slow":N},"slow_delay_ns":{"count":N,"p50":N,"p99":N}}.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "latscope.pygrpc.Echo"


def numbers_class():
    """The Numbers message class, declared the way a generated _pb2 module does."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="latscope_pygrpc.proto", package="latscope.pygrpc")
    m = fdp.message_type.add(name="Numbers")
    m.field.add(name="values", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_REPEATED)
    m.field.add(name="names", number=2, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    pool = descriptor_pool.Default()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("latscope.pygrpc.Numbers")
    return message_factory.MessageFactory(pool).GetPrototype(desc)


Numbers = numbers_class()


def write_body(n):
    """A gRPC-framed Numbers of n values and n names, for h2load -d."""
    m = Numbers()
    m.values.extend(float(i) for i in range(n))
    m.names.extend("n%d" % i for i in range(n))
    b = m.SerializeToString()
    sys.stdout.buffer.write(b"\0" + len(b).to_bytes(4, "big") + b)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.answered = {"Fast": 0, "Slow": 0}
        self.delays = []

    def add(self, name, delay_ns=None):
        with self.lock:
            self.answered[name] += 1
            if delay_ns is not None:
                self.delays.append(delay_ns)

    def line(self):
        with self.lock:
            d = sorted(self.delays)
            pick = lambda q: d[min(len(d) - 1, int(q * len(d)))] if d else 0
            return json.dumps({"answered": dict(self.answered),
                               "slow_delay_ns": {"count": len(d), "p50": pick(0.5), "p99": pick(0.99)}})


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--body":
        write_body(int(sys.argv[2]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--slow-ms", type=int, default=20)
    ap.add_argument("--workers", type=int, default=8)
    a = ap.parse_args()
    if not 0 <= a.slow_ms <= 10000 or not 1 <= a.workers <= 256:
        ap.error("--slow-ms must be 0 to 10000, --workers 1 to 256")
    stats = Stats()

    def fast(req, ctx):
        stats.add("Fast")
        return req

    def slow(req, ctx):
        t0 = time.monotonic_ns()
        time.sleep(a.slow_ms / 1000)
        stats.add("Slow", time.monotonic_ns() - t0)
        return req

    handler = lambda f: grpc.unary_unary_rpc_method_handler(
        f, request_deserializer=Numbers.FromString,
        response_serializer=Numbers.SerializeToString)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=a.workers))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        SERVICE, {"Fast": handler(fast), "Slow": handler(slow)}),))
    with open(a.key, "rb") as k, open(a.cert, "rb") as c:
        creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
    port = server.add_secure_port("127.0.0.1:0", creds)
    if not port:
        sys.exit("server.py: cannot listen")
    done = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: print(stats.line(), flush=True))
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    while not done.wait(0.5):
        pass
    print(stats.line(), flush=True)
    # grpc's shutdown can wait on calls in flight; the tests want the process gone now.
    os._exit(0)


if __name__ == "__main__":
    main()
