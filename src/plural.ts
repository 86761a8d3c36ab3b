// Counts in words for people: `1 drop`, `2 drops`.

/** `1 drop`, `0 drops`, `3 more drops` (the noun's last word takes the s). */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`;
}
