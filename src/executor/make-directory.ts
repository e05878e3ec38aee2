/** Making the folders TL writes to (exports, checkpoints, caches, the service's database and runs). */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p`: makes `dir` and its missing parents. Node 20's `{ recursive: true }` never returns
 * where mkdir answers ENOENT inside a folder that exists (procfs does: `export "/proc/x"` hung), so
 * the missing parts are found first and made one at a time, and such a path fails with ENOENT.
 * A file in the way fails as mkdir does: EEXIST for the path itself, ENOTDIR for a parent.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  let found = statSync(at, { throwIfNoEntry: false });
  while (!found && dirname(at) !== at) {
    missing.push(at);
    at = dirname(at);
    found = statSync(at, { throwIfNoEntry: false });
  }
  if (!found?.isDirectory()) mkdirSync(at); // the file in the way: mkdir's own EEXIST
  for (const part of missing.reverse()) {
    try {
      mkdirSync(part);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // made meanwhile by another process
    }
  }
}

/**
 * Makes `dir` and checks that it can be written, so that a folder that cannot take what a run will
 * write fails before the training it would lose. Throws the file system's error; see `whyNotWritable`.
 */
export function prepareWritable(dir: string): void {
  makeDirectory(dir);
  accessSync(dir, constants.W_OK);
}

/** Why a folder could not be made or written, in the user's terms. */
export function whyNotWritable(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'a file is in the way of the folder'
    : e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? 'no permission to write there'
    : e.code === 'ENOSPC' ? 'the disk is full'
    : e.code === 'ENOENT' ? 'folders cannot be made there'
    : e.message;
}
