'use strict';
// An HTTP/2 over TLS (or, with --plain, plaintext h2c) server on Node.js's own http2 module (OpenSSL and nghttp2
// linked into the node executable), with routes of known latency for the tests:
//   /fast   answers at once
//   /slow   answers after a setTimeout of SLOW_MS (20 ms unless --slow-ms)
//   /big    answers with BIG_BYTES of body (256 KiB unless --big-bytes)
// Anything else gets a 404. Usage:
//   node server.js --cert CERT --key KEY [--slow-ms N] [--big-bytes N]
//   node server.js --plain 1 [--slow-ms N] [--big-bytes N]   (http2.createServer: h2c)
// Prints "listening on 127.0.0.1:PORT" once it listens (port 0: the kernel's
// choice). On SIGUSR1, and once more on SIGINT/SIGTERM before it exits, prints
// one JSON line: requests received per route ("served"), responses that ended
// normally per route ("answered": the stream closed without a reset), and the
// /slow delay it measured itself, from arming the timer to answering, in
// nanoseconds: {"served":{...},"answered":{...},"slow_delay_ns":{"count","p50","p99"}}.
const fs = require('fs');
const http2 = require('http2');

const { opts, usage } = require('../nodeopts.js').parseOpts(
	'node server.js (--cert CERT --key KEY | --plain 1) [--slow-ms N] [--big-bytes N]',
	{ cert: null, key: null, plain: false, slowMs: 20, bigBytes: 256 * 1024 },
	{ '--cert': ['cert'], '--key': ['key'], '--plain': ['plain', (v) => v === '1'],
	  '--slow-ms': ['slowMs', Number], '--big-bytes': ['bigBytes', Number] });
if (!opts.plain && (!opts.cert || !opts.key))
	usage('--cert and --key are required (or --plain 1)');
if (!(opts.slowMs >= 0) || !(opts.bigBytes >= 0))
	usage('--slow-ms and --big-bytes take a number >= 0');

const served = { fast: 0, slow: 0, big: 0, other: 0 };
const answered = { fast: 0, slow: 0, big: 0, other: 0 };
const slowDelays = []; // ns from arming the timer to answering, per /slow request
const big = Buffer.alloc(opts.bigBytes, 'x');

function answer(stream, body) {
	if (stream.destroyed)
		return;
	stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': body.length });
	stream.end(body);
}

const server = opts.plain ? http2.createServer() : http2.createSecureServer({
	cert: fs.readFileSync(opts.cert),
	key: fs.readFileSync(opts.key),
});

server.on('stream', (stream, headers) => {
	const path = headers[':path'];
	const route = path === '/fast' ? 'fast' : path === '/slow' ? 'slow' : path === '/big' ? 'big' : 'other';

	stream.on('error', () => {});
	stream.on('close', () => {
		if (stream.headersSent && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR)
			answered[route]++;
	});
	if (path === '/fast') {
		served.fast++;
		answer(stream, 'fast\n');
	} else if (path === '/slow') {
		const t0 = process.hrtime.bigint();

		served.slow++;
		setTimeout(() => {
			slowDelays.push(Number(process.hrtime.bigint() - t0));
			answer(stream, 'slow\n');
		}, opts.slowMs);
	} else if (path === '/big') {
		served.big++;
		answer(stream, big);
	} else {
		served.other++;
		if (!stream.destroyed) {
			stream.respond({ ':status': 404 });
			stream.end();
		}
	}
});

function pct(sorted, q) {
	if (!sorted.length)
		return 0;
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function report() {
	const s = slowDelays.slice().sort((a, b) => a - b);
	process.stdout.write(JSON.stringify({
		served,
		answered,
		slow_delay_ns: { count: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99) },
	}) + '\n');
}

process.on('SIGUSR1', report);
for (const sig of ['SIGINT', 'SIGTERM']) {
	process.on(sig, () => {
		report();
		process.exit(0);
	});
}

server.listen(0, '127.0.0.1', () => {
	process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
});
