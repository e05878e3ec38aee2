/**
 * Reading a data file whole. A device (`/dev/zero`), FIFO or socket named as data, or linked from a
 * data folder, would never end or never start; it is refused at once, saying what it is.
 */
import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';

export class NotARegularFileError extends Error {
  override readonly name = 'NotARegularFileError';
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`it is ${kind}, not a regular file`);
  }
}

function kindOf(info: Stats): string {
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a named pipe';
  return 'a socket';
}

/** The bytes of `path`; throws NotARegularFileError for a device, FIFO or socket (or a link to one). */
export async function readRegularFile(path: string): Promise<Buffer> {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    // A folder is left to readFile, which fails with EISDIR as the callers expect.
    if (!info.isFile() && !info.isDirectory()) throw new NotARegularFileError(path, kindOf(info));
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
