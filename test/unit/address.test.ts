import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress, parseAddressPrefix, prefixMatches } from '../../src/events/address';

test('parses IPv4 and IPv6 with and without a prefix length', () => {
  assert.deepEqual(parseAddressPrefix('10.1.2.3')?.bytes.subarray(0, 4), Uint8Array.from([10, 1, 2, 3]));
  assert.equal(parseAddressPrefix('10.0.0.0/8')?.prefixLength, 8);
  assert.equal(parseAddressPrefix('fd00::1')?.prefixLength, 128);
  assert.equal(parseAddressPrefix('fd00::/16')?.family, 6);
  const mapped = parseAddressPrefix('::ffff:1.2.3.4')!;
  assert.deepEqual([...mapped.bytes.subarray(10)], [0xff, 0xff, 1, 2, 3, 4]);
});

test('rejects what is not an address or a valid length', () => {
  for (const bad of ['', '10.0.0', '10.0.0.256', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/a', 'host', '1::2::3']) {
    assert.equal(parseAddressPrefix(bad), null, bad);
  }
});

test('prefix matching', () => {
  const net = parseAddressPrefix('198.18.0.0/15')!;
  assert.ok(prefixMatches(parseAddressPrefix('198.19.255.1')!.bytes, net));
  assert.ok(!prefixMatches(parseAddressPrefix('198.20.0.1')!.bytes, net));
  const any = parseAddressPrefix('0.0.0.0/0')!;
  assert.ok(prefixMatches(parseAddressPrefix('1.2.3.4')!.bytes, any));
  const v6 = parseAddressPrefix('fd00:dd:1::/63')!;
  assert.ok(prefixMatches(parseAddressPrefix('fd00:dd:1:1::5')!.bytes, v6));
  assert.ok(!prefixMatches(parseAddressPrefix('fd00:dd:1:2::5')!.bytes, v6));
});

test('formats IPv6 in RFC 5952 form', () => {
  const round = (text: string) => formatAddress(parseAddressPrefix(text)!.bytes, 6);
  assert.equal(round('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(round('FD00:00dd:0:0:0:0:0:2'), 'fd00:dd::2');
  assert.equal(round('1:0:0:2:0:0:0:3'), '1:0:0:2::3', 'the longest zero run is compressed');
  assert.equal(round('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7', 'a single zero group is not');
  assert.equal(round('::'), '::');
  assert.equal(formatAddress(parseAddressPrefix('192.0.2.7')!.bytes, 4), '192.0.2.7');
});
