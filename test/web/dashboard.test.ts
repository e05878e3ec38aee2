/**
 * The dashboard in a real browser (Debian's chromium) against a real server on port 0 with a temp
 * SQLite file, training tiny real jobs on the bundled Fashion-MNIST images: the list and the job
 * page follow a job live, the curves gain points as epochs end, a dropped websocket resumes with
 * no missed or repeated event, cancel and resume work, a run's warnings are listed, and a script
 * error shows on its line.
 */
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, root, startStack, submitJob, type Stack } from '../service/helpers.ts';
import { buildDashboard, hasChromium, launch, screenshotDir, type Browser } from './browser.ts';

const script = (epochs: number) => `use tiny input 32\ndata "fashion-mini/train" split 0.2\nfreeze none\nepochs ${epochs}\nbatch 64\n`;
const ACC = '.chart[data-chart="Accuracy per epoch"]';

let stack: Stack;
let browser: Browser;
const base = () => stack.url.replace(/\/graphql$/, '');

async function shot(page: Page, name: string): Promise<void> {
  if (!screenshotDir) return;
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, name), fullPage: true });
}

/** Every distinct value a chart's point count takes, until it reaches `until`. */
function watchPoints(page: Page, selector: string, until: number): Promise<number[]> {
  return page.evaluate(
    ([sel, last]) =>
      new Promise<number[]>((resolve) => {
        const el = document.querySelector(sel)!;
        const seen: number[] = [];
        const look = () => {
          const n = Number(el.getAttribute('data-points'));
          if (seen[seen.length - 1] !== n) seen.push(n);
          if (n >= last) resolve(seen);
        };
        new MutationObserver(look).observe(el, { attributes: true });
        look();
      }),
    [selector, until] as const,
  );
}

