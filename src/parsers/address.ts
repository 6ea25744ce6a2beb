const QUOTE = 34;
const BACKSLASH = 92;

/**
 * Find the `terminator` that ends an address starting at `start`. A quoted local part
 * (`"a b"@example.org`, with backslash escapes) is text the client chose and may contain the
 * terminator and anything that looks like the fields after it, so a terminator inside quotes
 * does not count. With an unbalanced quote the first terminator is the best guess; -1 when
 * there is none.
 */
export function addressEnd(text: string, start: number, terminator: string): number {
  let quoted = false;
  for (let i = start; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === BACKSLASH && quoted) i++;
    else if (char === QUOTE) quoted = !quoted;
    else if (!quoted && text.startsWith(terminator, i)) return i;
  }
  return text.indexOf(terminator, start);
}
