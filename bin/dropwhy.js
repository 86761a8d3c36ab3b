#!/usr/bin/env -S node --max-semi-space-size=1
'use strict';
// The flag: a drop storm allocates many short-lived strings, and small
// young-generation semi-spaces keep peak memory down at no measurable cost in
// throughput (docs/benchmarks.md).
require('../dist/src/cli.js').main(process.argv.slice(2));
