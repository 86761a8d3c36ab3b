// The trace's text on a terminal: which columns fit its width and how wide each is, decided once per
// session (and again when the width changes), the header naming them, and the fitting of a drop's
// pieces into lines no longer than the width, never breaking a word (an IPv6 address, a name).
// Piped or into a file the stable full line is printed instead (text-writer.ts).

/** Widths at or above which the first line holds more: the flow (WIDE_FLOW), then the netns too (FULL). */
const WIDE_FLOW_COLUMNS = 110;
const FULL_COLUMNS = 150;
/** Lines after a drop's first start here: the socket, and on a narrow terminal the flow. */
export const CONTINUATION_INDENT = '    ';

export interface TerminalLayout {
  /** The terminal's width: no line is longer. */
  width: number;
  /** Digits of the second's fraction in the time: 6 (µs), 3 (ms) on a narrow terminal. */
  fractionDigits: 3 | 6;
  reasonWidth: number;
  locationWidth: number;
  /** The location as `symbol+0xoff`; on a narrow terminal the function's name alone. */
  offsets: boolean;
  /** The protocol and flow on the first line, the flow padded to this width; null: they start the second line. */
  flowWidth: number | null;
  /** The network namespace's inode among the details (for --filter-netns); wide terminals only. */
  netns: boolean;
  /** The lines that name the columns, printed before the first drop and after the width changed. */
  header: string[];
}

/** `SOCKET_RCVBUFF`, `NETFILTER_DROP`: most reasons fit; a longer one pushes the rest of its line. */
const REASON_WIDTH = 16;
export const PROTO_WIDTH = 5;
/** `198.18.1.1:45678 > 198.18.1.2:5561`; the widest IPv4 flow, 45, on the widest terminals. IPv6 flows are longer and push the details. */
const FLOW_WIDTH = 36;
const FULL_FLOW_WIDTH = 45;
/** `udp_queue_rcv_one_skb+0x437` fits the wider; a function's name alone, `udpv6_queue_rcv_one_skb`, the narrow one. */
const LOCATION_WIDTH = 26;
const FULL_LOCATION_WIDTH = 30;
const NARROW_LOCATION_WIDTH = 23;

/** The layout for a terminal this many columns wide. */
export function terminalLayout(width: number): TerminalLayout {
  if (width >= WIDE_FLOW_COLUMNS) {
    const full = width >= FULL_COLUMNS;
    const layout = {
      width,
      fractionDigits: 6 as const,
      reasonWidth: REASON_WIDTH,
      locationWidth: full ? FULL_LOCATION_WIDTH : LOCATION_WIDTH,
      offsets: true,
      flowWidth: full ? FULL_FLOW_WIDTH : FLOW_WIDTH,
      netns: full,
    };
    const names = [
      column('TIME', timeWidth(6)),
      column('REASON', layout.reasonWidth),
      column('LOCATION', layout.locationWidth),
      column('PROTO', PROTO_WIDTH),
      column('FLOW', layout.flowWidth),
      'DETAILS',
    ];
    return { ...layout, header: [names.join(' ')] };
  }
  const layout = { width, fractionDigits: 3 as const, reasonWidth: REASON_WIDTH, locationWidth: NARROW_LOCATION_WIDTH, offsets: false, flowWidth: null, netns: false };
  const first = [column('TIME', timeWidth(3)), column('REASON', layout.reasonWidth), column('LOCATION', layout.locationWidth), 'DETAILS'].join(' ');
  return { ...layout, header: [first, `${CONTINUATION_INDENT}PROTO FLOW`].map((line) => cutText(line, width)) };
}

/** `03:04:05.123456`'s width. */
function timeWidth(fractionDigits: number): number {
  return 9 + fractionDigits;
}

function column(name: string, width: number): string {
  return name.padEnd(width);
}

/** A piece of a drop's text: padded to `pad` unless last on its line; painted with `color` ('' for none). */
export interface Piece {
  text: string;
  pad: number;
  color: string;
}

/** Pieces that stay on one line when they fit; `ownLine`: they start a line of their own. */
export interface Group {
  pieces: Piece[];
  ownLine: boolean;
}

