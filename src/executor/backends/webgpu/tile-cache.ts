/**
 * Tile choices kept between runs (tune.ts). Measuring the 60-odd products of a ResNet50 training
 * step takes seconds on a GPU at the start of every phase of every `tl run`; the same products on
 * the same device and driver, with the same kernels, measure the same. A choice is kept by device
 * (vendor, device and driver, as the adapter names them) and by product, under a fingerprint of the
 * code of every option it was measured among (tune.ts `cacheKey`): a change to a kernel's WGSL, to
 * the tiles offered or to tfjs's version measures the product again.
 *
 * One JSON file, by default ~/.cache/tl/gemm-tiles.json; TL_TUNE_CACHE names another, or `off`
 * keeps nothing. A file that cannot be read as such is left out (and rewritten at the next save):
 * it costs the measurement, never the run.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { makeDirectory } from '../../make-directory.ts';
import { isChoice, type Choice } from './gemm.ts';

const FORMAT = 'tl-gemm-tiles/1';

interface CacheFile {
  format: typeof FORMAT;
  devices: Record<string, Record<string, Choice>>;
}

export interface TileCache {
  readonly file: string;
  /** Why the file's choices were left out, where they were (then it starts empty). */
  readonly problem?: string;
  get(key: string): Choice | undefined;
  set(key: string, choice: Choice): void;
  /** Writes the choices set since opening into the file as it is now; what went wrong, if anything. */
  save(): string | undefined;
}

/** The cache file `env` asks for: TL_TUNE_CACHE, else ~/.cache/tl/gemm-tiles.json; undefined for `off`. */
export function tileCacheFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env['TL_TUNE_CACHE'];
  if (chosen === 'off') return undefined;
  return chosen !== undefined && chosen !== '' ? chosen : join(homedir(), '.cache', 'tl', 'gemm-tiles.json');
}

/** The file's choices by device (entries that are not a choice are left out), or why there are none. */
function read(file: string): { devices: CacheFile['devices']; problem?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { devices: {} } : { devices: {}, problem: `cannot read the tile cache ${file} (${code ?? (err as Error).message})` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { devices: {}, problem: `the tile cache ${file} is not JSON (${(err as Error).message})` };
  }
  const devices = (parsed as Partial<CacheFile> | null)?.devices;
  if ((parsed as Partial<CacheFile> | null)?.format !== FORMAT || typeof devices !== 'object' || devices === null) {
    return { devices: {}, problem: `the tile cache ${file} is not a ${FORMAT} file` };
  }
  const out: CacheFile['devices'] = {};
  for (const [device, choices] of Object.entries(devices)) {
    if (typeof choices !== 'object' || choices === null) continue;
    out[device] = Object.fromEntries(Object.entries(choices).filter(([, choice]) => isChoice(choice)));
  }
  return { devices: out };
}

/** The choices `file` keeps for `device`; set ones are written by `save`, merged with what the file holds then. */
export function openTileCache(file: string, device: string): TileCache {
  const { devices, problem } = read(file);
  const known = new Map(Object.entries(devices[device] ?? {}));
  const added = new Map<string, Choice>();
  return {
    file,
    ...(problem !== undefined && { problem }),
    get: (key) => added.get(key) ?? known.get(key),
    set: (key, choice) => void added.set(key, choice),
    save() {
      if (added.size === 0) return undefined;
      // Another run may have saved meanwhile: its choices stay, ours are added.
      const now = read(file).devices;
      now[device] = { ...now[device], ...Object.fromEntries(added) };
      const temporary = `${file}.${process.pid}.tmp`;
      try {
        makeDirectory(dirname(file));
        writeFileSync(temporary, `${JSON.stringify({ format: FORMAT, devices: now } satisfies CacheFile, null, 1)}\n`);
        renameSync(temporary, file);
        added.forEach((choice, key) => known.set(key, choice));
        added.clear();
        return undefined;
      } catch (err) {
        rmSync(temporary, { force: true });
        return `cannot save the tile choices to ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); they will be measured again next time`;
      }
    },
  };
}
