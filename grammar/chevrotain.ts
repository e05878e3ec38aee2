/**
 * Chevrotain, loaded from the single-file ESM build its package ships beside its entry point. The
 * entry (`lib/src/api.js`) imports lodash-es one module at a time: about 370 ms of every `tl` start
 * and every worker on this project's machine, against 20 ms for the same code in one file. Where
 * the package cannot be found on disk (an esbuild bundle), the entry is imported as usual.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Chevrotain from 'chevrotain';

async function load(): Promise<typeof Chevrotain> {
  let bundle: string | null = null;
  try {
    bundle = join(dirname(createRequire(import.meta.url).resolve('chevrotain')), '..', 'chevrotain.mjs');
  } catch {
    // Not on disk: bundled with this code.
  }
  if (bundle !== null) {
    try {
      return (await import(pathToFileURL(bundle).href)) as typeof Chevrotain;
    } catch {
      // Another layout of the package: its entry point serves.
    }
  }
  return import('chevrotain');
}

export const { createToken, CstParser, EOF, Lexer } = await load();
