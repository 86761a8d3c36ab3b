// dropwhy completion: the bash script from the command table, run by bash on typed command lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliHarness, runNoTrace } from './helpers';

/** What bash offers for each command line (its last word the one being completed). */
function complete(script: string, lines: string[][]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-completion-'));
  try {
    writeFileSync(join(dir, 'dropwhy.bash'), script);
    const calls = lines.map((words) => `c ${words.map((w) => `'${w}'`).join(' ')}`).join('\n');
    const program = `source '${join(dir, 'dropwhy.bash')}'
c() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _dropwhy; echo "\${COMPREPLY[*]}"; }
${calls}`;
    return execFileSync('bash', ['--norc', '-c', program], { encoding: 'utf8' }).split('\n').slice(0, lines.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("dropwhy completion: a bash script that completes commands, each command's options and their values", { timeout: 20_000 }, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['completion'], h), 0);
  const script = h.stdout();
  assert.match(script, /^complete -F _dropwhy dropwhy$/m);
  assert.deepEqual(
    complete(script, [
      ['dropwhy', 'su'],
      ['dropwhy', 'ex'],
      ['dropwhy', '--filter-p'],
      ['dropwhy', 'summary', '--inte'],
      ['dropwhy', 'exporter', '--inte'],
      ['dropwhy', '-o', ''],
      ['dropwhy', '--filter-port', '53', 'sum'],
      ['dropwhy', 'summary', '--color', 'a'],
      ['dropwhy', '--filter-proto', 'icmp'],
      ['dropwhy', 'udp', 'port', '53', '--no-h'],
      ['dropwhy', '--', 'di'],
    ]),
    ['summary', 'exporter explain', '--filter-proto --filter-port', '--interval', '', 'text json', 'summary', 'auto always', 'icmp icmp6', '--no-hints', ''],
  );
});
