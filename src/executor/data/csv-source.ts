/**
 * The `csv` format: a `path,label` manifest. Class names are the distinct labels in code-point order.
 */
import { DataError } from './data-error.ts';
import { decodeFile, type Item } from './decode-items.ts';
import { byCodePoint } from './list-images.ts';
import { readManifest } from './manifest.ts';
import type { Source } from './source.ts';

export async function csvSource(file: string, classes: string[] | null): Promise<Source> {
  const rows = await readManifest(file);
  const names = classes ?? [...new Set(rows.map((r) => r.label))].sort(byCodePoint);
  const index = new Map(names.map((name, i) => [name, i]));
  const items: Item[] = rows.map((row) => {
    const label = index.get(row.label);
    if (label === undefined) {
      throw new DataError('unknown-label', `${file}:${row.line}: label '${row.label}' is not a training class (${names.join(', ')}); fix the label or add the class to the training data`, {
        path: file,
        line: row.line,
      });
    }
    return { source: row.path, label, listedAt: { path: file, line: row.line } };
  });
  return { classes: names, items, decode: decodeFile, classPath: () => file };
}
