/**
 * `tl/client` in a browser, for a UI of one's own: src/client bundled by esbuild for the browser
 * (where Node's modules do not exist), run in Debian's chromium against a real `tl serve` on a real
 * port with a token. It is refused without the token, submits a script, follows the job's events
 * over the browser's own WebSocket to the end, and reads the job back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, tinyScript, type Stack } from '../service/helpers.ts';
import { bundleForBrowser, hasChromium, launch, type Browser } from './browser.ts';

describe.skipIf(!hasChromium)('the client in a browser', () => {
  let browser: Browser;
  let stack: Stack;
  let bundle: string;

  beforeAll(async () => {
    bundle = await bundleForBrowser("import * as client from './src/client/index.ts'; globalThis.tl = client;");
    stack = await startStack({ auth: { token: 'browser-secret', publicRead: false } });
    browser = await launch();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('submits, follows a job to its end over the browser WebSocket, and reads it back', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    // The page comes from the server itself: the API is then same-origin, as for a UI it serves.
    await page.goto(new URL('/', stack.url).href);
    await page.addScriptTag({ content: bundle, type: 'module' });
    await page.waitForFunction(() => 'tl' in globalThis, undefined, { timeout: 10_000 }).catch(() => {
      throw new Error(`the bundle did not load: ${errors.join('; ') || 'no error reported'}`);
    });
    const result = await page.evaluate(
      async ({ url, source }) => {
        type Client = typeof import('../../src/client/index.ts');
        const { TlClient, TlClientError } = (globalThis as unknown as { tl: Client }).tl;
        const refused = await new TlClient(url).submit(source).then(() => 'accepted', (err: unknown) => (err instanceof TlClientError ? err.code : String(err)));
        const client = new TlClient(url, { token: 'browser-secret' });
        const { job, diagnostics } = await client.submit(source, { name: 'from-a-browser' });
        const seen: string[] = [];
        for await (const { seq, event } of client.events(job!.id)) seen.push(`${seq}:${event.type}`);
        return { refused, diagnostics: diagnostics.length, seen, job: await client.job(job!.id) };
      },
      { url: stack.url, source: tinyScript(1) },
    );
    expect(errors).toEqual([]);
    expect(result.refused).toBe('unauthorized');
    expect(result.diagnostics).toBe(0);
    expect(result.seen[0]).toBe('1:jobStarted');
    expect(result.seen.at(-1)).toMatch(/^\d+:jobFinished$/);
    expect(result.seen.map((s) => Number(s.split(':')[0]))).toEqual(result.seen.map((_, i) => i + 1));
    expect(result.job).toMatchObject({ name: 'from-a-browser', status: 'SUCCEEDED', lastSeq: result.seen.length });
  }, 120_000);
});
