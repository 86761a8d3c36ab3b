#!/usr/bin/env node
'use strict';
// Writes src/events/layout.generated.ts, the TypeScript side of bpf/event.h, from
// what the compiler laid out: clang compiles scripts/layout-types.c (the header's
// types, each named once) for BPF, and the object's BTF gives every struct's size
// and member offsets and every enumerator's value. One definition, no mirror.
// Run by npm run build:ts before tsc; needs clang and bpftool (scripts/setup.sh).
// A struct with an implicit hole (padding the header does not spell out) is refused.
const { execFileSync } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const SOURCE = join(__dirname, 'layout-types.c');
const OUTPUT = join(ROOT, 'src', 'events', 'layout.generated.ts');
/** The struct in layout-types.c whose members name the types to emit. */
const ANCHOR = 'dropwhy_layout';

/** A program on PATH, else in the sbin directories a non-root PATH often lacks (Debian's bpftool). */
function tool(name) {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`gen-layout: ${name} not found (scripts/setup.sh installs it)`);
}

/** bpftool's JSON dump of the BTF of layout-types.c compiled for BPF. */
function compileBtf() {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-layout-'));
  try {
    const object = join(dir, 'layout.o');
    execFileSync(tool('clang'), ['-target', 'bpf', '-g', '-I', join(ROOT, 'bpf'), '-c', SOURCE, '-o', object], { stdio: ['ignore', 'inherit', 'inherit'] });
    const json = execFileSync(tool('bpftool'), ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8', maxBuffer: 16 << 20 });
    // Enumerator values as strings: bpftool prints a negative one as its 64-bit two's complement, beyond a double's precision.
    return JSON.parse(json.replace(/"val":(-?\d+)/g, '"val":"$1"'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An enumerator's value as a number: a 64-bit two's complement read as negative. */
function enumValue(name, text) {
  const value = BigInt.asIntN(64, BigInt(text));
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`gen-layout: ${name} = ${value} does not fit a double`);
  return Number(value);
}

/**
 * The layout the BTF describes: for each type the anchor struct names, a struct's size and
 * byte offsets (its pad members left out) or an enum's enumerators.
 */
function layoutFromBtf(btf) {
  const byId = new Map(btf.types.map((type) => [type.id, type]));
  const resolve = (id) => {
    let type = byId.get(id);
    while (type && ['TYPEDEF', 'CONST', 'VOLATILE'].includes(type.kind)) type = byId.get(type.type_id);
    if (!type) throw new Error(`gen-layout: BTF type ${id} missing`);
    return type;
  };
  const sizeOf = (type) => (type.kind === 'ARRAY' ? type.nr_elems * sizeOf(resolve(type.type_id)) : type.size);
  const anchor = btf.types.find((type) => type.kind === 'STRUCT' && type.name === ANCHOR);
  if (!anchor) throw new Error(`gen-layout: no struct ${ANCHOR} in the BTF`);
  const structs = {};
  const enums = {};
  for (const member of anchor.members) {
    const type = resolve(member.type_id);
    if (type.kind === 'STRUCT') structs[type.name] = structLayout(type, resolve, sizeOf);
    else if (type.kind === 'ENUM') enums[type.name] = Object.fromEntries(type.values.map(({ name, val }) => [name, enumValue(name, String(val))]));
    else throw new Error(`gen-layout: ${ANCHOR}.${member.name} is a ${type.kind}, not a struct or an enum`);
  }
  return { structs, enums };
}

function structLayout(type, resolve, sizeOf) {
  const offsets = {};
  let end = 0;
  for (const member of type.members) {
    if (member.bits_offset % 8 !== 0 || member.bitfield_size) throw new Error(`gen-layout: ${type.name}.${member.name} is a bit field`);
    const offset = member.bits_offset / 8;
    if (offset !== end) throw new Error(`gen-layout: struct ${type.name} has an implicit hole of ${offset - end} bytes before ${member.name}: spell it out as a pad member`);
    if (member.name !== 'pad') offsets[member.name] = offset;
    end = offset + sizeOf(resolve(member.type_id));
  }
  if (end !== type.size) throw new Error(`gen-layout: struct ${type.name} ends with ${type.size - end} bytes of implicit padding: spell it out as a pad member`);
  return { size: type.size, offsets };
}

function render({ structs, enums }) {
  const lines = [
    '// Generated from bpf/event.h by scripts/gen-layout.js (the BTF of scripts/layout-types.c): do not edit.',
    '// npm run build:ts writes it again; src/events/layout.ts gives it the names the code uses.',
  ];
  for (const [name, { size, offsets }] of Object.entries(structs)) {
    lines.push(
      '',
      `/** struct ${name}: its size and its members' byte offsets (explicit padding left out). */`,
      `export const ${name} = {`,
      `  size: ${size},`,
      '  offsets: {',
    );
    for (const [member, offset] of Object.entries(offsets)) lines.push(`    ${member}: ${offset},`);
    lines.push('  },', '} as const;');
  }
  for (const [name, values] of Object.entries(enums)) {
    lines.push('', `/** enum ${name} */`, `export const ${name} = {`);
    for (const [enumerator, value] of Object.entries(values)) lines.push(`  ${enumerator}: ${value},`);
    lines.push('} as const;');
  }
  return lines.join('\n') + '\n';
}

module.exports = { layoutFromBtf, render };

if (require.main === module) {
  try {
    const text = render(layoutFromBtf(compileBtf()));
    // Rewritten only when it changed: an unchanged file keeps its time for tsc and editors.
    if (!existsSync(OUTPUT) || readFileSync(OUTPUT, 'utf8') !== text) writeFileSync(OUTPUT, text);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
