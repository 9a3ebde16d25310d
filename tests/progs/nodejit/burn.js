// A named JavaScript function burning CPU in a busy loop, for record's JIT
// frames (run with node --perf-basic-prof). Called from a timer so that the
// compiler has no caller to inline it into: its own frame stays on the stack.
'use strict';

function burnTheCpu(n) {
	let x = 0;
	for (let i = 0; i < n; i++)
		x += Math.sqrt(i) * 1.0001;
	return x;
}

let sink = 0;
function tick() {
	sink += burnTheCpu(5e6);
	setImmediate(tick);
}

console.log('ready');
tick();
