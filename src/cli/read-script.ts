/** Reading the script a command names: a file, or standard input for `-`. */
import { readFileSync } from 'node:fs';

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder; give a .tl script',
  EACCES: 'permission denied',
};

/**
 * A script's bytes as text: UTF-8, or UTF-16 where a byte-order mark says so (Windows editors and
 * PowerShell's `>` write UTF-16 LE), so such a file reads as written instead of as NUL-strewn noise.
 */
function decodeScript(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  // swap16 needs whole pairs; a stray last byte could not be a character anyway.
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return Buffer.from(bytes.subarray(2, bytes.length - (bytes.length % 2))).swap16().toString('utf16le');
  return bytes.toString('utf8');
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
  return decodeScript(bytes);
}
