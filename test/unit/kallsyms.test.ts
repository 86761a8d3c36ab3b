import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kallsyms } from '../../src/kernel/kallsyms';

const TEXT = [
  'ffffffff81000000 T _stext',
  'ffffffff81000100 t helper_a',
  'ffffffff81000200 D some_data',
  'ffffffff81000300 T helper_b',
  'ffffffffc0a01000 t veth_xmit\t[veth]',
  'ffffffff80ffff00 T before_text',
  '',
].join('\n');

const at = (hex: string) => ({ hi: parseInt(hex.slice(0, 8), 16), lo: parseInt(hex.slice(8), 16) });

test('symbolizes to the closest code symbol at or below, as sym+0xoff', () => {
  const symbols = new Kallsyms(TEXT);
  assert.equal(symbols.symbolize(at('ffffffff81000000')), '_stext+0x0');
  assert.equal(symbols.symbolize(at('ffffffff810001ff')), 'helper_a+0xff');
  assert.equal(symbols.symbolize(at('ffffffff81000250')), 'helper_a+0x150', 'data symbols are skipped');
  assert.equal(symbols.symbolize(at('ffffffff81000304')), 'helper_b+0x4');
  assert.equal(symbols.symbolize(at('ffffffffc0a01010')), 'veth_xmit+0x10', 'module symbols lose their [module] tag');
  assert.equal(symbols.symbolize(at('ffffffff80ffff08')), 'before_text+0x8', 'input order does not matter');
});

test('symbols after the sorted start land in order wherever they fall: before, between and after it', () => {
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const address = (i: number) => `ffffffff8100${(i * 0x100).toString(16).padStart(4, '0')}`;
  // The sorted start holds c, e, f; the rest follow unsorted, as the modules' symbols do.
  const lines = [2, 4, 5, 0, 7, 6, 3, 1].map((i) => `${address(i)} t ${names[i]}`);
  const symbols = new Kallsyms(lines.join('\n') + '\n');
  names.forEach((name, i) => assert.equal(symbols.symbolize(at(address(i).replace(/00$/, '07'))), `${name}+0x7`));
});

test('an address below every symbol, or in another upper half, has no symbol', () => {
  const symbols = new Kallsyms(TEXT);
  assert.equal(symbols.symbolize(at('ffffffff80000000')), null);
  assert.equal(symbols.symbolize(at('ffff888100000000')), null);
});

test('repeated lookups come from the cache with the same answer', () => {
  const symbols = new Kallsyms(TEXT);
  const first = symbols.symbolize(at('ffffffff81000301'));
  assert.equal(symbols.symbolize(at('ffffffff81000301')), first);
  assert.equal(first, 'helper_b+0x1');
});

test('addresses hidden by kptr_restrict (all zero) give an empty table', () => {
  const symbols = new Kallsyms('0000000000000000 T _stext\n0000000000000000 t helper_a\n');
  assert.equal(symbols.size, 0);
  assert.equal(symbols.symbolize(at('ffffffff81000000')), null);
});

test("loads this machine's /proc/kallsyms", () => {
  const symbols = Kallsyms.load();
  assert.ok(symbols.size > 1000 || symbols.size === 0, `unexpected symbol count ${symbols.size}`);
});
