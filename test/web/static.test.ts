/**
 * The dashboard's static-file handler on a real HTTP server: content types, caching, index.html for
 * client routes, 404 for missing files, and no way out of the bundle folder (`..` raw or encoded,
 * backslashes, NUL, links).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWebRequest, resolveInside, staticHandler } from '../../src/api/static.ts';

let dir: string;
let server: Server;
let port: number;

/** A raw GET: fetch would normalise `..` away before sending. */
function get(path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tl-static-'));
  const dist = join(dir, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>TL</title>');
  writeFileSync(join(dist, 'assets', 'index-CRXTkVHS.js'), 'console.log(1)');
  writeFileSync(join(dist, 'assets', 'index-DyYynWJy.css'), 'body{}');
  writeFileSync(join(dir, 'secret.txt'), 'SECRET');
  symlinkSync(join(dir, 'secret.txt'), join(dist, 'link.txt'));
  const web = staticHandler({ root: dist });
  server = createServer((req, res) => (isWebRequest(req, '/graphql') ? web(req, res) : res.writeHead(418).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('static files', () => {
  it('serves index.html for / and client routes, never cached', async () => {
    for (const path of ['/', '/jobs/0b97de90', '/submit', '/?status=RUNNING']) {
      const r = await get(path);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.body).toContain('<title>TL</title>');
    }
  });

  it('serves hashed assets with their type, cached for a year', async () => {
    const js = await get('/assets/index-CRXTkVHS.js');
    expect(js).toMatchObject({ status: 200, body: 'console.log(1)' });
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await get('/assets/index-DyYynWJy.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    const head = await get('/assets/index-CRXTkVHS.js', 'HEAD');
    expect(head).toMatchObject({ status: 200, body: '' });
    expect(head.headers['content-length']).toBe('14');
  });

  it('answers 404 for a missing asset instead of the page', async () => {
    expect((await get('/assets/nope-12345678.js')).status).toBe(404);
    expect((await get('/favicon.png')).status).toBe(404);
  });

  it('never serves a file outside the bundle', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/a%00.js', '/%E0%A4%A', '/link.txt']) {
      const r = await get(path);
      expect([400, 404], path).toContain(r.status);
      expect(r.body, path).not.toContain('SECRET');
    }
  });

  it('resolves paths only inside the root', () => {
    expect(resolveInside('/srv/web', '/assets/a.js')).toBe('/srv/web/assets/a.js');
    expect(resolveInside('/srv/web', '/../web2/a.js')).toBeNull();
    expect(resolveInside('/srv/web', '/%2e%2e/x')).toBeNull();
  });

  it('leaves GraphQL, the health check and other methods to the server', async () => {
    expect((await get('/graphql')).status).toBe(418);
    expect((await get('/graphql?query=%7B__typename%7D')).status).toBe(418);
    expect((await get('/health')).status).toBe(418);
    expect((await get('/', 'POST')).status).toBe(418);
  });
});
