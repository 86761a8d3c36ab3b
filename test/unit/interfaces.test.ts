import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InterfaceNames, parseLinkList } from '../../src/kernel/interfaces';
import { fixtureBytes } from './fixtures';

const listing = (name: string) => fixtureBytes(`ip-link/${name}`).toString('utf8');

test('ip -o link: ifindex → name, without the "@peer" ip appends to a veth', () => {
  assert.deepEqual(
    [...parseLinkList(listing('veth-pair.txt'))],
    [
      [1, 'lo'],
      [2, 'dwv1'],
      [3, 'dwv0'],
    ],
  );
  // A peer in another namespace is "@ifN"; the altname after the link line is no interface of its own.
  assert.deepEqual(
    [...parseLinkList(listing('veth-peer-elsewhere.txt'))],
    [
      [1, 'lo'],
      [2, 'dwx0'],
    ],
  );
  assert.deepEqual([...parseLinkList('')], []);
  assert.deepEqual([...parseLinkList('Cannot open netlink socket: Permission denied\n')], []);
});

/** An InterfaceNames whose listings come from fixtures by netns and whose clock the test moves. */
function namesFrom(listings: Map<number, string[]>) {
  const clock = { ms: 0 };
  const calls: number[] = [];
  const errors: number[] = [];
  const names = new InterfaceNames(
    async (netns) => {
      calls.push(netns);
      const next = listings.get(netns)?.shift();
      if (next === undefined) throw new Error(`no listing of ${netns}`);
      return next === 'none' ? null : parseLinkList(listing(next));
    },
    (netns) => void errors.push(netns),
    () => clock.ms,
    1000,
    10_000,
  );
  return { names, clock, calls, errors };
}

test('a lookup never waits: null until the namespace is listed, then every name of it from one listing', async () => {
  const { names, calls } = namesFrom(new Map([[7, ['veth-pair.txt']]]));
  assert.equal(names.name(7, 3), null);
  assert.equal(names.name(7, 2), null); // the listing under way is not started again
  await names.load(7); // joins the listing under way
  assert.deepEqual(calls, [7]);
  assert.equal(names.name(7, 3), 'dwv0');
  assert.equal(names.name(7, 2), 'dwv1');
  assert.equal(names.name(7, 1), 'lo');
  assert.deepEqual(calls, [7]);
});

test('namespaces apart: the same ifindex has a name per namespace; no interface or no namespace is null without a listing', async () => {
  const { names, calls } = namesFrom(
    new Map([
      [7, ['veth-pair.txt']],
      [8, ['veth-peer-elsewhere.txt']],
    ]),
  );
  await Promise.all([names.load(7), names.load(8)]);
  assert.equal(names.name(7, 2), 'dwv1');
  assert.equal(names.name(8, 2), 'dwx0');
  assert.equal(names.name(7, 0), null);
  assert.equal(names.name(null, 2), null);
  assert.deepEqual(calls, [7, 8]);
});

test('a miss lists the namespace again, at most once per rescan interval; old lists are renewed', async () => {
  const { names, clock, calls } = namesFrom(new Map([[7, ['veth-peer-elsewhere.txt', 'veth-pair.txt', 'veth-peer-elsewhere.txt']]]));
  await names.load(7);
  assert.equal(names.name(7, 3), null); // new since the listing, but the listing is fresh
  assert.deepEqual(calls, [7]);
  clock.ms = 1000;
  assert.equal(names.name(7, 3), null); // starts the second listing
  await names.load(7);
  assert.equal(names.name(7, 3), 'dwv0');
  assert.equal(names.name(7, 2), 'dwv1');
  assert.deepEqual(calls, [7, 7]);
  clock.ms = 5000;
  for (let hit = 0; hit < 5000; hit++) assert.equal(names.name(7, 2), 'dwv1'); // hits do not list again before the list is old
  assert.deepEqual(calls, [7, 7]);
  clock.ms = 11_000;
  // An old list answers, and within a bounded number of hits is renewed: ifindex 2 is dwx0 now.
  for (let hit = 0; hit < 1024; hit++) assert.equal(names.name(7, 2), 'dwv1');
  assert.deepEqual(calls, [7, 7, 7]);
  await names.load(7);
  assert.equal(names.name(7, 2), 'dwx0');
  assert.equal(names.name(7, 3), null); // gone from the namespace
  assert.deepEqual(calls, [7, 7, 7]);
});

test('a namespace that cannot be entered or listed names nothing, is reported once, and is tried again after the rescan interval', async () => {
  const { names, clock, calls, errors } = namesFrom(
    new Map([
      [7, ['none']],
      [8, []],
    ]),
  );
  await Promise.all([names.load(7), names.load(8)]);
  assert.equal(names.name(7, 1), null);
  assert.equal(names.name(8, 1), null);
  assert.deepEqual(errors, [8]); // no way in (null) is no error
  clock.ms = 1000;
  names.name(8, 1);
  await names.load(8);
  assert.deepEqual(errors, [8]);
  assert.deepEqual(calls, [7, 8, 8]);
});
