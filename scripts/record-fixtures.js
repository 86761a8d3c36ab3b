#!/usr/bin/env node
// Records real drop events and the kernel's reason enums as test fixtures:
//   test/fixtures/loopback-drops.bin   raw struct drop_event records, as the addon delivers them
//   test/fixtures/loopback-drops.json  what was sent to produce them
//   test/fixtures/kernel-reasons.json  enum skb_drop_reason(_subsys) of this kernel
// Needs root and a built addon. Traffic goes to closed ports on loopback only.
'use strict';
const dgram = require('node:dgram');
const net = require('node:net');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { execFileSync } = require('node:child_process');
const { loadNativeBinding } = require('../dist/src/kernel/binding.js');
const { lowerFilter } = require('../dist/src/events/filter.js');

const out = join(__dirname, '..', 'test', 'fixtures');
const binding = loadNativeBinding();
const udpPort = 9;
const tcpPort = 19;

function send(type, address) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(type);
    socket.bind(0, () => {
      socket.send('dropwhy', udpPort, address, () => {
        const { port } = socket.address();
        socket.close(() => resolve(port));
      });
    });
  });
}

function connect(host) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: tcpPort });
    socket.on('connect', () => socket.destroy(resolve()));
    socket.on('error', () => resolve());
  });
}

/** The kallsyms lines of the symbols that hold these addresses, and of their neighbours. */
function kallsymsExcerpt(addresses) {
  const { Kallsyms } = require('../dist/src/kernel/kallsyms.js');
  const lines = require('node:fs').readFileSync('/proc/kallsyms', 'latin1').split('\n');
  const symbols = Kallsyms.load();
  const wanted = new Set(addresses.map((a) => symbols.symbolize(a).split('+')[0]));
  const keep = new Set();
  lines.forEach((line, i) => {
    if (wanted.has(line.split(' ')[2])) [i - 1, i, i + 1].forEach((j) => keep.add(j));
  });
  return (
    [...keep]
      .sort((a, b) => a - b)
      .map((i) => lines[i])
      .join('\n') + '\n'
  );
}

async function main() {
  const chunks = [];
  const netns = execFileSync('stat', ['-Lc', '%i', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
  const tracer = binding.openTracer({
    config: lowerFilter({ netns: Number(netns) }, 1),
    ringBytes: 1 << 20,
    countEntries: 1, // tracing counts nothing per key
    stackEntries: 1, // nor records stacks
    onBatch: (batch) => chunks.push(Buffer.from(batch)),
    onError: (error) => console.error(error),
    onLog: () => {},
  });
  const sent = [];
  sent.push({ what: 'udp4 to closed port', sport: await send('udp4', '127.0.0.1'), dport: udpPort });
  sent.push({ what: 'udp6 to closed port', sport: await send('udp6', '::1'), dport: udpPort });
  await connect('127.0.0.1');
  sent.push({ what: 'tcp4 SYN to closed port', dport: tcpPort });
  await new Promise((r) => setTimeout(r, 200));
  const counters = await tracer.stop();
  const bytes = Buffer.concat(chunks);
  writeFileSync(join(out, 'loopback-drops.bin'), bytes);
  writeFileSync(join(out, 'loopback-drops.json'), JSON.stringify({ netns: Number(netns), sent, counters }, null, 2) + '\n');
  const { decodeBatch } = require('../dist/src/events/decode.js');
  writeFileSync(join(out, 'kallsyms-excerpt.txt'), kallsymsExcerpt(decodeBatch(bytes).map((e) => e.location)));
  writeFileSync(
    join(out, 'kernel-reasons.json'),
    JSON.stringify(
      {
        kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
        reasons: binding.btfMembers('enum', 'skb_drop_reason'),
        subsystems: binding.btfMembers('enum', 'skb_drop_reason_subsys'),
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`recorded ${bytes.length / require('../dist/src/events/layout.js').EVENT_SIZE} events`, counters);
}

main();
