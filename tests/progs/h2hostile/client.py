#!/usr/bin/python3
"""A hostile HTTP/2 client: requests whose :method, :path and grpc-status carry quotes,
backslashes, newlines, NUL, escape sequences and invalid UTF-8, sent with header
validation switched off, over TLS to 127.0.0.1:PORT. Waits for every response and
prints "sent N answered M".

usage: client.py PORT ROUNDS
"""
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events

HOSTILE = [
    b'GET"\\\n\x00\x1b[2J\x1b]0;owned\x07',
    b'P\xc0\xaf\xff\xfeST',
    b'\x1b[31mRED\x1b[0m',
]
PATHS = [
    b'/latscope.example.Echo/Fast"\\\n\x00\x1b[2J',
    b'/\xc3\x28\xa0\xa1/\xed\xa0\x80/\xf0\x9f\x98\x80',
    b'/\x1b]52;c;ZXZpbAo=\x07/clipboard',
]


def main():
    port, rounds = int(sys.argv[1]), int(sys.argv[2])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    cfg = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                    normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    sent = answered = 0
    open_streams = set()
    for r in range(rounds):
        for i in range(len(HOSTILE)):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(b':method', HOSTILE[(i + r) % len(HOSTILE)]), (b':scheme', b'https'),
                                    (b':authority', b'127.0.0.1'), (b':path', PATHS[i]),
                                    (b'grpc-status', b'9\x1b[1m"\n'), (b'content-type', b'application/grpc')],
                              end_stream=True)
            open_streams.add(sid)
            sent += 1
        sock.sendall(conn.data_to_send())
        while open_streams:
            data = sock.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and ev.stream_id in open_streams:
                    open_streams.discard(ev.stream_id)
                    answered += isinstance(ev, h2.events.StreamEnded)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    print("sent %d answered %d" % (sent, answered))


if __name__ == "__main__":
    main()
