// dropwhy explain: the advice for a reason as text for a terminal.
import { explain, functionAdvice } from '../knowledge/advice';
import { closestNames } from '../events/reasons';

/** The one-line hint after the first drop of a reason (at a function with advice of its own: of it there), in tracing and summary output. */
export function hintLine(reason: string, location: string | null = null): string {
  return `  hint: ${reason}: ${explain(reason, location).advice.summary} (dropwhy explain ${reason})`;
}

/**
 * A name this kernel does not have and dropwhy could only guess about from its words (a typo, most
 * likely), with the kernel's closest names; null when there is something to explain: a name of this
 * kernel, one dropwhy has advice for (other kernels have it), a subsystem's or an unknown code's name
 * as dropwhy prints them, or any name when the kernel's names are unknown.
 */
export function missingReason(name: string, kernelNames: string[] | null): { name: string; closest: string[] } | null {
  const explanation = explain(name);
  if (kernelNames === null || !explanation.fromNameOnly || kernelNames.includes(explanation.name)) return null;
  return { name: explanation.name, closest: closestNames(explanation.name, kernelNames) };
}

/** The SNMP MIBs' counters, which nstat prints. */
const MIB_COUNTER = /^(Ip|IpExt|Ip6|Icmp|Icmp6|Tcp|TcpExt|Udp|Udp6|UdpLite|UdpLite6|MPTcpExt) /;

/** Prose is wrapped at 100 columns, or the terminal's width when it is narrower. */
const PROSE_WIDTH = 100;

/** The width explain wraps at: the terminal's (when stdout is one and narrower than 100 columns), else 100. */
export function proseWidth(columns: number | null): number {
  return columns === null ? PROSE_WIDTH : Math.max(20, Math.min(PROSE_WIDTH, columns));
}

export function renderExplanation(name: string, kernelNames: string[] | null, width = PROSE_WIDTH): string {
  const { name: bare, handWritten, advice } = explain(name);
  const wrap = (text: string, indent = '', first = indent) => wrapText(text, indent, first, width);
  const lines = [wrap(`${bare}: ${advice.summary}`, '  ', ''), '', wrap(advice.meaning), ''];
  if (kernelNames !== null && !bare.includes(':') && !kernelNames.includes(bare)) {
    lines.push(`Note: the running kernel has no drop reason named ${bare}.`, '');
  }
  lines.push('Counters that show it:');
  const tool = advice.counters.every((c) => MIB_COUNTER.test(c)) ? 'nstat -az to read them' : 'dropwhy diagnose reads them all';
  lines.push(
    advice.counters.length > 0
      ? wrap(`${advice.counters.join(', ')} (${tool})`, '  ', '  ')
      : '  none that dropwhy knows of: no counter it reads moves one to one with this drop',
  );
  lines.push('', 'What to check:');
  for (const check of advice.checks) lines.push(wrap(`- ${check}`, '    ', '  '));
  for (const there of functionAdvice(bare)) {
    lines.push('', wrap(`At ${there.fn}: ${there.summary}`));
    for (const check of there.checks) lines.push(wrap(`- ${check}`, '    ', '  '));
  }
  if (!handWritten) lines.push('', '(dropwhy has no specific advice for this reason yet: the text above is derived from its name.)');
  return lines.join('\n') + '\n';
}

/** columns: a terminal's width, which each summary is wrapped to; null (a pipe): one line per reason, for grep. */
export function renderReasonList(kernelNames: string[] | null, columns: number | null = null): string {
  if (kernelNames === null) return 'This kernel reports no drop reasons (they arrived in Linux 5.17), or its BTF could not be read.\n';
  const line = (name: string) => `${name.padEnd(28)} ${explain(name).advice.summary}`;
  return kernelNames.map((name) => (columns === null ? line(name) : wrapText(line(name), ' '.repeat(29), '', columns))).join('\n') + '\n';
}

/** Words into lines of at most width columns (a longer word has a line of its own), the first after `first`, the rest after `indent`. */
function wrapText(text: string, indent: string, first: string, width: number): string {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(/\s+/)) {
    if (line.trim() !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent;
    }
    line += (line.trim() === '' ? '' : ' ') + word;
  }
  lines.push(line);
  return lines.join('\n');
}
