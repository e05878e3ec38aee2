/**
 * Shared by the browser tests: the dashboard built into web/dist, and Debian's chromium driven by
 * playwright-core (never a downloaded browser), headless, with a fresh profile.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build as esbuild } from 'esbuild';
import { chromium, type BrowserContext } from 'playwright-core';
import { build } from 'vite';
import { root } from '../service/helpers.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`test/web: skipped, no ${CHROMIUM} (apt-get install -y chromium)`);

/** Bundles `entry` (module source, importing from the repository root) with esbuild for a browser, where Node's modules do not exist. */
export async function bundleForBrowser(entry: string): Promise<string> {
  const out = await esbuild({ stdin: { contents: entry, resolveDir: root, loader: 'ts' }, bundle: true, platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent' });
  return out.outputFiles[0]!.text;
}

/** Builds web/ into web/dist, what `npm run build:web` does. */
export async function buildDashboard(): Promise<void> {
  await build({ configFile: join(root, 'web/vite.config.ts'), logLevel: 'warn' });
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'tl-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where to save screenshots of the main views: set TL_SCREENSHOTS=docs/screenshots to refresh them. */
export const screenshotDir: string | null = process.env.TL_SCREENSHOTS ? join(root, process.env.TL_SCREENSHOTS) : null;
