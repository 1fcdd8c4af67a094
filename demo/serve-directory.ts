/**
 * A small static-file middleware (connect-style, as vite's dev server and node:http both accept): serves the files
 * of one directory under a URL prefix, GET/HEAD only, no directory listings, nothing outside the directory, with
 * single-range `Range: bytes=a-b` requests answered 206 as real servers do (the element reads the weights' layers
 * that way). Used by the dev server for /weights/ and by the browser tests' server.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';

export type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.bin': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/** Serves `directory` at `prefix` (which starts and ends with "/"); other URLs go to `next`. */
export function serveDirectory(prefix: string, directory: string, headers: Record<string, string> = {}): Middleware {
  const root = resolve(directory);
  return (req, res, next) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (!path.startsWith(prefix) || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
    let file = resolve(root, `.${sep}${path.slice(prefix.length)}`);
    if (file !== root && !file.startsWith(root + sep)) return next();
    let stats = statSync(file, { throwIfNoEntry: false });
    if (stats?.isDirectory()) {
      file = resolve(file, 'index.html');
      stats = statSync(file, { throwIfNoEntry: false });
    }
    if (!stats?.isFile()) return next();
    const common = {
      'content-type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
      'cache-control': 'no-cache',
      ...headers,
    };
    const range = byteRange(req.headers.range, stats.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'content-range': `bytes */${stats.size}` });
      return void res.end();
    }
    if (range) {
      res.writeHead(206, { ...common, 'content-range': `bytes ${range.start}-${range.end}/${stats.size}`, 'content-length': String(range.end - range.start + 1) });
      if (req.method === 'HEAD') return void res.end();
      return void createReadStream(file, range).pipe(res);
    }
    res.writeHead(200, { ...common, 'content-length': String(stats.size) });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  };
}

/**
 * The inclusive byte range of a single-range `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) for a file of
 * `size` bytes; undefined (the whole file) for no header or one this server does not handle (several ranges).
 */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
