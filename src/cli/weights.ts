/** `tl weights list|fetch`: what pretrained weights this machine has, and downloading the ones it lacks. */
import { existsSync } from 'node:fs';
import { printable } from '../diagnostics/printable.ts';
import { ZOO } from '../zoo/catalog.ts';

export async function listWeights(cacheDir: string | undefined): Promise<void> {
  const zoo = await import('../executor/zoo/index.ts');
  const dir = cacheDir ?? zoo.defaultCacheDir();
  for (const m of ZOO) {
    let status: string;
    if (m.imagenet === 'bundled') status = 'bundled (nsfwjs: ImageNet-initialised, fine-tuned for a 5-class content task)';
    else if (m.imagenet === 'unavailable') status = 'none (no pretrained weights)';
    else if (zoo.isDownloadable(m.name)) {
      const path = zoo.knownWeightsPath(m.name, dir);
      status = existsSync(path) ? `cached: ${path}` : `missing: run tl weights fetch ${m.name}`;
    } else status = 'unknown';
    process.stdout.write(`${m.name.padEnd(12)} ${status}\n`);
  }
}

export async function fetchWeightsCommand(name: string, opts: { cache?: string; from?: string }): Promise<number> {
  const zoo = await import('../executor/zoo/index.ts');
  if (!zoo.isDownloadable(name)) {
    process.stderr.write(`tl: '${printable(name)}' has no downloadable weights; downloadable: ${Object.keys(zoo.KNOWN_WEIGHTS).join(', ')}\n`);
    return 2;
  }
  const known = zoo.KNOWN_WEIGHTS[name];
  const dest = zoo.knownWeightsPath(name, opts.cache ?? zoo.defaultCacheDir());
  // A mirror serves the same files under another base URL; the checksums still apply.
  const url = opts.from ? `${opts.from.replace(/\/$/, '')}/${known.file}` : known.url;
  process.stderr.write(`downloading ${url}\n  -> ${dest}\n`);
  let last = 0;
  try {
    const r = await zoo.fetchWeights({
      url, dest, sha256: known.sha256, md5: known.md5,
      onProgress: (received, total) => {
        const now = Date.now();
        if (now - last < 500 || !process.stderr.isTTY) return;
        last = now;
        process.stderr.write(`\r  ${(received / 1e6).toFixed(1)} MB${total ? ` of ${(total / 1e6).toFixed(1)} MB` : ''}`);
      },
    });
    process.stderr.write(`\nsaved ${r.bytes.toLocaleString('en-US')} bytes (md5 ${r.md5})\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`\ntl: ${printable((err as Error).message)}\n`);
    return 1;
  }
}
