#!/usr/bin/env -S node --max-semi-space-size=1
'use strict';
// The flag: a drop storm allocates many short-lived strings, and small
// young-generation semi-spaces keep peak memory down at no measurable cost in
// throughput (docs/benchmarks.md).
// Stop signals are listened for before anything else loads: a Ctrl-C while the modules load stops
// dropwhy cleanly (exit 0, the closing line), as one at any later moment does.
const early = new (require('../dist/src/signals.js').EarlySignals)(process);
// V8's compile cache (Node 22.1+; older Nodes have no enableCompileCache and skip it): a later start loads
// the compiled code of dropwhy's modules and its dependencies' from os.tmpdir() instead of compiling them.
require('node:module').enableCompileCache?.();
require('../dist/src/cli.js').main(process.argv.slice(2), early);
