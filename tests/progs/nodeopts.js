'use strict';
// The command line of the Node.js test servers: "--name VALUE" pairs. names maps
// each option to [key in opts, parse function (none: the string)]; a missing
// value or an unknown option ends the process with status 2 and the usage line,
// as usage(msg) does for the server's own checks.
function parseOpts(usageLine, defaults, names) {
	const usage = (msg) => {
		process.stderr.write(`server.js: ${msg}\nusage: ${usageLine}\n`);
		process.exit(2);
	};
	const opts = Object.assign({}, defaults);
	for (let i = 2; i < process.argv.length; i += 2) {
		const a = process.argv[i], v = process.argv[i + 1];
		const spec = names[a];
		if (v === undefined)
			usage(`${a} needs a value`);
		if (!spec)
			usage(`unknown option ${a}`);
		opts[spec[0]] = spec[1] ? spec[1](v) : v;
	}
	return { opts, usage };
}

module.exports = { parseOpts };
