/**
 * `tl explain MODEL IMAGE...`: where in each image the model looked for its answer (Grad-CAM), as a
 * PNG of the image with the map over it, red where the class was found most. With `--class`, where
 * it would find that class instead: why a boot was taken for a sandal, or what little of a coat it saw.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { printable } from '../diagnostics/printable.ts';
import type { ExportedModel } from '../executor/predict.ts';
import { pct } from './numbers.ts';
import { backendOption } from './usage.ts';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('show where in each image a model exported by tl run found its answer (Grad-CAM), as a PNG with the map over the image')
    .argument('<model-dir>', "a folder written by a script's 'export'")
    .argument('<images...>', 'image files (JPEG, PNG, WebP...), or folders of them')
    .option('-o, --out <dir>', 'where the PNGs go, each named after its image', 'explained')
    .option('--class <label>', 'explain this class instead of the likeliest')
    .option('--backend <name>', 'auto, tensorflow, webgpu, wasm or cpu', 'auto')
    .action(async (dir: string, images: string[], opts: { out: string; class?: string; backend: string }) => {
      const backend = backendOption(opts.backend);
      const { loadModel } = await import('../executor/index.ts');
      try {
        const model = await loadModel(dir, { backend });
        if (opts.class !== undefined && !model.labels.includes(opts.class)) {
          throw new Error(`--class '${opts.class}' is not one of the model's classes: ${model.labels.join(', ')}`);
        }
        const { imageFiles } = await import('../executor/predict.ts');
        if (!(await explainFiles(model, await imageFiles(images), { out: opts.out, label: opts.class, print: process.stdout }))) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`tl explain: ${printable((err as Error).message)}\n`);
        process.exitCode = 1;
      }
    });
}

/**
 * Writes `NAME.cam.png` under `out` for each image file, its Grad-CAM map over it (of `label`, or
 * of the likeliest class), and prints a line for each to `print`; a file that cannot be explained
 * is named on stderr. False when one could not be.
 */
export async function explainFiles(model: ExportedModel, files: readonly string[], o: { readonly out: string; readonly label?: string | undefined; readonly print: NodeJS.WritableStream }): Promise<boolean> {
  const { explainImage, heatmapImage } = await import('../executor/index.ts');
  const { readImageFile } = await import('../executor/predict.ts');
  mkdirSync(o.out, { recursive: true });
  const taken = new Set(files.map((f) => resolve(f)));
  let ok = true;
  for (const file of files) {
    try {
      const bytes = await readImageFile(file);
      const e = await explainImage(model, bytes, o.label === undefined ? {} : { label: o.label });
      const written = join(o.out, uniqueName(file, o.out, taken));
      writeFileSync(written, await heatmapImage(bytes, e.map));
      const answer = e.label === e.predicted.label ? `${e.label} ${pct(e.probability).trim()}` : `${e.label} ${pct(e.probability).trim()} (it says ${e.predicted.label} ${pct(e.predicted.probability).trim()})`;
      o.print.write(printable(`${file}: ${answer} -> ${written}\n`));
    } catch (err) {
      process.stderr.write(`tl explain: cannot explain ${printable(file)}: ${printable((err as Error).message)}\n`);
      ok = false;
    }
  }
  return ok;
}

/** `name.cam.png` for `a/b/name.jpg`; `name-2.cam.png`... for later images of the same name (never an image being explained). */
function uniqueName(file: string, out: string, taken: Set<string>): string {
  const stem = basename(file, extname(file)) || 'image';
  let name = `${stem}.cam.png`;
  for (let n = 2; taken.has(resolve(out, name)); n++) name = `${stem}-${n}.cam.png`;
  taken.add(resolve(out, name));
  return name;
}
