'use strict';
// An HTTP/1.1 over TLS server on Node.js's own https module (OpenSSL linked into
// the node executable, TLS over memory BIOs), with routes of known behaviour:
//   /fast     200 at once, with a Content-Length
//   /chunked  200 in three writes: a chunked body
//   /slow     200 after a setTimeout of SLOW_MS (20 ms unless --slow-ms)
//   /unavail  503
// Anything else gets a 404. Usage:
//   node server.js --cert CERT --key KEY [--slow-ms N]
// Prints "listening on 127.0.0.1:PORT" once it listens. On SIGUSR1 prints one
// JSON line: responses finished per status ("answered") and the /slow delay it
// measured itself, from arming the timer to answering, in nanoseconds:
// {"answered":{"200":n,...},"slow_delay_ns":{"count","p50"}}.
const fs = require('fs');
const https = require('https');

const { opts, usage } = require('../nodeopts.js').parseOpts(
	'node server.js (--cert CERT --key KEY | --plain 1) [--slow-ms N]', { cert: null, key: null, plain: false, slowMs: 20 },
	{ '--cert': ['cert'], '--key': ['key'], '--plain': ['plain', (v) => v === '1'], '--slow-ms': ['slowMs', Number] });
if (!opts.plain && (!opts.cert || !opts.key))
	usage('--cert and --key are required');
if (!(opts.slowMs >= 0))
	usage('--slow-ms takes a number >= 0');

const answered = {};
const slowDelays = [];

// --plain 1: the same server over plain TCP (node's http module), for the syscall reader.
const server = (opts.plain ? require('http') : https).createServer({
	...(opts.plain ? {} : { cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) }),
	keepAliveTimeout: 30000,
}, (req, res) => {
	res.on('finish', () => { answered[res.statusCode] = (answered[res.statusCode] || 0) + 1; });
	req.resume();
	req.on('end', () => {
		if (req.url === '/fast') {
			res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
			res.end('fast\n');
		} else if (req.url === '/chunked') {
			res.writeHead(200, { 'content-type': 'text/plain' });
			res.write('one\n');
			res.write('two\n');
			res.end('three\n');
		} else if (req.url === '/slow') {
			const t0 = process.hrtime.bigint();

			setTimeout(() => {
				slowDelays.push(Number(process.hrtime.bigint() - t0));
				res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
				res.end('slow\n');
			}, opts.slowMs);
		} else if (req.url === '/unavail') {
			res.writeHead(503, { 'content-type': 'text/plain', 'content-length': 8 });
			res.end('unavail\n');
		} else {
			res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 });
			res.end('not found\n');
		}
	});
});

process.on('SIGUSR1', () => {
	const d = slowDelays.slice().sort((a, b) => a - b);

	process.stdout.write(JSON.stringify({
		answered,
		slow_delay_ns: { count: d.length, p50: d.length ? d[Math.floor(d.length / 2)] : 0 },
	}) + '\n');
});
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
	process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
});
