/**
 * Chevrotain, loaded under Node from the single-file ESM build its package ships beside its entry
 * point. The entry (`lib/src/api.js`) imports lodash-es one module at a time: about 370 ms of every
 * `tl` start and every worker on this project's machine, against 20 ms for the same code in one
 * file. Elsewhere (a browser, an esbuild bundle, a Node without `process.getBuiltinModule`, before
 * 20.16) the entry is imported as usual. Node's modules are reached through
 * `process.getBuiltinModule`, never imported, so that the compiler still bundles for a browser.
 */
import type * as Chevrotain from 'chevrotain';

async function load(): Promise<typeof Chevrotain> {
  const node = (globalThis as { process?: Partial<NodeJS.Process> }).process;
  const nodeModule = node?.getBuiltinModule?.('node:module');
  const nodeUrl = node?.getBuiltinModule?.('node:url');
  if (nodeModule !== undefined && nodeUrl !== undefined) {
    try {
      const entry = nodeUrl.pathToFileURL(nodeModule.createRequire(import.meta.url).resolve('chevrotain'));
      return (await import(/* @vite-ignore */ new URL('../chevrotain.mjs', entry).href)) as typeof Chevrotain;
    } catch {
      // Not on disk (bundled with this code), or another layout of the package: its entry point serves.
    }
  }
  return import('chevrotain');
}

export const { createToken, CstParser, EOF, Lexer } = await load();
