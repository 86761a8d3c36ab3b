#!/usr/bin/env node
'use strict';
// npm's install script. A source tree builds its addon with npm run build
// (scripts/setup.sh), so nothing happens there. An installed package keeps
// using its prebuilt addon when it loads here; it builds from source
// (npm run build:native: cmake-js, clang, libbpf-dev, bpftool, cmake) only when
// no addon fits this machine, or when DROPWHY_BUILD_FROM_SOURCE=1 asks for it.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
// A source tree is told by its TypeScript sources, which the package does not ship (package.json
// "files"), not by .git: a copy without it (Vagrant's rsync, a container build's COPY) is one too.
if (existsSync(join(root, 'tsconfig.json')) && existsSync(join(root, 'src', 'cli.ts'))) process.exit(0);

if (process.env.DROPWHY_BUILD_FROM_SOURCE !== '1') {
  const { loadAddon } = require('../dist/src/kernel/addon-loader.js');
  try {
    loadAddon({ env: {} }); // DROPWHY_ADDON is a run-time choice; this is about the package's own addon
    process.exit(0);
  } catch (error) {
    // Building needs the same library (libbpf-dev brings libbpf1): say what to
    // install and leave the package in place; every command says it again.
    if (error.library) {
      console.error(`dropwhy: ${error.message}`);
      process.exit(0);
    }
    console.error(`dropwhy: ${error.problem}; building it from source`);
  }
}
const build = spawnSync(process.execPath, [process.env.npm_execpath, 'run', 'build:native'], { cwd: root, stdio: 'inherit' });
process.exit(build.status ?? 1);
