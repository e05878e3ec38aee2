/** Reading the script a command names: a file, or standard input for `-`. */
import { readFileSync } from 'node:fs';

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder; give a .tl script',
  EACCES: 'permission denied',
};

/** Line and column (1-based) of byte `at`, counting characters as UTF-8 decodes the bytes before it. */
function placeOf(bytes: Buffer, at: number): string {
  const before = bytes.subarray(0, at).toString('utf8');
  const lineStart = before.lastIndexOf('\n') + 1;
  return `line ${before.split('\n').length}, column ${before.length - lineStart + 1}`;
}

/**
 * A script's bytes as text: UTF-8 (a leading byte-order mark dropped, so columns count from the
 * first character), or UTF-16 where a byte-order mark says so (Windows editors and PowerShell's `>`
 * write UTF-16 LE), so such a file reads as written instead of as NUL-strewn noise. Anything else
 * is refused with where it goes wrong, rather than compiled into a screen of stray characters (a
 * binary file) or into paths that silently differ from the ones written (a Latin-1 file).
 */
function decodeScript(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  // swap16 needs whole pairs; a stray last byte could not be a character anyway.
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return Buffer.from(bytes.subarray(2, bytes.length - (bytes.length % 2))).swap16().toString('utf16le');
  const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  const nul = body.indexOf(0);
  if (nul >= 0) throw new Error(`it is not a text file (a NUL byte at ${placeOf(body, nul)}); give a .tl script`);
  const bad = firstInvalidUtf8(body);
  if (bad >= 0) throw new Error(`it is not UTF-8 text (byte 0x${body[bad]!.toString(16)} at ${placeOf(body, bad)}); save the script as UTF-8`);
  return body.toString('utf8');
}

/**
 * Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or -1 when every byte does.
 */
function firstInvalidUtf8(bytes: Buffer): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // How many bytes follow the lead byte, and the range the first of them must fall in.
    const [more, lo, hi] =
      b >= 0xc2 && b <= 0xdf ? [1, 0x80, 0xbf]
      : b === 0xe0 ? [2, 0xa0, 0xbf]
      : b === 0xed ? [2, 0x80, 0x9f]
      : b >= 0xe1 && b <= 0xef ? [2, 0x80, 0xbf]
      : b === 0xf0 ? [3, 0x90, 0xbf]
      : b === 0xf4 ? [3, 0x80, 0x8f]
      : b >= 0xf1 && b <= 0xf3 ? [3, 0x80, 0xbf]
      : [0, 0, 0];
    if (more === 0) return i;
    for (let k = 1; k <= more; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += more + 1;
  }
  return -1;
}

/** The script's text, or an Error saying which file and why it cannot be read. */
export function readScript(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    throw new Error(`cannot read ${file}: ${(code !== undefined && REASONS[code]) || message}`);
  }
  try {
    return decodeScript(bytes);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
}
