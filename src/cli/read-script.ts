/** Reading the script a command names: a file, or standard input for `-`. */
import { readFileSync } from 'node:fs';

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder; give a .tl script',
  EACCES: 'permission denied',
};

/** The script's text, or an Error saying which file and why it cannot be read. */
export function readScript(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    throw new Error(`cannot read ${file}: ${(code !== undefined && REASONS[code]) || message}`);
  }
}
