import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findUiDir, loadUiAssets } from './ui-assets';

describe('admin UI assets', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ui-assets-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds dist/ui above the compiled file, and the repository dist/ui from the sources', async () => {
    await mkdir(join(root, 'dist', 'ui'), { recursive: true });
    await writeFile(join(root, 'dist', 'ui', 'index.html'), '<!doctype html>');
    await writeFile(join(root, 'dist', 'ui', 'main.js'), '');
    await mkdir(join(root, 'dist', 'apps', 'orchestrator', 'src', 'api', 'ui'), { recursive: true });
    await mkdir(join(root, 'apps', 'orchestrator', 'src', 'api', 'ui'), { recursive: true });
    expect(findUiDir(join(root, 'dist', 'apps', 'orchestrator', 'src', 'api', 'ui'))).toBe(join(root, 'dist', 'ui'));
    expect(findUiDir(join(root, 'apps', 'orchestrator', 'src', 'api', 'ui'))).toBe(join(root, 'dist', 'ui'));
  });

  it('takes only plain names of known types, keyed by their path inside the folder', async () => {
    await mkdir(join(root, 'pages'));
    for (const name of ['index.html', 'ui.css', 'main.js', 'pages/overview.js', 'views.ts', 'main.js.map', '.secret.js', 'Upper.js', 'pages/a b.js']) {
      await writeFile(join(root, name), `/* ${name} */`);
    }
    const assets = loadUiAssets(root);
    expect([...assets.keys()].sort()).toEqual(['index.html', 'main.js', 'pages/overview.js', 'ui.css']);
    expect(assets.get('pages/overview.js')).toMatchObject({ type: 'text/javascript; charset=utf-8', etag: expect.stringMatching(/^"[\w-]{27}"$/) });
    expect(assets.get('pages/overview.js')!.body.toString()).toBe('/* pages/overview.js */');
    expect(loadUiAssets(null).size).toBe(0);
  });
});
