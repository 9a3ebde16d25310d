#!/usr/bin/env bash
# Fuzz what latscope export reads from strangers (tests/fuzz/fuzz_httpd.c): request
# heads for its /metrics endpoint, from the heads real clients send (Prometheus, curl,
# HTTP/1.0, pipelined, cut short, bad versions), and label values from clients' paths
# (quotes, backslashes, newlines, escape sequences, invalid UTF-8).
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
head() { printf '\x00'; printf "$1"; }
head 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.42.0\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n' > "$TMP/corpus/prometheus"
head 'GET /metrics?x=1#f HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n' > "$TMP/corpus/curl"
head 'HEAD / HTTP/1.0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' > "$TMP/corpus/pipelined"
head 'GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\nX-Folded: a\r\n b\r\n\r\n' > "$TMP/corpus/twohosts"
head 'POST /metrics HTTP/2.0\r\nContent-Length: 5\r\n\r\nhello' > "$TMP/corpus/post"
head 'GET /metr' > "$TMP/corpus/cut"
printf '\x01/latscope.example.Echo/Fast"\\\n\x00\x1b[2J' > "$TMP/corpus/label-escapes"
printf '\x01/\xc3\x28\xa0\xa1/\xed\xa0\x80/\xf0\x9f\x98\x80\x7f' > "$TMP/corpus/label-utf8"
fuzz_run httpd "$TMP/corpus" -max_len=9000
