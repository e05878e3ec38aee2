import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDirectory, whyNotWritable } from '../../src/executor/make-directory.ts';

describe('makeDirectory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tl-mkdir-'));

  it('makes a folder and its missing parents, and leaves one that exists', () => {
    const deep = join(dir, 'a', 'b', 'c');
    makeDirectory(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    makeDirectory(deep);
    makeDirectory(join(dir, 'a', '..', 'a', 'b'));
    expect(statSync(join(dir, 'a', 'b')).isDirectory()).toBe(true);
  });

  it('fails as mkdir does where a file is in the way', () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    expect(() => makeDirectory(file)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => makeDirectory(join(file, 'x', 'y'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(existsSync(join(dir, 'file', 'x'))).toBe(false);
  });

  // Node 20's mkdir with { recursive: true } loops forever there: procfs answers ENOENT under /proc.
  it.skipIf(!existsSync('/proc/self'))('fails at once where the file system refuses new folders', () => {
    let err: unknown;
    try {
      makeDirectory('/proc/tl-test/x');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ENOENT' });
    expect(whyNotWritable(err)).toBe('folders cannot be made there');
  });
});
