#!/usr/bin/env node
// Writes dropwhy.1, the man page, from the command table that --help is built from
// (dist/src/commands/command-line.js): the commands, each option table once with the commands that
// take it, the examples and the exit statuses. Run by `npm run build:ts` after tsc; package.json's
// "man" installs it.
'use strict';
const { writeFileSync } = require('node:fs');
const { resolve } = require('node:path');

const root = resolve(__dirname, '..');
const { COMMAND_SPECS, DEFAULT_COMMAND, EXAMPLES, EXIT_STATUS_TEXT, SUMMARY_LINE } = require(resolve(root, 'dist/src/commands/command-line.js'));
const { version } = require(resolve(root, 'package.json'));

/** Text for roff: backslashes and hyphens escaped, no line starting with a control character. */
function roff(text) {
  return String(text)
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

const bold = (text) => `\\fB${roff(text)}\\fR`;
const italic = (text) => `\\fI${roff(text)}\\fR`;

/** `-o, --output VALUE`, `--no-socket`, `--count N`. */
function optionLine(name, option) {
  const names = typeof option.alias === 'string' ? [`-${option.alias}`, `--${name}`] : [`--${name}`];
  const switches = names.map(bold).join(', ');
  if (option.type === 'boolean') return option.default === true ? `${switches}, ${bold(`--no-${name}`)}` : switches;
  return `${switches} ${italic(option.number ? 'N' : 'VALUE')}`;
}

function optionEntry(name, option) {
  const extra = [];
  if (option.array) extra.push('repeatable');
  if (option.default !== undefined && option.type !== 'boolean') extra.push(`default: ${option.default}`);
  if (option.type === 'boolean') extra.push(`default: ${option.default === true ? 'on' : 'off'}`);
  return ['.TP', optionLine(name, option), `${roff(option.describe)}${extra.length > 0 ? ` (${roff(extra.join('; '))})` : ''}.`];
}

function commandEntry(spec) {
  const words = spec.name === DEFAULT_COMMAND ? [bold('dropwhy')] : [bold('dropwhy'), bold(spec.name)];
  if (spec.options.length > 0) words.push(`[${italic('options')}]`);
  if (spec.positional) words.push(`[${italic(spec.positional.name.toUpperCase())}${spec.positional.variadic ? '...' : ''}]`);
  return ['.TP', words.join(' '), `${roff(spec.describe)}.`];
}

/** Each option table once, headed by the commands that take it, in the order they first appear. */
function optionSections() {
  const byTable = new Map();
  for (const spec of COMMAND_SPECS) {
    for (const table of spec.options) byTable.set(table, [...(byTable.get(table) ?? []), spec.name]);
  }
  const lines = [];
  for (const [table, commands] of byTable) {
    lines.push(`.SS ${roff(`Options of ${commands.join(', ')}`)}`);
    for (const [name, option] of Object.entries(table)) lines.push(...optionEntry(name, option));
  }
  return lines;
}

const expression = COMMAND_SPECS.find((spec) => spec.name === DEFAULT_COMMAND).positional.spec.describe;

const page = [
  `.TH DROPWHY 1 "" "dropwhy ${roff(version)}" "User Commands"`,
  '.SH NAME',
  `dropwhy \\- ${roff(SUMMARY_LINE.replace(/^Why did Linux drop my packet\? /, 'why did Linux drop my packet? '))}`,
  '.SH SYNOPSIS',
  `${bold('dropwhy')} [${italic('command')}] [${italic('options')}] [${italic('EXPRESSION')}] [${bold('--')} ${italic('COMMAND')} [${italic('ARGS')}...]]`,
  '.SH DESCRIPTION',
  'dropwhy attaches a BPF program to the',
  bold('skb:kfree_skb'),
  "tracepoint and reports every dropped packet with the kernel's drop reason, the kernel function that dropped it,",
  "the packet's addresses and the socket it was for; beside them, the kernel's own counters for the same drops.",
  'Data goes to standard output, messages and the closing lines to standard error.',
  '.PP',
  `${italic('EXPRESSION')}: ${roff(expression)}.`,
  '.PP',
  `After ${bold('--')}, ${italic('COMMAND')} is run once the program is attached, and only its drops are traced; dropwhy exits with its status.`,
  '.SH COMMANDS',
  ...COMMAND_SPECS.flatMap(commandEntry),
  '.SH OPTIONS',
  '.TP',
  `${bold('-h')}, ${bold('--help')}`,
  `The options of a command: ${bold('dropwhy')} ${italic('command')} ${bold('--help')}, or ${bold('dropwhy help')} ${italic('command')}.`,
  '.TP',
  bold('--version'),
  'The version.',
  ...optionSections(),
  '.SH EXIT STATUS',
  roff(EXIT_STATUS_TEXT.replace(/^Exit status: /, '')),
  '.SH ENVIRONMENT',
  '.TP',
  bold('NO_COLOR'),
  `Set to anything, no colour on a terminal (unless ${bold('--color always')}).`,
  '.SH EXAMPLES',
  ...EXAMPLES.flatMap(([command, description]) => ['.TP', bold(command.replace(/\$0/g, 'dropwhy')), `${roff(description)}.`]),
  '.SH SEE ALSO',
  `${bold('tcpdump')}(1), ${bold('pcap-filter')}(7), ${bold('nft')}(8), ${bold('tc')}(8), ${bold('nstat')}(8), ${bold('bpftool')}(8).`,
  'The README and docs/json-schema.md in the package describe the output in full.',
  '',
];

writeFileSync(resolve(root, 'dropwhy.1'), page.join('\n'));
