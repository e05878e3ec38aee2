import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZooError } from '../../../src/executor/zoo/errors.ts';
import { fetchWeights } from '../../../src/executor/zoo/fetch-weights.ts';
import { KNOWN_WEIGHTS } from '../../../src/executor/zoo/known-weights.ts';
import { closedPort } from '../../closed-port.ts';

const BODY = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
const SHA256 = createHash('sha256').update(BODY).digest('hex');
const MD5 = createHash('md5').update(BODY).digest('hex');

let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/weights.h5') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
      // Several chunks, as a real download arrives.
      for (let i = 0; i < BODY.length; i += 65_536) res.write(BODY.subarray(i, i + 65_536));
      res.end();
    } else if (req.url === '/short.h5') {
      // Promises more bytes than it sends, then drops the connection.
      res.writeHead(200, { 'content-length': BODY.length });
      res.write(BODY.subarray(0, 1000), () => res.destroy());
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'tl-zoo-fetch-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  await rm(dir, { recursive: true, force: true });
});

describe('fetchWeights', () => {
  it('saves the served bytes and reports their digests', async () => {
    const dest = join(dir, 'ok', 'weights.h5');
    const progress: number[] = [];
    const result = await fetchWeights({ url: `${base}/weights.h5`, dest, sha256: SHA256, md5: MD5, onProgress: (n) => progress.push(n) });
    expect(result).toEqual({ path: dest, bytes: BODY.length, sha256: SHA256, md5: MD5 });
    expect((await readFile(dest)).equals(BODY)).toBe(true);
    expect(progress.at(-1)).toBe(BODY.length);
    expect(await readdir(join(dir, 'ok'))).toEqual(['weights.h5']);
  });

  it('fails on a wrong sha256 and leaves nothing behind', async () => {
    const dest = join(dir, 'bad', 'weights.h5');
    const err = await fetchWeights({ url: `${base}/weights.h5`, dest, sha256: '0'.repeat(64) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZooError);
    expect((err as ZooError).code).toBe('download-failed');
    expect((err as ZooError).message).toContain(`has sha256 ${SHA256}, expected ${'0'.repeat(64)}`);
    expect(existsSync(dest)).toBe(false);
    expect(await readdir(join(dir, 'bad'))).toEqual([]);
  });

  it('fails on an HTTP error and on an unreachable server', async () => {
    const dest = join(dir, 'missing', 'weights.h5');
    await expect(fetchWeights({ url: `${base}/nope.h5`, dest })).rejects.toMatchObject({ code: 'download-failed', message: expect.stringContaining('HTTP 404') });
    // Nothing listens: the reason is the refused connection, not fetch's bare "fetch failed".
    const url = `http://127.0.0.1:${await closedPort()}/weights.h5`;
    await expect(fetchWeights({ url, dest })).rejects.toMatchObject({ code: 'download-failed', message: `could not download ${url}: ECONNREFUSED.` });
    expect(await readdir(join(dir, 'missing'))).toEqual([]);
  });

  it('fails on a connection dropped mid-download and leaves nothing behind', async () => {
    const dest = join(dir, 'short', 'weights.h5');
    await expect(fetchWeights({ url: `${base}/short.h5`, dest })).rejects.toMatchObject({ code: 'download-failed' });
    expect(await readdir(join(dir, 'short'))).toEqual([]);
  });

  it('knows the Keras applications URLs and hashes', () => {
    expect(KNOWN_WEIGHTS.resnet50.url).toBe(
      'https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
    );
    expect(KNOWN_WEIGHTS.vgg16.url).toBe(
      'https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    );
    expect(KNOWN_WEIGHTS.vgg16.md5).toMatch(/^[0-9a-f]{32}$/);
  });
});
