/** Anything but printable ASCII and characters from U+00A0: the C0 and C1 controls and DEL. */
const CONTROL_CHARACTERS = /[^ -~\u00a0-\uffff]/g;

/** Replace control characters with `?`, so that text from a log line cannot drive a terminal. */
export function printable(text: string): string {
  return text.replace(CONTROL_CHARACTERS, '?');
}
