import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

function tl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin/tl.js'), ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('tl weights', () => {
  it('lists where each zoo model gets its weights', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tl-cache-'));
    const r = await tl(['weights', 'list', '--cache', cache]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/mobilenetv2 +bundled/);
    expect(r.stdout).toMatch(/resnet50 +missing: run tl weights fetch resnet50/);
  });

  it('downloads from a mirror and refuses a file whose checksum is wrong, leaving nothing behind', async () => {
    const server = createServer((req, res) => {
      if (req.url?.endsWith('vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5')) res.end(Buffer.alloc(4096, 7));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const cache = mkdtempSync(join(tmpdir(), 'tl-cache-'));
    try {
      const r = await tl(['weights', 'fetch', 'vgg16', '--cache', cache, '--from', `http://127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/md5|checksum/i);
      expect(readdirSync(cache)).toEqual([]);
      const missing = await tl(['weights', 'fetch', 'resnet50', '--cache', cache, '--from', `http://127.0.0.1:${port}`]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/404/);
      expect(existsSync(join(cache, 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'))).toBe(false);
    } finally {
      server.close();
    }
  });

  it('says why it cannot save into the cache, before downloading', async () => {
    const blocked = join(mkdtempSync(join(tmpdir(), 'tl-cache-')), 'a-file');
    writeFileSync(blocked, 'where the cache folder would go');
    // Port 9 (discard) refuses: the download is never tried.
    const r = await tl(['weights', 'fetch', 'vgg16', '--cache', join(blocked, 'cache'), '--from', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`tl: cannot save weights in '${join(blocked, 'cache')}': a file is in the way of the folder.\n`);
  });

  it('names the models that can be fetched', async () => {
    const r = await tl(['weights', 'fetch', 'mobilenetv2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('downloadable: resnet50, vgg16');
  });
});

describe('tl run, as the README runs it', () => {
  it('trains the quickstart, prints JSON events ending in jobFinished, and the export predicts, evaluates and explains', async () => {
    const r = await tl(['run', 'examples/quickstart.tl', '--json', '--run-dir', mkdtempSync(join(tmpdir(), 'tl-qs-'))]);
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; metrics?: { testAccuracy: number; valAccuracy: number }; exportPath?: string });
    expect(events[0]!.type).toBe('jobStarted');
    const last = events.at(-1)!;
    expect(last.type).toBe('jobFinished');
    // 10 classes: chance is 0.1; the pretrained features should do far better.
    expect(last.metrics!.testAccuracy).toBeGreaterThan(0.4);

    // Then `tl predict` on the export: the image is ranked though the files beside it are no images (a device is
    // refused, not read forever); exit 1 names those files.
    const image = 'examples/data/fashion-mini/test/boot/000.png';
    const p = await tl(['predict', last.exportPath!, image, 'README.md', '/dev/zero']);
    expect(p.code).toBe(1);
    expect(p.stdout).toMatch(new RegExp(`^${image}\n(  [ \\d.]{5}%  \\w+\n){3}$`));
    expect(p.stderr).toMatch(/^tl: cannot read image README\.md: .+\ntl: cannot read image \/dev\/zero: it is a character device, not a regular file\n$/);
    // --tta ranks with the mirror image's probabilities averaged in.
    const tta = await tl(['predict', last.exportPath!, image, '--tta', '--json']);
    expect(tta.code).toBe(0);
    const [ranked] = JSON.parse(tta.stdout) as { top: { probability: number }[] }[];
    expect(ranked!.top).toHaveLength(3);

    // `tl evaluate` scores the export on the test set as the run's `evaluate` did.
    const test = 'examples/data/fashion-mini/test';
    const scored = await tl(['evaluate', last.exportPath!, test, '--worst', '2']);
    expect(scored.code).toBe(0);
    expect(scored.stdout).toContain(`${last.exportPath} on ${test}: 100 images of 10 classes\n  accuracy   ${(100 * last.metrics!.testAccuracy).toFixed(1)}%\n`);
    expect(scored.stdout).toMatch(/\n {2}class +precision +recall +images\n(  \w+ +[\d.]+% +[\d.]+% +10\n){10}/);
    expect(scored.stdout).toMatch(/\n {2}worst mistakes .*\n( {4}examples\/data\/fashion-mini\/test\/(\w+)\/\d+\.png +\2 taken for \w+ \([\d.]+%; \2 [\d.]+%\)\n){2}$/);
    // --explain: each listed mistake's map, as tl explain writes it.
    const maps = mkdtempSync(join(tmpdir(), 'tl-mistakes-'));
    const why = await tl(['evaluate', last.exportPath!, test, '--worst', '2', '--explain', maps]);
    expect(why.code).toBe(0);
    const mistakes = [...scored.stdout.matchAll(/^ {4}(\S+\.png) /gm)].map((m) => m[1]!);
    expect(why.stdout).toMatch(new RegExp(`\n${mistakes[0]}: \\w+ [\\d.]+% -> ${maps}/\\d+\\.cam\\.png\n${mistakes[1]}: \\w+ [\\d.]+% -> ${maps}/[\\d-]+\\.cam\\.png\n$`));
    expect(readdirSync(maps)).toHaveLength(2);
    const json = await tl(['evaluate', last.exportPath!, test, '--json']);
    expect((JSON.parse(json.stdout) as { accuracy: number }).accuracy).toBeCloseTo(last.metrics!.testAccuracy, 6);
    const wrong = await tl(['evaluate', last.exportPath!, 'examples/data/fashion-mini']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^tl evaluate: examples\/data\/fashion-mini has classes the model was not trained on: .*test, train; it knows bag, boot, /m);
    expect((await tl(['evaluate', last.exportPath!, test, '--worst', '-1'])).stderr).toBe("tl: --worst must be a whole number of at least 0, found '-1'\n");

    // `tl explain` writes each image with its Grad-CAM map over it, named after the image, never over one.
    const out = mkdtempSync(join(tmpdir(), 'tl-explain-'));
    const explained = await tl(['explain', last.exportPath!, image, 'examples/data/fashion-mini/test/sandal/000.png', 'README.md', '-o', out, '--class', 'boot']);
    expect(explained.code).toBe(1);
    expect(explained.stdout).toMatch(new RegExp(`^${image}: boot [\\d.]+% -> ${out}/000\\.cam\\.png\n.*sandal/000\\.png: boot [\\d.]+% \\(it says \\w+ [\\d.]+%\\) -> ${out}/000-2\\.cam\\.png\n$`));
    expect(explained.stderr).toMatch(/^tl explain: cannot explain README\.md: not an image/);
    const png = await sharp(join(out, '000.cam.png')).metadata();
    expect([png.format, png.width, png.height]).toEqual(['png', 224, 224]);
    expect((await tl(['explain', last.exportPath!, image, '-o', out, '--class', 'hat'])).stderr).toMatch(/^tl explain: --class 'hat' is not one of the model's classes: bag, boot, /);

    // A reader that stops early closes the pipe: tl stops quietly with 0.
    const early = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(root, 'bin/tl.js'), 'predict', last.exportPath!, test], { cwd: root });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(early).toEqual({ code: 0, stderr: '' });
  }, 600_000);

  it('reports a script error with its span and exit 1, without training', async () => {
    const r = await tl(['run', 'test/golden/errors/typos.tl']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('typos.tl:1:13: error unexpected-token: unexpected \'wieghts\' in \'use\'');
  });
});
