/**
 * A csv manifest: a `path,label` header, then one image per row. Paths are relative to the csv's
 * folder (absolute ones are kept); other columns are allowed and ignored.
 */
import { dirname, resolve } from 'node:path';
import { CsvSyntaxError, parseCsv } from './csv.ts';
import { DataError, notFound } from './data-error.ts';
import { NotARegularFileError, readRegularFile } from './regular-file.ts';

export type ManifestRow = { path: string; label: string; line: number };

export async function readManifest(file: string): Promise<ManifestRow[]> {
  let text: string;
  try {
    text = (await readRegularFile(file)).toString('utf8');
  } catch (error) {
    if (error instanceof NotARegularFileError) {
      throw new DataError('bad-manifest', `manifest '${file}' cannot be read: ${error.message}; point format csv at a .csv file`, { path: file, cause: error });
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') {
      throw new DataError('bad-manifest', `'${file}' is a folder, but format csv expects a manifest file; use format folder or point at the .csv`, {
        path: file,
        cause: error,
      });
    }
    throw notFound('manifest', file, error);
  }
  let records;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (!(error instanceof CsvSyntaxError)) throw error;
    throw new DataError('bad-manifest', `${file}:${error.line}: ${error.message}`, { path: file, line: error.line });
  }
  const header = records[0];
  if (!header) throw new DataError('bad-manifest', `manifest '${file}' is empty; expected a 'path,label' header and one row per image`, { path: file, line: 1 });
  const names = header.fields.map((f) => f.toLowerCase());
  const pathCol = names.indexOf('path');
  const labelCol = names.indexOf('label');
  if (pathCol < 0 || labelCol < 0) {
    throw new DataError('bad-manifest', `${file}:${header.line}: expected a header with columns 'path' and 'label', found '${header.fields.join(',')}'`, {
      path: file,
      line: header.line,
    });
  }
  const dir = dirname(file);
  const rows: ManifestRow[] = [];
  for (const record of records.slice(1)) {
    if (record.fields.length !== header.fields.length) {
      throw new DataError(
        'bad-manifest',
        `${file}:${record.line}: expected ${header.fields.length} fields like the header, found ${record.fields.length}; quote fields that contain commas`,
        { path: file, line: record.line },
      );
    }
    const path = record.fields[pathCol]!;
    const label = record.fields[labelCol]!;
    if (path === '' || label === '') {
      throw new DataError('bad-manifest', `${file}:${record.line}: the ${path === '' ? 'path' : 'label'} is empty; every row needs an image path and a label`, {
        path: file,
        line: record.line,
      });
    }
    rows.push({ path: resolve(dir, path), label, line: record.line });
  }
  if (rows.length === 0) throw new DataError('no-classes', `manifest '${file}' has a header but no rows; add one 'path,label' row per image`, { path: file });
  return rows;
}
