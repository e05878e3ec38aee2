/**
 * The compiler in a browser, as house style promises it: the package's root entry (`tl`,
 * src/index.ts: compile, format, the diagnostics' printer) bundled by esbuild for
 * the browser (where Node's modules do not exist) and run in Debian's chromium, gives the plan
 * and the diagnostics it gives under Node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, type CompileResult } from '../../src/compile.ts';
import { root } from '../service/helpers.ts';
import { bundleForBrowser, hasChromium, launch, type Browser } from './browser.ts';

const quickstart = readFileSync(join(root, 'examples/quickstart.tl'), 'utf8');
const broken = 'use resnet5O input 16\naugment rotate 400\nphase unfreeze block9';

describe.skipIf(!hasChromium)('the compiler in a browser', () => {
  let browser: Browser;
  let bundle: string;

  beforeAll(async () => {
    bundle = await bundleForBrowser("import * as tl from './src/index.ts'; globalThis.tl = tl;");
    browser = await launch();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  async function compileInBrowser(source: string): Promise<CompileResult> {
    const page = await browser.context.newPage();
    try {
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.setContent('<!doctype html><title>TL compiler</title>');
      await page.addScriptTag({ content: bundle, type: 'module' });
      await page.waitForFunction(() => 'tl' in globalThis || document.title === 'failed', undefined, { timeout: 10_000 }).catch(() => {
        throw new Error(`the bundle did not load: ${errors.join('; ') || 'no error reported'}`);
      });
      return await page.evaluate((s) => (globalThis as unknown as { tl: { compile(source: string): CompileResult } }).tl.compile(s), source);
    } finally {
      await page.close();
    }
  }

  it('compiles the quickstart to the plan Node compiles', async () => {
    const inBrowser = await compileInBrowser(quickstart);
    expect(inBrowser.plan?.model).toMatchObject({ kind: 'zoo', name: 'mobilenetv2' });
    expect(inBrowser).toEqual(JSON.parse(JSON.stringify(compile(quickstart))));
  }, 30_000);

  it('reports the same diagnostics, with their spans, for a broken script', async () => {
    const inBrowser = await compileInBrowser(broken);
    expect(inBrowser.plan).toBeUndefined();
    expect(inBrowser.diagnostics.map((d) => d.code)).toEqual(['unknown-model', 'bad-augment-arg', 'unknown-block', 'missing-data']);
    expect(inBrowser).toEqual(JSON.parse(JSON.stringify(compile(broken))));
  }, 30_000);
});
