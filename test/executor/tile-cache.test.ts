/**
 * The file of GEMM tile choices kept between runs (src/executor/backends/webgpu/tile-cache.ts): a
 * real file in a temporary folder. That the tuner takes its choices instead of measuring is tested
 * on webgpu (tune.webgpu.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTileCache, tileCacheFile } from '../../src/executor/backends/webgpu/tile-cache.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tl-tiles-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the tile cache', () => {
  it('is ~/.cache/tl/gemm-tiles.json, or the file TL_TUNE_CACHE names, or none for off', () => {
    expect(tileCacheFile({})).toBe(join(homedir(), '.cache', 'tl', 'gemm-tiles.json'));
    expect(tileCacheFile({ TL_TUNE_CACHE: '/x/tiles.json' })).toBe('/x/tiles.json');
    expect(tileCacheFile({ TL_TUNE_CACHE: 'off' })).toBeUndefined();
  });

  it('keeps choices by device, in a folder it makes, for the next run to read', () => {
    const file = join(dir, 'nested', 'tiles.json');
    const cache = openTileCache(file, 'nvidia H200 580.159');
    expect(cache.problem).toBeUndefined();
    expect(cache.get('p|1|2|3#ab')).toBeUndefined();
    cache.set('p|1|2|3#ab', '128x64');
    cache.set('q|4|5|6#cd', 'backend');
    expect(cache.get('p|1|2|3#ab')).toBe('128x64');
    expect(cache.save()).toBeUndefined();
    const again = openTileCache(file, 'nvidia H200 580.159');
    expect([again.get('p|1|2|3#ab'), again.get('q|4|5|6#cd')]).toEqual(['128x64', 'backend']);
    // Another device (or driver) measures for itself.
    expect(openTileCache(file, 'nvidia A100 580.159').get('p|1|2|3#ab')).toBeUndefined();
    // No temporary file left behind.
    expect(readdirSync(join(dir, 'nested'))).toEqual(['tiles.json']);
  });

  it('adds its choices to those another run saved meanwhile', () => {
    const file = join(dir, 'tiles.json');
    const first = openTileCache(file, 'gpu');
    const second = openTileCache(file, 'gpu');
    first.set('a#1', '64x64');
    second.set('b#2', '128x128');
    expect(first.save()).toBeUndefined();
    expect(second.save()).toBeUndefined();
    const both = openTileCache(file, 'gpu');
    expect([both.get('a#1'), both.get('b#2')]).toEqual(['64x64', '128x128']);
  });

  it.each([
    ['not JSON', '{"format": "tl-gemm-tiles/1", "devices": {', /is not JSON/],
    ['another format', JSON.stringify({ format: 'something/2', devices: {} }), /is not a tl-gemm-tiles\/1 file/],
    ['no devices', JSON.stringify({ format: 'tl-gemm-tiles/1' }), /is not a tl-gemm-tiles\/1 file/],
  ])('starts empty from a file that is %s, says so, and rewrites it', (_, text, problem) => {
    const file = join(dir, 'tiles.json');
    writeFileSync(file, text);
    const cache = openTileCache(file, 'gpu');
    expect(cache.problem).toMatch(problem);
    expect(cache.problem).toContain(file);
    cache.set('a#1', '64x128');
    expect(cache.save()).toBeUndefined();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ format: 'tl-gemm-tiles/1', devices: { gpu: { 'a#1': '64x128' } } });
  });

  it('leaves out entries that are no choice of tile or kernel', () => {
    const file = join(dir, 'tiles.json');
    writeFileSync(file, JSON.stringify({ format: 'tl-gemm-tiles/1', devices: { gpu: { 'a#1': '96x96', 'b#2': 128, 'c#3': '64x128', 'd#4': 'toString' }, other: 'x' } }));
    const cache = openTileCache(file, 'gpu');
    expect(cache.problem).toBeUndefined();
    expect(['a#1', 'b#2', 'c#3', 'd#4'].map((key) => cache.get(key))).toEqual([undefined, undefined, '64x128', undefined]);
  });

  it('says why it cannot save, and loses nothing of the run', () => {
    // A folder where the file should be: rename onto it fails, as a read-only home would.
    const file = join(dir, 'tiles.json');
    mkdirSync(file);
    const cache = openTileCache(file, 'gpu');
    expect(cache.problem).toMatch(/cannot read the tile cache .*tiles\.json \(EISDIR\)/);
    cache.set('a#1', '64x64');
    expect(cache.save()).toMatch(/cannot save the tile choices to .*tiles\.json \(E\w+\); they will be measured again next time/);
    expect(cache.get('a#1')).toBe('64x64');
    expect(readdirSync(dir)).toEqual(['tiles.json']);
  });

  it('writes nothing when nothing was measured', () => {
    const file = join(dir, 'tiles.json');
    expect(openTileCache(file, 'gpu').save()).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });
});