export type Paint = (color: string, text: string) => string;

/**
 * Groups of pieces into lines of at most width columns: a group goes on the current line when it
 * fits, else it starts the next line (indented); a group longer than a whole line is broken between
 * its pieces, and a piece longer than a line is cut, its end marked with …. Pieces are never broken.
 * The first line starts after firstIndent.
 */
export function fitGroups(groups: readonly Group[], width: number, paint: Paint, indent = CONTINUATION_INDENT, firstIndent = ''): string[] {
  const lines: string[] = [];
  let line: Piece[] = [];
  let start = firstIndent.length;
  // The line's width so far: its pieces padded, but for the last one's padding, which `pending` holds.
  let used = start;
  let pending = 0;
  const newLine = () => {
    lines.push(render(line, start, paint));
    line = [];
    start = indent.length;
    used = start;
    pending = 0;
  };
  // The width after appending these pieces to the line.
  const widthWith = (pieces: readonly Piece[]) =>
    pieces.reduce(
      (sum, piece, i) => sum + (i > 0 ? Math.max(0, pieces[i - 1].pad - pieces[i - 1].text.length) + 1 : 0) + piece.text.length,
      line.length > 0 ? used + pending + 1 : used,
    );
  for (const group of groups) {
    if (line.length > 0 && (group.ownLine || widthWith(group.pieces) > width)) newLine();
    for (const piece of group.pieces) {
      if (line.length > 0 && widthWith([piece]) > width) newLine();
      const room = width - (line.length > 0 ? used + pending + 1 : used);
      const fitted = piece.text.length > room ? { ...piece, text: cutText(piece.text, room), pad: 0 } : piece;
      used = widthWith([fitted]);
      pending = Math.max(0, fitted.pad - fitted.text.length);
      line.push(fitted);
    }
  }
  if (line.length > 0) lines.push(render(line, start, paint));
  return lines;
}

/** A text that fits: cut to width columns, its end marked with … when cut. */
export function cutText(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 0 ? '' : `${text.slice(0, width - 1)}…`;
}

/**
 * A line of text (a hint, a rule, a message, a summary's total) as lines of at most width columns,
 * broken at spaces (the runs of spaces between words kept), each later line indented 4 more than the
 * first. A word longer than a line is cut, or with keepLongWords (a path in a message) left whole on
 * a line of its own.
 */
export function fitText(text: string, width: number, keepLongWords = false): string[] {
  const indent = `${text.slice(0, text.length - text.trimStart().length)}${CONTINUATION_INDENT}`;
  const lines: string[] = [];
  let prefix = '';
  let rest = text;
  for (;;) {
    if (prefix.length + rest.length <= width) {
      lines.push(prefix + rest);
      return lines;
    }
    const room = width - prefix.length;
    const leading = rest.length - rest.trimStart().length;
    const space = rest.lastIndexOf(' ', room); // rest up to it fits
    let tail: string;
    if (space > leading) {
      lines.push(prefix + rest.slice(0, space).trimEnd());
      tail = rest.slice(space);
    } else {
      const end = rest.indexOf(' ', leading);
      const word = end < 0 ? rest : rest.slice(0, end);
      lines.push(prefix + (keepLongWords ? word : cutText(word, room)));
      tail = end < 0 ? '' : rest.slice(end);
    }
    rest = tail.trimStart();
    if (rest === '') return lines;
    prefix = indent;
  }
}

/** Text of one or more lines, each fitted to width columns (fitText, words kept whole); null width: as it is. */
export function fitMessage(text: string, width: number | null): string {
  if (width === null) return text;
  return text
    .split('\n')
    .flatMap((line) => fitText(line, width, true))
    .join('\n');
}

function render(line: Piece[], indent: number, paint: Paint): string {
  const text = line.map((piece, i) => {
    const padded = i === line.length - 1 ? piece.text : piece.text.padEnd(piece.pad);
    return piece.color === '' ? padded : paint(piece.color, padded);
  });
  return ' '.repeat(indent) + text.join(' ');
}
