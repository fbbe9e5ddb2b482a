/**
 * The admin UI's built files (dist/ui: index.html, ui.css and the compiled ES modules), read
 * once at boot into memory.
 *
 * Guarantees: the set of servable files is fixed when the orchestrator starts, from the build
 * output only: a request names a key of that map, and no part of a URL ever becomes a
 * filesystem path, so nothing outside the UI can be read (no traversal). Only plain names
 * (letters, digits, dashes, dots, slashes between folders) with a known type are taken.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const PLAIN_NAME = /^[a-z0-9][a-z0-9-]*(?:\/[a-z0-9][a-z0-9-]*)*\.(html|css|js|svg|png)$/;

export interface UiAsset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The folder holding the built UI: `ui/` under the nearest `dist/` above this file (compiled), or the repository's dist/ui (run from source). */
export function findUiDir(from: string = __dirname): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    for (const candidate of [join(dir, 'ui'), join(dir, 'dist', 'ui')]) {
      if (existsSync(join(candidate, 'index.html')) && existsSync(join(candidate, 'main.js'))) return candidate;
    }
    if (dirname(dir) === dir) return null;
  }
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : entry.isFile() ? [join(dir, entry.name)] : []));
}

/** name (e.g. `pages/overview.js`) → its content; empty when the UI was not built. */
export function loadUiAssets(dir: string | null): Map<string, UiAsset> {
  const assets = new Map<string, UiAsset>();
  if (dir === null) return assets;
  for (const file of listFiles(dir)) {
    const name = relative(dir, file).split(sep).join('/');
    const match = PLAIN_NAME.exec(name);
    if (!match) continue;
    const body = readFileSync(file);
    assets.set(name, { body, type: TYPES[`.${match[1]}`], etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return assets;
}
