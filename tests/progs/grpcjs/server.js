'use strict';
// A gRPC server over TLS on @grpc/grpc-js (pure JavaScript, on Node.js's own http2),
// with methods of known latency for the tests:
//   /latscope.grpcjs.Echo/Fast  answers at once
//   /latscope.grpcjs.Echo/Slow  answers after a setTimeout of SLOW_MS (20 ms unless --slow-ms)
// Messages are opaque bytes (no protobuf): the reply is the request. Usage:
//   NODE_PATH=DIR/node_modules node server.js --cert CERT --key KEY [--slow-ms N]
// Prints "listening on 127.0.0.1:PORT" once it listens. On SIGUSR1, and once more on
// SIGINT/SIGTERM before it exits, prints one JSON line: calls answered per method and the
// Slow delay it measured itself, from arming the timer to answering, in nanoseconds:
// {"answered":{"Fast":N,"Slow":N},"slow_delay_ns":{"count","p50","p99"}}.
const fs = require('fs');
const grpc = require('@grpc/grpc-js');

const { opts, usage } = require('../nodeopts.js').parseOpts(
	'node server.js --cert CERT --key KEY [--slow-ms N]', { cert: null, key: null, slowMs: 20 },
	{ '--cert': ['cert'], '--key': ['key'], '--slow-ms': ['slowMs', Number] });
if (!opts.cert || !opts.key)
	usage('--cert and --key are needed');
if (!Number.isInteger(opts.slowMs) || opts.slowMs < 0 || opts.slowMs > 10000)
	usage('--slow-ms must be an integer from 0 to 10000');

const bytes = { serialize: (b) => b, deserialize: (b) => b };
const method = (name) => ({
	path: `/latscope.grpcjs.Echo/${name}`, requestStream: false, responseStream: false,
	requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize,
	responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize,
});
const service = { Fast: method('Fast'), Slow: method('Slow') };

const answered = { Fast: 0, Slow: 0 };
const delays = [];
const impl = {
	Fast(call, done) {
		answered.Fast++;
		done(null, call.request);
	},
	Slow(call, done) {
		const t0 = process.hrtime.bigint();
		setTimeout(() => {
			delays.push(Number(process.hrtime.bigint() - t0));
			answered.Slow++;
			done(null, call.request);
		}, opts.slowMs);
	},
};

function stats() {
	const d = delays.slice().sort((a, b) => a - b);
	const q = (p) => (d.length ? d[Math.min(d.length - 1, Math.floor(p * d.length))] : 0);
	process.stdout.write(JSON.stringify({ answered, slow_delay_ns: { count: d.length, p50: q(0.5), p99: q(0.99) } }) + '\n');
}

const server = new grpc.Server();
server.addService(service, impl);
const creds = grpc.ServerCredentials.createSsl(null,
	[{ cert_chain: fs.readFileSync(opts.cert), private_key: fs.readFileSync(opts.key) }], false);
server.bindAsync('127.0.0.1:0', creds, (err, port) => {
	if (err) {
		process.stderr.write(`server.js: ${err.message}\n`);
		process.exit(1);
	}
	process.stdout.write(`listening on 127.0.0.1:${port}\n`);
});
process.on('SIGUSR1', stats);
for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => {
		stats();
		server.forceShutdown();
		process.exit(0);
	});
