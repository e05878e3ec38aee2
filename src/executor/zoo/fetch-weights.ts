/**
 * Downloads a weights file into the cache: streamed to a temporary file beside the destination,
 * checked, then renamed into place, so a failed or wrong download never leaves a file that looks good.
 */
import { createHash, randomUUID } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { prepareWritable, whyNotWritable } from '../make-directory.ts';
import { ZooError } from './errors.ts';
import { whyFetchFailed } from '../../diagnostics/fetch-failure.ts';
import { KNOWN_WEIGHTS, knownWeightsPath, type DownloadableModel } from './known-weights.ts';

export interface FetchWeightsOptions {
  /** http(s) URL. */
  readonly url: string;
  /** Final path of the file; its folder is created. */
  readonly dest: string;
  /** Expected hex digests; a mismatch fails the download and leaves nothing behind. */
  readonly sha256?: string | null;
  readonly md5?: string | null;
  readonly signal?: AbortSignal;
  readonly onProgress?: (received: number, total: number | null) => void;
}

export interface FetchWeightsResult {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly md5: string;
}

function checkDigest(kind: string, expected: string | null | undefined, actual: string, url: string): void {
  if (expected && expected.toLowerCase() !== actual) {
    throw new ZooError('download-failed', `${url} has ${kind} ${actual}, expected ${expected.toLowerCase()}; the file was not saved.`);
  }
}

/**
 * Example: `await fetchWeights({ url: KNOWN_WEIGHTS.vgg16.url, md5: KNOWN_WEIGHTS.vgg16.md5, dest })`.
 */
export async function fetchWeights(options: FetchWeightsOptions): Promise<FetchWeightsResult> {
  const dest = resolve(options.dest);
  try {
    prepareWritable(dirname(dest));
  } catch (err) {
    throw new ZooError('download-failed', `cannot save weights in '${dirname(dest)}': ${whyNotWritable(err)}.`, { cause: err });
  }
  const temp = join(dirname(dest), `.${basename(dest)}.${randomUUID()}.part`);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  try {
    const response = await fetch(options.url, { signal: options.signal ?? null });
    if (!response.ok || !response.body) {
      throw new ZooError('download-failed', `${options.url} answered HTTP ${response.status} ${response.statusText}.`);
    }
    // fetch decodes gzip/br transparently, so content-length counts other bytes than we see.
    const length = response.headers.get('content-encoding') ? NaN : Number(response.headers.get('content-length'));
    const total = Number.isFinite(length) && length > 0 ? length : null;
    const file = await open(temp, 'wx');
    try {
      for await (const chunk of response.body) {
        sha256.update(chunk);
        md5.update(chunk);
        await file.write(chunk);
        bytes += chunk.byteLength;
        options.onProgress?.(bytes, total);
      }
    } finally {
      await file.close();
    }
    if (total !== null && bytes !== total) {
      throw new ZooError('download-failed', `${options.url} ended after ${bytes} of ${total} bytes.`);
    }
    const result = { path: dest, bytes, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
    checkDigest('sha256', options.sha256, result.sha256, options.url);
    checkDigest('md5', options.md5, result.md5, options.url);
    await rename(temp, dest);
    return result;
  } catch (err) {
    await rm(temp, { force: true });
    if (err instanceof ZooError) throw err;
    throw new ZooError('download-failed', `could not download ${options.url}: ${whyFetchFailed(err)}.`, { cause: err });
  }
}

/** Downloads the Keras ImageNet weights of `name` into `cacheDir` (the `tl weights fetch` command). */
export function fetchKnownWeights(
  name: DownloadableModel,
  options: { cacheDir: string; signal?: AbortSignal; onProgress?: FetchWeightsOptions['onProgress'] },
): Promise<FetchWeightsResult> {
  const known = KNOWN_WEIGHTS[name];
  return fetchWeights({
    url: known.url,
    dest: knownWeightsPath(name, options.cacheDir),
    sha256: known.sha256,
    md5: known.md5,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
