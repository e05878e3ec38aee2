/**
 * Serves the dashboard's built bundle (web/dist, made by `npm run build:web`) on every GET that is
 * not GraphQL or the health check: files by path, `index.html` for `/` and for client routes such
 * as `/jobs/ID`, 404 for missing assets. Hashed assets are cached for a year; index.html never is,
 * so a rebuilt bundle is picked up at the next load.
 *
 * @example
 * const web = staticHandler({ root: 'web/dist' });
 * http.createServer((req, res) => { if (isWebRequest(req, '/graphql')) return web(req, res); ... });
 */
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Vite names built assets `name-HASH.ext` under assets/: their content never changes under that name. */
const HASHED = /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

/** The package root (the folder with package.json), from src/api or from dist/src/api alike. */
function packageRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where `npm run build:web` writes the bundle. */
export const WEB_DIST = join(packageRoot(), 'web', 'dist');

/** True for a GET or HEAD that is neither the GraphQL endpoint nor the health check. */
export function isWebRequest(req: IncomingMessage, graphqlPath: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = (req.url ?? '/').split('?')[0]!;
  return path !== graphqlPath && path !== '/health';
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(text);
}

/** The file under `root` a URL path names, or null when it would leave `root` or is malformed. */
export function resolveInside(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.includes('\\')) return null;
  const file = resolve(root, `.${path.startsWith('/') ? path : `/${path}`}`);
  return file === root || file.startsWith(root + sep) ? file : null;
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

export interface StaticOptions {
  /** The built bundle's folder. */
  readonly root: string;
}

/** A request handler for the bundle under `root` (see the module comment). */
export function staticHandler(o: StaticOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const root = resolve(o.root);
  return (req, res) => {
    const urlPath = (req.url ?? '/').split('?')[0]!;
    const index = join(root, 'index.html');
    if (!isFile(index)) return send(res, 404, 'The dashboard is not built: run `npm run build:web`.\n');
    const file = resolveInside(root, urlPath);
    if (file === null) return send(res, 400, 'Bad path.\n');
    let target = index;
    if (isFile(file)) {
      // A link inside the bundle that leads out of it is refused like `..`.
      const real = realpathSync(file);
      if (real !== realpathSync(root) && !real.startsWith(realpathSync(root) + sep)) return send(res, 404, 'Not found.\n');
      target = file;
    } else if (extname(urlPath) !== '' || urlPath.startsWith('/assets/')) {
      // A missing file is a 404, not the page: a client route has no extension.
      return send(res, 404, 'Not found.\n');
    }
    const size = statSync(target).size;
    res.writeHead(200, {
      'content-type': TYPES[extname(target)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': target !== index && HASHED.test(urlPath) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(target).on('error', () => res.destroy()).pipe(res);
  };
}

/** The handler `startServer` uses: the bundle in web/dist. */
export const serveWeb = staticHandler({ root: WEB_DIST });
