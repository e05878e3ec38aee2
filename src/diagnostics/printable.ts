/**
 * Text from a script or a data set, made safe to print: C0 and C1 controls (an escape sequence in a
 * path or a comment must not drive the terminal that prints it) and the bidirectional overrides
 * (they reorder a line on screen). Tabs and line ends are left alone.
 */
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with each unprintable character written as its `\uXXXX` escape. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `text` with each unprintable character shown as one U+FFFD, so a caret below stays in its column. */
export function printableInPlace(text: string): string {
  return text.replace(UNPRINTABLE, '\ufffd');
}