describe.skipIf(!hasChromium)('the dashboard in chromium', () => {
  beforeAll(async () => {
    await buildDashboard();
    const dir = mkdtempSync(join(tmpdir(), 'tl-web-'));
    // The bundled images, and two of their classes with a file that is not an image among them.
    const dataRoot = join(dir, 'data');
    cpSync(join(root, 'examples/data/fashion-mini/train'), join(dataRoot, 'fashion-mini/train'), { recursive: true });
    for (const c of ['bag', 'boot']) cpSync(join(dataRoot, 'fashion-mini/train', c), join(dataRoot, 'mixed', c), { recursive: true });
    writeFileSync(join(dataRoot, 'mixed/bag/broken.png'), 'not a png');
    // Test images to evaluate a model on.
    cpSync(join(root, 'examples/data/fashion-mini/test'), join(dataRoot, 'held-out'), { recursive: true });
    stack = await startStack({ workspace: { dir, dataRoot } });
    browser = await launch();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('serves the page at / and at client routes from the same server', async () => {
    const page = await fetch(`${base()}/jobs/anything`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<main id="app">');
  });

  it('follows a job live: list status, phase timeline, curves gaining points, then the confusion matrix', async () => {
    const list = await browser.context.newPage();
    await list.goto(`${base()}/`);
    await list.waitForSelector('table.jobs');
    // A block and a layer with rates of their own: the plan's timeline shows both.
    const id = await submitJob(stack.url, `${script(3)}lr block2 1e-4\nlr "block5_conv" 2e-4\noptimizer adamw\nlabel smoothing 0.1\nclip norm 5\n`);
    // The list learns of the job through jobUpdates, without a reload.
    await list.waitForSelector(`tr[data-job="${id}"]`);

    const page = await browser.context.newPage();
    await page.goto(`${base()}/jobs/${id}`);
    await page.waitForSelector(ACC);
    expect(await page.locator('.code .tok-keyword').first().textContent()).toBe('use');
    expect(await page.locator('.tl-cell.on').count()).toBe(6); // freeze none: block1..block5 and head
    expect(await page.locator('.tl-cell.on').allTextContents()).toEqual(['1e-3', '1e-4', '1e-3', '1e-3', '1e-3', '1e-3']);
    expect(await page.locator('#layer-rates').textContent()).toBe('Layers with a rate of their own: warmup: block5_conv at 2e-4');
    expect(await page.locator('.tl-phase').first().textContent()).toMatch(/· adam wd 1e-2 · clip norm 5$/);
    expect(await page.locator('#label-smoothing').textContent()).toBe('Label smoothing 0.1');
    const firstEpoch = page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-points')) >= 1, ACC, { timeout: 90_000 });
    const seen = watchPoints(page, ACC, 3);
    await firstEpoch;
    await shot(page, 'job-running.png');
    // Drop the websocket mid-run: the page must reconnect and continue from its last seq.
    await page.evaluate(() => (window as unknown as { tlDropConnection(): void }).tlDropConnection());
    expect((await seen).length).toBeGreaterThanOrEqual(2); // it grew while we watched, not all at once
    await page.waitForSelector('#job-status:text("succeeded")', { timeout: 60_000 });
    await page.waitForSelector('#confusion table');
    expect(await page.locator('#confusion tr').count()).toBe(11); // a header and 10 classes
    const { job } = (await gql(stack.url, 'query($id: ID!) { job(id: $id) { lastSeq } }', { id })).body.data;
    const app = await page.locator('#app').evaluate((el) => ({ ...el.dataset }));
    expect(app).toEqual({ lastSeq: String(job.lastSeq), received: String(job.lastSeq), gaps: '0' });
    expect(Number(await page.locator('.chart[data-chart^="Loss per batch"]').getAttribute('data-points'))).toBeGreaterThan(3);
    await shot(page, 'job.png');

    await list.waitForSelector(`tr[data-job="${id}"][data-status="SUCCEEDED"]`);
    await shot(list, 'jobs.png');
  }, 180_000);

  it("lists a run's warnings: an image it skipped, and why", async () => {
    const id = await submitJob(stack.url, 'use tiny input 32\ndata "mixed" split 0.2\nfreeze none\nepochs 1\n');
    const page = await browser.context.newPage();
    await page.goto(`${base()}/jobs/${id}`);
    await page.waitForSelector('#job-status:text("succeeded")', { timeout: 90_000 });
    const warnings = await page.locator('#warnings').textContent();
    expect(warnings).toMatch(/^1 warning/);
    expect(warnings).toContain("mixed/bag/broken.png': not an image, or not in a format TL reads");
  }, 120_000);

  it('cancels a running job and resumes it', async () => {
    const id = await submitJob(stack.url, script(200));
    const page = await browser.context.newPage();
    await page.goto(`${base()}/jobs/${id}`);
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-points')) >= 1, ACC, { timeout: 90_000 });
    await page.click('#cancel');
    await page.waitForSelector('#job-status:text("cancelled")', { timeout: 60_000 });
    expect(await page.locator('#failure').textContent()).toMatch(/^Cancelled/);
    const before = Number(await page.locator('#app').getAttribute('data-last-seq'));
    await page.click('#resume');
    await page.waitForSelector('#job-status:text-matches("queued|running")');
    // Cancel once the resumed run trains (the page follows its new events), then it ends cancelled again.
    await page.waitForFunction((seq) => Number(document.getElementById('app')!.dataset.lastSeq) > seq + 3, before, { timeout: 90_000 });
    await page.click('#cancel');
    await page.waitForSelector('#job-status:text("cancelled")', { timeout: 60_000 });
  }, 180_000);

  it('shows a script error under its line as you type, then submits the fixed script', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base()}/submit`);
    await page.waitForSelector('#check-status[data-ok="true"]');
    await page.fill('textarea[name=source]', 'use tiny input 32\ndata "fashion-mini/train" split 0.2\nfreeze until blok4\nepochs 1\n');
    const diag = page.locator('#diagnostics .diag[data-code="unknown-block"]');
    await diag.waitFor();
    expect(await diag.getAttribute('data-line')).toBe('3');
    expect(await diag.locator('.diag-src').textContent()).toMatch(/^3 \| freeze until blok4\n {17}\^ unknown block 'blok4'/);
    expect(await page.locator('.ed-line[data-line="3"] .squiggle.error').textContent()).toBe('blok4');
    expect(await page.locator('.ed-line[data-line="3"] .inline-diag.error').textContent()).toMatch(/did you mean 'block4'\?/);
    expect(await page.locator('.ed-line[data-line="2"] .inline-diag').count()).toBe(0);
    await shot(page, 'submit.png');

    await page.fill('textarea[name=source]', script(1));
    await page.waitForSelector('#check-status[data-ok="true"]');
    expect(await page.locator('#diagnostics .diag').count()).toBe(0);
    await page.click('#submit');
    await page.waitForURL(/\/jobs\/[0-9a-f-]+$/);
    await page.waitForSelector('#job-status');
  }, 120_000);

  it('starts from a data folder: a first script in the editor, after asking before it replaces a draft; a bad folder is said', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base()}/submit`);
    await page.fill('textarea[name=source]', 'use tiny # my draft\n');
    await page.fill('input[name=data]', '../elsewhere');
    await page.click('#starter');
    await page.locator('#starter-error:not([hidden])').waitFor();
    expect(await page.locator('#starter-error').textContent()).toContain("leads outside the server's data root");
    expect(await page.inputValue('textarea[name=source]')).toBe('use tiny # my draft\n');
    // Declined: the draft stays. Accepted: the first script replaces it, and the check passes.
    const questions: string[] = [];
    page.once('dialog', (d) => void (questions.push(d.message()), d.dismiss()));
    await page.fill('input[name=data]', 'fashion-mini');
    await page.click('#starter');
    await expect.poll(() => questions.length).toBe(1);
    expect(await page.inputValue('textarea[name=source]')).toBe('use tiny # my draft\n');
    expect(await page.locator('#starter-error').isHidden()).toBe(true);
    page.once('dialog', (d) => void d.accept());
    await page.click('#starter');
    await expect.poll(() => page.inputValue('textarea[name=source]')).toMatch(/^# Written by tl init from fashion-mini\/train: 10 classes, 400 images/);
    expect(await page.inputValue('textarea[name=source]')).toContain('\ndata "fashion-mini/train" split 0.2 ');
    await page.waitForSelector('#check-status[data-ok="true"]');
    expect(questions).toEqual(['Replace the script in the editor with a first script for this folder?']);
    // Another pretrained base.
    await page.selectOption('select[name=starter-model]', 'inceptionv3');
    page.once('dialog', (d) => void d.accept());
    await page.click('#starter');
    await expect.poll(() => page.inputValue('textarea[name=source]')).toContain('\nuse inceptionv3 input 96   # its pretrained weights come with TL; ');
  }, 60_000);

  it("searches a phase's learning rate from the editor, plotting the loss by rate as it goes, then the rate to use", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base()}/submit`);
    await page.fill('textarea[name=source]', `${script(1)}phase ft lr 1e-4 epochs 1\n`);
    await page.waitForSelector('#check-status[data-ok="true"]');
    // A phase the script lacks: refused, and said under the script.
    await page.fill('input[name=phase]', 'fine');
    await page.click('#find-lr');
    await page.locator('#diagnostics .diag[data-code="no-such-phase"]').waitFor();
    await page.fill('input[name=phase]', 'ft');
    await page.click('#find-lr');
    await page.waitForURL(/\/jobs\/[0-9a-f-]+$/);
    const id = page.url().split('/').at(-1)!;
    const chart = '.chart[data-chart="Loss by learning rate"]';
    await page.waitForSelector(chart);
    // The curve gains points while the search runs, not all at once at its end.
    const seen = watchPoints(page, chart, 100);
    const found = page.locator('#lr-found');
    await found.waitFor({ timeout: 120_000 });
    expect((await seen).length).toBeGreaterThan(2);
    expect(await page.locator(chart).getAttribute('data-points')).toBe('100');
    expect(await found.textContent()).toMatch(/^Suggested: lr \S+ in phase 'ft' \(from the weights warmup left; /);
    const suggestion = /^Suggested: (lr \S+) /.exec((await found.textContent())!)![1];
    expect(Number(await found.getAttribute('data-suggested'))).toBeGreaterThan(0);
    expect(await page.locator('#job-status').textContent()).toBe('succeeded');
    await shot(page, 'lr-find.png');
    const source = await page.locator('.code').last().textContent();
    expect(source).toContain('phase ft lr 1e-4 epochs 1');
    // One click writes the rate into the script and opens it in the editor, ready to submit.
    await page.click('#use-lr');
    await page.waitForURL(/\/submit$/);
    await page.waitForSelector('#check-status[data-ok="true"]');
    const edited = await page.inputValue('textarea[name=source]');
    expect(edited).toMatch(/^phase ft lr \S+ epochs 1$/m);
    expect(edited).not.toContain('lr 1e-4');
    expect(edited.replace(/^phase ft lr \S+ epochs 1$/m, 'phase ft lr 1e-4 epochs 1')).toBe(`${script(1)}phase ft lr 1e-4 epochs 1\n`);
    // The list tells a search from a run.
    await page.goto(`${base()}/`);
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    expect(await row.locator('.kind').count()).toBe(1);
    // Its result: the rate it suggests, as the job page wrote it.
    expect(await row.locator('td').nth(3).textContent()).toBe(suggestion);
  }, 180_000);

  it("evaluates a finished job's model on test images: refusals under the form, then the evaluation's own page", async () => {
    const id = await submitJob(stack.url, `${script(1)}export "model"\n`);
    const page = await browser.context.newPage();
    await page.goto(`${base()}/jobs/${id}`);
    await page.waitForSelector('#job-status:text("succeeded")', { timeout: 90_000 });
    await page.fill('#evaluate-data', '../outside');
    await page.click('#evaluate-start');
    await page.locator('#evaluate-error .error').waitFor();
    expect(await page.locator('#evaluate-error').textContent()).toMatch(/^path-outside-data-root: evaluate path '\.\.\/outside' leads outside/);
    await page.fill('#evaluate-data', 'held-out');
    await page.click('#evaluate-start');
    await page.waitForURL((url) => /\/jobs\/[0-9a-f-]+$/.test(url.pathname) && !url.pathname.endsWith(id));
    const evaluation = page.locator('#evaluation');
    await evaluation.waitFor({ timeout: 90_000 });
    expect(await page.locator('#evaluates').textContent()).toBe(`Scores the model of job ${id.slice(0, 8)} on held-out.`);
    // No timeline or curves: it trains nothing.
    expect(await page.locator('.tl-phase').count()).toBe(0);
    const evalId = new URL(page.url()).pathname.split('/').pop()!;
    const stored = (await gql(stack.url, 'query($id: ID!) { job(id: $id) { status evaluation { accuracy mistakes { source } } } }', { id: evalId })).body.data.job;
    expect(stored.status).toBe('SUCCEEDED');
    expect(Number(await evaluation.getAttribute('data-accuracy'))).toBe(stored.evaluation.accuracy);
    expect(await page.locator('#evaluation-summary').textContent()).toMatch(/^100 images · accuracy [\d.]+% · top-5 [\d.]+% · loss [\d.]+$/);
    expect(await page.locator('table.per-class tr').count()).toBe(11);
    expect(await page.locator('#mistakes li code').allTextContents()).toEqual(stored.evaluation.mistakes.map((m: { source: string }) => m.source));
    await shot(page, 'evaluation.png');
  }, 180_000);

  it('shows a run whose phase searches its rate (lr auto): auto in the plan, the loss by rate as it searches', async () => {
    const id = await submitJob(stack.url, `${script(1)}phase ft lr auto epochs 1\n`);
    const page = await browser.context.newPage();
    await page.goto(`${base()}/jobs/${id}`);
    await page.waitForSelector('.tl-phase');
    expect(await page.locator('.tl-phase').nth(1).textContent()).toMatch(/^ft 1 ep · lr auto · adam$/);
    // A row a block and the head, a column a phase: the first trains everything at 1e-3, ft at the rate it will search.
    expect(await page.locator('.tl-cell.on').allTextContents()).toEqual(Array.from({ length: 6 }, () => ['1e-3', 'auto']).flat());
    const chart = '.chart[data-chart="Loss by learning rate"]';
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-points')) >= 100, chart, { timeout: 120_000 });
    await page.waitForSelector('#job-status:text("succeeded")', { timeout: 120_000 });
    expect(await page.locator('#lr-found').count()).toBe(0);
  }, 180_000);
});
