/**
 * Finding image files on disk: class-per-folder trees and flat folders.
 */
import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { DataError, notFound } from './data-error.ts';

/** Extensions sharp's prebuilt libvips decodes. BMP, HEIC and SVG are left out on purpose. */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** Code-point order: the same on every machine and locale (and Python's `sorted`, as Keras uses). */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const hidden = (name: string): boolean => name.startsWith('.') || name.startsWith('__');

/** `path`'s stat; throws `data-not-found` unless it exists (a folder, a manifest or an IDX file alike). */
export async function requireExists(path: string, what: string): Promise<Stats> {
  return stat(path).catch((error: unknown) => {
    throw notFound(what, path, error);
  });
}

/** Throws `data-not-found` or `not-a-directory` unless `dir` is a readable folder. */
export async function requireDirectory(dir: string, what: string): Promise<void> {
  const info = await requireExists(dir, what);
  if (!info.isDirectory()) {
    throw new DataError('not-a-directory', `${what} '${dir}' is a file, but a folder was expected; point at the folder that holds one sub-folder per class`, {
      path: dir,
    });
  }
}

export type Listing = { images: string[]; folders: string[]; other: string[] };

/** The sorted image files, sub-folders and other files directly inside `dir` (hidden ones skipped). */
export async function listDirectory(dir: string): Promise<Listing> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: Listing = { images: [], folders: [], other: [] };
  for (const entry of entries.sort((a, b) => byCodePoint(a.name, b.name))) {
    if (hidden(entry.name)) continue;
    const full = join(dir, entry.name);
    // Follow symlinks: datasets are often assembled from links into a shared store.
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(full).catch(() => null))?.isDirectory() === true);
    if (isDir) out.folders.push(full);
    else if (isImageFile(entry.name)) out.images.push(full);
    else out.other.push(full);
  }
  return out;
}

/** Every image under `dir`, depth first in sorted order; non-image files are collected in `other`. */
export async function walkImages(dir: string, other: string[] = []): Promise<string[]> {
  const { images, folders, other: rest } = await listDirectory(dir);
  // No push(...list): a folder may hold more files than a call takes arguments.
  for (const file of rest) other.push(file);
  for (const folder of folders) for (const image of await walkImages(folder, other)) images.push(image);
  return images;
}

export type ClassTree = {
  /** Sorted folder names. */
  classes: string[];
  /** The image files of each class (possibly empty), recursing into sub-folders. */
  files: string[][];
  /** Files that were not images, for one warning. */
  ignored: string[];
  /** Images lying directly in the root, outside any class folder. */
  loose: string[];
};

/** Lists a class-per-folder tree; the caller decides what an empty class means. */
export async function listClassTree(root: string, what: string): Promise<ClassTree> {
  await requireDirectory(root, what);
  const top = await listDirectory(root);
  const ignored = [...top.other];
  const classes: string[] = [];
  const files: string[][] = [];
  for (const folder of top.folders) {
    classes.push(basename(folder));
    files.push(await walkImages(folder, ignored));
  }
  return { classes, files, ignored, loose: top.images };
}

/** One warning for non-image files, naming a few of them. */
export function describeIgnored(ignored: readonly string[], root: string): string | null {
  if (ignored.length === 0) return null;
  const exts = [...new Set(ignored.map((f) => extname(f).toLowerCase() || 'no extension'))].slice(0, 5);
  return `ignored ${ignored.length} file(s) under '${root}' that are not images TL reads (${exts.join(', ')}), e.g. '${ignored[0]}'`;
}
