/**
 * A tiled matrix product C[M, N] = sum over k of A(m, k) * B(k, n) whose operands are read through
 * kernel-specific WGSL (implicit GEMM: a convolution gradient reads its im2col matrix straight from
 * the activations, never building it), with the reduction split into slices when M x N is too small
 * to fill the GPU (a convolution's filter gradient: M x N is the filter, K is every position of the
 * batch; a late layer's forward product, whose C has a few hundred tiles). Slices write
 * `[S, M, N]` partials that the column-sum program adds up, or, for a product with an epilogue, a
 * pass that adds them and applies it.
 */
import type * as tf from '@tensorflow/tfjs';
import { FlatProgram, groups, i32, MAX_DISPATCH, release, runProgram, type Uniform, type WebGPUBackend, type WebGPUProgram } from './backend.ts';
import { runMultiOutput, type MultiOutputProgram } from './multi-output.ts';
import { columnSumPass, columnsFit, sumColumns, TARGET_WORKGROUPS } from './reduce-programs.ts';

/**
 * A workgroup's share of C: `rows` x `cols`, 16 values of k a step, each of its 256 invocations
 * owning blocks of 4 x 4 (`gridOf`). A step loads `rows / 64` slots of A and `cols / 64` of B (at
 * least one), a slot being 64 rows (of M or of N) by 16 k: 1,024 values, four an invocation.
 * The wider tiles do more multiply-adds for each value read from workgroup memory: counted for a
 * warp of an NVIDIA GPU (8 x 4 invocations, `setWarpBlocks`), the 64 x 64 tile's inner loop
 * spends half of its multiply-add time on those reads, a 4 x 8 block three eighths, an 8 x 8 a
 * quarter (with warps of 16 x 2: three quarters, a half or five eighths, three eighths). They
 * cost registers (16, 32 and 64 accumulators), and waste more at the edges of thin products. The
 * thin tiles (128 x 32, 256 x 16: one block an invocation, as 64 x 64) are for products with few
 * columns, MobileNetV2's projections to 16-32 channels and their input gradients, on which a
 * 64-column tile computes two to four times the product; the tuner decides.
 */
export interface Tile {
  readonly rows: 64 | 128 | 256;
  readonly cols: 16 | 32 | 64 | 128;
}
export type TileName = '64x64' | '128x64' | '64x128' | '128x128' | '128x32' | '256x16';
export const TILES: Readonly<Record<TileName, Tile>> = {
  '64x64': { rows: 64, cols: 64 },
  '128x64': { rows: 128, cols: 64 },
  '64x128': { rows: 64, cols: 128 },
  '128x128': { rows: 128, cols: 128 },
  '128x32': { rows: 128, cols: 32 },
  '256x16': { rows: 256, cols: 16 },
};
const TILE_64 = TILES['64x64'];
export const tileName = (tile: Tile): TileName => `${tile.rows}x${tile.cols}` as TileName;
/** Values of k a step, for every tile. */
const DEPTH = 16;
/** Rows of M or of N a slot of an operand covers. */
export const SLOT = 64;

/**
 * How a tile's 256 invocations cover it: a grid of `gx` x `gy` invocations (16 x 16, or fewer
 * columns for a thin tile), invocation (tx, ty) owning the 4 x 4 blocks at rows 4 ty + 4 gy i and
 * columns 4 tx + 4 gx j of the tile, for i < `blocksM` and j < `blocksN`.
 */
function gridOf(tile: Tile): { gx: number; gy: number; blocksM: number; blocksN: number } {
  const gx = Math.min(16, tile.cols / 4);
  const gy = 256 / gx;
  return { gx, gy, blocksM: tile.rows / (4 * gy), blocksN: tile.cols / (4 * gx) };
}

/**
 * Whether each run of 32 invocations (a warp on NVIDIA) covers 8 x 4 of the grid (the default)
 * rather than 16 x 2, where the grid is 16 wide. At each k a warp reads from workgroup memory one
 * vec4 of tileA for each of its rows of the grid and one of tileB for each of its columns: 4 + 8
 * vec4s instead of 2 + 16, two 128-byte wavefronts instead of three for 16 multiply-adds each (as
 * SGEMM kernels lay out their warps). The thin tiles' grids (8 and 4 wide) have it already. Off:
 * rows of 16, as before session 20 (for the benchmark's before/after in one process).
 */
let warpBlocks = true;

export function setWarpBlocks(on: boolean): void {
  warpBlocks = on;
}

/** A GEMM's workgroup, WGSL placing each invocation in the tile's grid, and what the shader key says of it. */
interface Place {
  readonly size: [number, number, number];
  readonly wgsl: string;
  readonly key: string;
}

/**
 * The workgroup of a `gx`-wide grid, and WGSL declaring `tx` and `ty`, this invocation's place in
 * it. In 8 x 4 warp blocks the workgroup is 8 x 32 invocations, local y = b + 4 c + 8 d (b < 4,
 * c < 2) placed at tx = x + 8 c, ty = b + 4 d: each 32 invocations in a row (8 of x by 4 of y) take
 * 8 x 4 of the grid, and a vector of 8 (a CPU's SIMD, llvmpipe's) has one ty and 8 neighbouring tx,
 * as in rows of 16.
 */
function placeOf(gx: number): Place {
  const plain = 'let tx = i32(localId.x);\n        let ty = i32(localId.y);';
  if (gx !== 16) return { size: [gx, 256 / gx, 1], wgsl: plain, key: '' };
  if (!warpBlocks) return { size: [16, 16, 1], wgsl: plain, key: 'Rows' };
  return { size: [8, 32, 1], wgsl: 'let tx = i32(localId.x) + 8 * ((i32(localId.y) / 4) % 2);\n        let ty = (i32(localId.y) % 4) + 4 * (i32(localId.y) / 8);', key: '' };
}

/** Slots of A and of B a step of the tile loads: B's at least one, its 64 columns loaded even for a thinner tile. */
function slotsOf(tile: Tile): Slots {
  return { a: tile.rows / SLOT, b: Math.max(1, tile.cols / SLOT) };
}

/** Vec4s a k-row of each operand's tile in workgroup memory holds: as wide as its slots, padded by one. */
function rowVecs(tile: Tile): { a: number; b: number } {
  const slots = slotsOf(tile);
  return { a: (SLOT * slots.a) / 4 + 1, b: (SLOT * slots.b) / 4 + 1 };
}

/** Bytes of workgroup memory a tile's two operand tiles take, for one step or (`buffers` 2) two. */
export function tileBytes(tile: Tile, buffers: 1 | 2 = 1): number {
  const vecs = rowVecs(tile);
  return buffers * DEPTH * (vecs.a + vecs.b) * 16;
}

/**
 * Whether the operand tiles hold two steps where the device's workgroup memory allows (the
 * default): a step then stores the next step's operands into the other half while this one is
 * read, and waits at one barrier instead of two. Off: one step's tiles, as before session 19 (for
 * the benchmark's before/after in one process).
 */
let doubleBuffering = true;

export function setDoubleBuffering(on: boolean): void {
  doubleBuffering = on;
}

/** How many steps `tile`'s operand tiles hold on a device with `workgroupBytes` of workgroup memory. */
export function buffersFor(tile: Tile, workgroupBytes: number): 1 | 2 {
  return doubleBuffering && tileBytes(tile, 2) <= workgroupBytes ? 2 : 1;
}

/**
 * A tile, K split as `sliceCount` says (`64x64`), or the same tile with K unsplit (`64x64/1`), which
 * the tuner offers where the rule splits (`choicesFor`): one pass over the whole of K may be the
 * faster.
 */
export type TileChoice = TileName | `${TileName}/1`;
/** Which tile products take: by measurement or shape ('auto'), or one for all (benchmarks, tests). */
let tileChoice: 'auto' | TileChoice = 'auto';
/**
 * What a product runs on: one of TL's tiles, or the backend's own kernel for the same operation
 * where the caller offers it (the forward convolution and the stride-1 input gradient: tfjs's may be
 * the faster on some shapes).
 */
export type Choice = TileChoice | 'backend';
/** Choices made by measurement (tune.ts), by product (`productKey`). */
export const measuredChoices = new Map<string, Choice>();

/** The tile of a choice, and whether it keeps K whole. */
export function parseChoice(choice: TileChoice): { tile: TileName; whole: boolean } {
  const whole = choice.endsWith('/1');
  return { tile: (whole ? choice.slice(0, -2) : choice) as TileName, whole };
}

/** Whether `value` names a choice (a tile cache's entries are checked with it). */
export function isChoice(value: unknown): value is Choice {
  return value === 'backend' || (typeof value === 'string' && Object.hasOwn(TILES, parseChoice(value as TileChoice).tile));
}

/** Sets the tile choice (`'auto'`: the measured choice where there is one, else the tile by shape). */
export function setGemmTile(choice: 'auto' | TileChoice): void {
  tileChoice = choice;
}

/** The forced choice, else the measured one (not the backend's kernel), else undefined. */
function chosen(key: string | undefined): TileChoice | undefined {
  if (tileChoice !== 'auto') return tileChoice;
  const measured = key === undefined ? undefined : measuredChoices.get(key);
  return measured === 'backend' ? undefined : measured;
}

/** A product's identity for the measured tiles: its source and dimensions. */
export function productKey(source: GemmSource, dims: { m: number; n: number; k: number }): string {
  return `${source.key}|${dims.m}|${dims.n}|${dims.k}`;
}

/**
 * The tile of a product nobody measured (tuning off, or a shape first seen after it, such as an
 * epoch's last, smaller batch): by shape, the 128 x 128 tile where M and N both reach 128 (faster
 * on llvmpipe, session 4), or always the 64 x 64 tile: on the H200 the 128 tile (then 8 k a step)
 * was the fastest choice for only 3-8 of the 62 products of a ResNet50 training step and 0-4 of
 * MobileNetV2's, in three runs (2026-11-30, docs/benchmarks-gpu.md).
 */
let unmeasuredTile: 'by-shape' | '64x64' = 'by-shape';

/** Sets the rule for unmeasured products: select.ts takes the 64 x 64 tile on a GPU, by shape on a software adapter. */
export function setUnmeasuredTile(rule: 'by-shape' | '64x64'): void {
  unmeasuredTile = rule;
}

/** The tile for an M x N product: forced, measured, or by the rule for unmeasured products. */
export function tileFor(m: number, n: number, key?: string): Tile {
  return tileOf(chosen(key), m, n);
}

/** The tile of `choice`, or where there is none, the rule's for an unmeasured M x N product. */
function tileOf(choice: TileChoice | undefined, m: number, n: number): Tile {
  if (choice !== undefined) return TILES[parseChoice(choice).tile];
  return unmeasuredTile === 'by-shape' && m >= 128 && n >= 128 ? TILES['128x128'] : TILE_64;
}

/**
 * The tiles worth measuring for an M x N product on a device with `workgroupBytes` of workgroup
 * memory: a side wider than 64 only where that side of C reaches it (narrower, part of every tile
 * would be empty), a side narrower than 64 only where C has fewer than 64 columns (where a
 * 64-column tile would compute columns past N).
 */
export function tilesFor(m: number, n: number, workgroupBytes: number): TileName[] {
  return (Object.keys(TILES) as TileName[]).filter((name) => {
    const tile = TILES[name];
    const rowsFit = tile.rows === 64 || m >= tile.rows;
    const colsFit = tile.cols === 64 || (tile.cols > 64 ? n >= tile.cols : n < 64);
    return rowsFit && colsFit && tileBytes(tile) <= workgroupBytes;
  });
}

/**
 * Whether products with an epilogue are split along K as the others are (the default), or always
 * run whole as before session 18: for the benchmark's before/after in one process.
 */
let splitEpilogues = true;

export function setSplitEpilogues(on: boolean): void {
  splitEpilogues = on;
}

/** The backend's own kernel for a product, on inputs of the product's shapes. */
export type BackendKernel = (inputs: readonly tf.TensorInfo[]) => tf.TensorInfo;

/** One product as run, for tune.ts to run again: its source, dimensions, inputs' shapes and uniforms, and the backend's kernel if offered. */
export interface RecordedProduct {
  readonly key: string;
  readonly source: GemmSource;
  readonly dims: { readonly m: number; readonly n: number; readonly k: number };
  readonly inputShapes: readonly (readonly number[])[];
  readonly uniforms: readonly Uniform[];
  readonly outShape: readonly number[];
  readonly backendKernel?: BackendKernel;
  /** Whether it runs through runGemmWithSumsOfB: split, the pass that adds its slices also sums B's columns (a filter gradient's bias gradient). */
  readonly sumsOfB: boolean;
}

let recording: Map<string, RecordedProduct> | undefined;

/** Runs `f` and returns the distinct products it ran (by `productKey`). */
export function recordProducts(f: () => void): RecordedProduct[] {
  const outer = recording;
  recording = new Map();
  try {
    f();
    return [...recording.values()];
  } finally {
    recording = outer;
  }
}

/** A slice gets at least this many k-steps, so its partial is worth writing. */
const MIN_STEPS_PER_SLICE = 8;
/** Cap on the partials buffer, in floats (256 MB, or less where the device binds less). */
const MAX_PARTIAL_FLOATS = 64 * 1024 * 1024;

/**
 * How the invocations of a workgroup share the loading of one k-step of the operand tiles: each
 * source chooses which index neighbouring invocations walk so that their global reads are
 * contiguous. A step loads `slots.a` slots of A and `slots.b` of B (the tile's rows / 64 and
 * cols / 64), each slot 64 rows (of M for A, of N for B) by 16 k: four values an invocation a
 * slot. The loading is split in two so that the next step's reads are in flight while the current
 * step multiplies: `fetch` reads this invocation's four values of each slot s for the step starting
 * at `k0` into the registers `ra{s}` and `rb{s}` (vec4s), and `store` writes them into the tiles,
 * with `storeA(kw + kk, mm, value)` and `storeB(kw + kk, nn, value)` or whole vec4s of
 * `tileA[kw + kk]` and `tileB[kw + kk]`, so that every kk < 16 and mm < rows, nn < cols is
 * written (zero outside the matrices); `kw` is the first k-row of the half of the tiles being
 * written (0, or 16 where they hold two steps). Slot s of A covers C's rows `tileM + 64 s` on and
 * the tile's rows `64 s` on (vec4 column `16 s` on); slot s of B the same for columns. What a
 * slot's loads share (k decoded into a tap and a channel) a source decodes once for all slots.
 * The snippets see `li` (local index 0..255), `tileM`, `tileN`, `k0`, `kEnd` (end of the slice),
 * and what `setup` declares.
 */
export interface GemmSource {
  /** Shader key: must change whenever the generated code does (the slots are in the program's key). */
  readonly key: string;
  /** The kernel's input names, in the order its inputs are passed. */
  readonly inputs: readonly string[];
  /** Its uniforms after the GEMM's own (`M`, `N`, `K`, `kChunk`, `steps`). */
  readonly uniforms: string;
  /** WGSL run once per invocation before the k loop (decode the indices fixed for this invocation; `kBegin` is the slice's first k). */
  readonly setup: (slots: Slots) => string;
  /**
   * WGSL that reads the step at `k0` into `ra{s}` and `rb{s}`. It runs once a step, in order from
   * the slice's first (`k0` = `kBegin`, then DEPTH more each time), so a source may carry its
   * decode of k from one step to the next (`kDigits`).
   */
  readonly fetch: (slots: Slots) => string;
  /** WGSL that writes the registers into k-rows `kw` .. `kw` + 15 of `tileA` and `tileB`. */
  readonly store: (slots: Slots) => string;
  /**
   * Values per element of each input as the shader sees it (tfjs's `variableComponents`): 4 makes
   * the input an `array<vec4<f32>>`, one load and one index computation for four values. Default 1.
   */
  readonly components?: readonly (1 | 4)[];
  /**
   * WGSL of `v` (a value of C), `n` (its column) and `at` (its index in C, row-major) written in
   * its place, e.g. a bias, a residual sum and an activation. It may read the source's inputs after
   * its first two (the operands), nothing else: where the product is split along K, the slices are
   * written without it and the pass that adds them up applies it to the whole sums.
   */
  readonly epilogue?: string;
}

/** Slots of A and of B a step loads. */
export interface Slots {
  readonly a: number;
  readonly b: number;
}

/** `line(s)` for each slot s < count, one a line: the sources' per-slot code. */
export function eachSlot(count: number, line: (s: number) => string): string {
  return Array.from({ length: count }, (_, s) => line(s)).join('\n    ');
}

/**
 * A k this invocation reads, kept as the digits `${name}Hi`, `${name}Mid`, `${name}Lo` of
 * k = (hi * midSize + mid) * loSize + lo (a tap's row, its column and a channel; or an image, a row
 * and a column of positions). `declare` (in a source's setup) decodes `first` with two integer
 * divisions; `advance` (at the end of its fetch) moves the digits on to the next step's k, DEPTH
 * more, by adding and carrying. A division by a uniform is some twenty instructions on a GPU, two
 * a step against 256 multiply-adds an invocation; the carry is a compare or two, looping only where
 * `loSize` is under DEPTH. Past K the digits run on harmlessly: loads there are masked by kEnd.
 */
export function kDigits(name: string, first: string, midSize: string, loSize: string): { declare: string; advance: string } {
  const [hi, mid, lo] = [`${name}Hi`, `${name}Mid`, `${name}Lo`];
  return {
    declare: `
    var ${hi} = (${first}) / (${midSize} * ${loSize});
    var ${lo} = (${first}) - ${hi} * (${midSize} * ${loSize});
    var ${mid} = ${lo} / ${loSize};
    ${lo} = ${lo} - ${mid} * ${loSize};`,
    advance: `
    ${lo} += ${DEPTH};
    loop {
      if (${lo} < ${loSize}) { break; }
      ${lo} -= ${loSize};
      ${mid} += 1;
      if (${mid} == ${midSize}) {
        ${mid} = 0;
        ${hi} += 1;
      }
    }`,
  };
}

/** WGSL of the function `epilogue(v, n, at)` applying `epilogue`, or nothing where there is none. */
function epilogueFunction(epilogue: string | undefined): string {
  return epilogue === undefined ? '' : `fn epilogue(v : f32, n : i32, at : i32) -> f32 {
        return ${epilogue};
      }`;
}

/**
 * How many of the source's inputs a pass of the product binds: all of them whole, only the
 * operands (the first two) split, the epilogue's inputs being read by the pass that adds up the
 * slices. (tfjs lays out a program's bindings from what its code uses: binding an input the code
 * never reads is an error.)
 */
function boundInputs(source: GemmSource, slices: number): number {
  return slices === 1 || source.epilogue === undefined ? source.inputs.length : 2;
}

class GemmProgram implements WebGPUProgram {
  readonly variableNames: string[];
  readonly variableComponents: number[];
  readonly uniforms: string;
  readonly workgroupSize: [number, number, number];
  readonly dispatchLayout = { x: [] as number[], y: [0] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  /** 4 where N is a multiple of 4: each invocation writes its values four columns at a time. */
  readonly outputComponent: 1 | 4;
  shaderKey: string;
  private readonly source: GemmSource;
  private readonly tile: Tile;
  private readonly buffers: 1 | 2;
  private readonly sumsOfB: boolean;
  /** The workgroup and each invocation's place in the tile's grid (`placeOf`), fixed when made. */
  private readonly place: Place;
  /** The source's epilogue where this program writes C itself (unsplit). */
  private readonly epilogue: string | undefined;

  /**
   * With `sumsOfB`, each slice's block of the output is its M x N partial followed by the N column
   * sums of its B rows. Split (more than one slice), the program writes the slices' partial sums
   * without the source's epilogue and binds only the operands (`boundInputs`).
   */
  constructor(source: GemmSource, tile: Tile, buffers: 1 | 2, dims: { m: number; n: number; slices: number }, outputShape: readonly number[], sumsOfB: boolean) {
    this.epilogue = dims.slices === 1 ? source.epilogue : undefined;
    this.source = source;
    this.tile = tile;
    this.buffers = buffers;
    this.sumsOfB = sumsOfB;
    const { gx } = gridOf(tile);
    this.place = placeOf(gx);
    this.workgroupSize = this.place.size;
    const bound = boundInputs(source, dims.slices);
    this.variableNames = source.inputs.slice(0, bound);
    // Given for every input: tfjs would otherwise read each input in the output's components.
    this.variableComponents = (source.components ?? source.inputs.map(() => 1)).slice(0, bound);
    this.uniforms = `M : i32, N : i32, K : i32, kChunk : i32, steps : i32, stride : i32, ${source.uniforms}`;
    this.dispatch = [groups(dims.n, tile.cols), groups(dims.m, tile.rows), dims.slices];
    this.outputShape = [...outputShape];
    this.outputComponent = dims.n % 4 === 0 ? 4 : 1;
    const raw = source.epilogue !== undefined && this.epilogue === undefined;
    this.shaderKey = `tlGemm${tileName(tile)}${this.place.key}${buffers === 2 ? 'Db' : ''}${sumsOfB ? 'Sums' : ''}${raw ? 'Raw' : ''}${this.outputComponent === 4 ? 'V4' : ''}_${source.key}`;
  }

  getUserCode(): string {
    // Invocation (tx, ty) of the gx x gy grid (16 x 16 but for the thin tiles; `placeOf`) owns rows
    // 4 ty + 4 gy i .. + 3 and columns 4 tx + 4 gx j .. + 3 of the tile (`gridOf`): blocks of
    // 4 x 4 as vec4s, so that at every step of the inner product the invocations of a row read
    // neighbouring vec4s of tileB (no bank conflicts) and those of a column one vec4 of tileA (a
    // broadcast). The tiles are stored k-major, rows padded by one vec4 so that loaders walking k
    // (stores a row apart) spread over the banks. The k loop runs a uniform number of steps
    // (`steps`): barriers must stay in uniform control flow, and the last slice just loads zeros
    // past K. Each step's operands are read into registers during the step before (register
    // double buffering). With two buffers the tiles hold two steps, rows kr .. kr + 15 read while
    // the next step's registers are stored into rows kw .. kw + 15 of the other half: one barrier
    // a step, which also keeps a step's stores from overtaking the reads of the step before it
    // (the same half was last read two steps back, before the previous barrier). With one
    // buffer, a second barrier between the reads and the stores does that.
    const { gx, gy, blocksM, blocksN } = gridOf(this.tile);
    const slots = slotsOf(this.tile);
    const vecs = rowVecs(this.tile);
    const rowOf = (i: number, r: number) => 4 * gy * i + r;
    const colOf = (j: number, c = 0) => 4 * gx * j + c;
    const acc = (i: number, j: number, r: number) => `acc[${(i * blocksN + j) * 4 + r}]`;
    const products: string[] = [];
    for (let i = 0; i < blocksM; i++) {
      for (let j = 0; j < blocksN; j++) {
        for (let r = 0; r < 4; r++) products.push(`${acc(i, j, r)} = fma(vec4<f32>(a${i}[${r}]), b${j}, ${acc(i, j, r)});`);
      }
    }
    // The write-out, unrolled so that every index into acc is a constant (a dynamic one can make
    // a compiler keep the whole accumulator array in memory instead of registers). Where N is a
    // multiple of 4, each of an invocation's four columns of a block row is one vec4 store, so a
    // row of invocations writes 256 contiguous bytes (one value each, they would write every
    // fourth float, in four rounds).
    const vec4 = this.outputComponent === 4;
    const epilogue = (v: string, n: string, at: string) => (this.epilogue === undefined ? v : `epilogue(${v}, ${n}, ${at})`);
    const writes: string[] = [];
    for (let i = 0; i < blocksM; i++) {
      for (let r = 0; r < 4; r++) {
        const lines: string[] = [];
        for (let j = 0; j < blocksN; j++) {
          const a = acc(i, j, r);
          if (vec4) {
            const value = this.epilogue === undefined ? a : `vec4<f32>(${[0, 1, 2, 3].map((c) => epilogue(`${a}[${c}]`, `n + ${c}`, `row + n + ${c}`)).join(', ')})`;
            lines.push(`if (tileN + ${colOf(j)} + 4 * tx < uniforms.N) { let n = tileN + ${colOf(j)} + 4 * tx; result[(row + n) / 4] = ${value}; }`);
            continue;
          }
          for (let c = 0; c < 4; c++) {
            lines.push(`if (tileN + ${colOf(j, c)} + 4 * tx < uniforms.N) { let n = tileN + ${colOf(j, c)} + 4 * tx; result[row + n] = ${epilogue(`${a}[${c}]`, 'n', 'row + n')}; }`);
          }
        }
        writes.push(`if (tileM + ${rowOf(i, r)} + 4 * ty < uniforms.M) {
          let row = base + (tileM + ${rowOf(i, r)} + 4 * ty) * uniforms.N;
          ${lines.join('\n          ')}
        }`);
      }
    }
    const reads = (kr: number) => [
      ...Array.from({ length: blocksM }, (_, i) => `let a${i} = tileA[${kr} + kk][ty + ${gy * i}];`),
      ...Array.from({ length: blocksN }, (_, j) => `let b${j} = tileB[${kr} + kk][tx + ${gx * j}];`),
    ];
    // The column sums of B: the first row of invocations of the first row of workgroups adds up
    // the columns it multiplies (zero past K and N, as loaded), and writes them after the slice's
    // M x N partial. No barrier inside: the rest of the workgroup waits at the step's next one.
    const sums = this.sumsOfB
      ? {
          declare: `var bsum : array<vec4<f32>, ${blocksN}>;\n        let sumRow = tileM == 0 && ty == 0;`,
          add: (kr: number) => `if (sumRow) {
            for (var kk = 0; kk < ${DEPTH}; kk++) {
              ${Array.from({ length: blocksN }, (_, j) => `bsum[${j}] += tileB[${kr} + kk][tx + ${gx * j}];`).join('\n              ')}
            }
          }`,
          write: `if (sumRow) {
          ${Array.from({ length: blocksN }, (_, j) =>
            vec4
              ? `if (tileN + ${colOf(j)} + 4 * tx < uniforms.N) { result[(base + uniforms.M * uniforms.N + tileN + ${colOf(j)} + 4 * tx) / 4] = bsum[${j}]; }`
              : Array.from({ length: 4 }, (_, c) => `if (tileN + ${colOf(j, c)} + 4 * tx < uniforms.N) { result[base + uniforms.M * uniforms.N + tileN + ${colOf(j, c)} + 4 * tx] = bsum[${j}][${c}]; }`).join('\n          '),
          ).join('\n          ')}
        }`,
        }
      : { declare: '', add: () => '', write: '' };
    const registers = [...Array.from({ length: slots.a }, (_, s) => `var ra${s} : vec4<f32>;`), ...Array.from({ length: slots.b }, (_, s) => `var rb${s} : vec4<f32>;`)];
    const rows = this.buffers * DEPTH;
    // One step: the next step's operands fetched, this step's products from k-rows `kr` .. `kr` + 15
    // of the tiles, the fetched operands stored into rows `kw` .. `kw` + 15. The rows are
    // constants, so that once a compiler unrolls the k loop every read of the tiles is at a
    // constant row: with two buffers the loop takes steps in pairs, one from each half. (Dawn's
    // robustness clamps every index into workgroup memory that it cannot prove in bounds; a row
    // computed at run time, (step % 2) * 16 + kk, kept a clamp and an address computation in the
    // inner loop beside its 16 multiply-adds a k. A branch on step % 2 around the products
    // instead of the pairs made llvmpipe, which runs such a branch masked, a quarter slower.)
    const stepOf = (step: string, kr: number, kw: number) => `{
          let more = ${step} + 1 < uniforms.steps;
          if (more) {
            let k0 = kBegin + (${step} + 1) * ${DEPTH};
            ${this.source.fetch(slots)}
          }
          ${sums.add(kr)}
          for (var kk = 0; kk < ${DEPTH}; kk++) {
            ${reads(kr).join('\n            ')}
            ${products.join('\n            ')}
          }
          ${this.buffers === 2 ? '' : 'workgroupBarrier();'}
          if (more) {
            let kw = ${kw};
            ${this.source.store(slots)}
          }
          workgroupBarrier();
        }`;
    return `
      var<workgroup> tileA : array<array<vec4<f32>, ${vecs.a}>, ${rows}>;
      var<workgroup> tileB : array<array<vec4<f32>, ${vecs.b}>, ${rows}>;

      fn storeA(kk : i32, mm : i32, v : f32) {
        tileA[kk][mm / 4][mm % 4] = v;
      }
      fn storeB(kk : i32, nn : i32, v : f32) {
        tileB[kk][nn / 4][nn % 4] = v;
      }
      ${epilogueFunction(this.epilogue)}

      fn main() {
        let li = i32(localIndex);
        ${this.place.wgsl}
        let tileM = i32(workgroupId.y) * ${this.tile.rows};
        let tileN = i32(workgroupId.x) * ${this.tile.cols};
        let slice = i32(workgroupId.z);
        let kBegin = slice * uniforms.kChunk;
        let kEnd = min(uniforms.K, kBegin + uniforms.kChunk);
        ${this.source.setup(slots)}
        var acc : array<vec4<f32>, ${4 * blocksM * blocksN}>;
        ${sums.declare}
        ${registers.join('\n        ')}
        {
          let k0 = kBegin;
          ${this.source.fetch(slots)}
        }
        {
          let kw = 0;
          ${this.source.store(slots)}
        }
        workgroupBarrier();
        ${this.buffers === 2
          ? `for (var step = 0; step < uniforms.steps; step += 2) {
          ${stepOf('step', 0, DEPTH)}
          if (step + 1 < uniforms.steps) {
            ${stepOf('step + 1', DEPTH, 0)}
          }
        }`
          : `for (var step = 0; step < uniforms.steps; step++) {
          ${stepOf('step', 0, 0)}
        }`}
        let base = slice * uniforms.stride;
        ${writes.join('\n        ')}
        ${sums.write}
      }`;
  }
}

/**
 * WGSL setting `acc` to the sum of `partial`'s slices at `index` (`uniforms.slices` blocks,
 * `uniforms.stride` apart), of floats or of vec4s as `partial` holds them.
 */
const SUM_SLICES = `var acc = partial[index];
        for (var s = 1; s < uniforms.slices; s++) {
          acc += partial[s * uniforms.stride + index];
        }`;

/**
 * Adds up a split product's slices (`[slices, M x N]` partials) and applies the source's epilogue
 * to each sum, writing C as the unsplit product would: four columns an invocation where N is a
 * multiple of 4. Its inputs: the partials, then the source's inputs after the operands.
 */
class SliceEpilogueProgram extends FlatProgram {
  readonly variableNames: string[];
  readonly uniforms = 'N : i32, stride : i32, slices : i32,';
  readonly shaderKey: string;

  constructor(private readonly source: GemmSource, outputShape: readonly number[], private readonly vec4: boolean) {
    super(outputShape, vec4 ? 1 : undefined);
    this.variableNames = ['partial', ...source.inputs.slice(2)];
    this.shaderKey = `tlGemmSliceEpilogue${vec4 ? 'V4' : ''}_${source.key}`;
  }

  override getUserCode(): string {
    return `${epilogueFunction(this.source.epilogue)}\n${super.getUserCode()}`;
  }

  protected body(): string {
    const write = this.vec4
      ? `let at = 4 * index;
        let n = at % uniforms.N;
        result[index] = vec4<f32>(${[0, 1, 2, 3].map((c) => `epilogue(acc[${c}], n + ${c}, at + ${c})`).join(', ')});`
      : `result[index] = epilogue(acc, index % uniforms.N, index);`;
    return `
        ${SUM_SLICES}
        ${write}`;
  }
}

/**
 * The WGSL of a product on `tile` (unsplit, no column sums, with one buffer and with two; and the
 * pass that applies the epilogue to split sums, where the source has one), to tell whether a
 * kernel changed (tile-cache.ts).
 */
export function gemmCode(source: GemmSource, tile: Tile, dims: { m: number; n: number }): string {
  const whole = ([1, 2] as const).map((buffers) => new GemmProgram(source, tile, buffers, { ...dims, slices: 1 }, [dims.m * dims.n], false).getUserCode()).join('\n');
  return source.epilogue === undefined ? whole : `${whole}\n${new SliceEpilogueProgram(source, [dims.m * dims.n], dims.n % 4 === 0).getUserCode()}`;
}

/**
 * How many slices to split K into. Never more than one where the column-sum program cannot take
 * M x N partials in one dispatch row (past 4.2M outputs: only the 128 tile gets there with few
 * enough tiles to split, e.g. an input gradient of 25088 x 256 at batch 32, and one slice already
 * makes hundreds of workgroups). The partials are one binding: at most `maxBinding` bytes, the
 * device's limit.
 */
export function sliceCount(m: number, n: number, k: number, tile: Tile, maxBinding: number): number {
  // A slice's partial: M x N, and N column sums of B where asked for.
  const partial = m * n + n;
  if (!columnsFit(partial)) return 1;
  const tiles = groups(m, tile.rows) * groups(n, tile.cols);
  const steps = groups(k, DEPTH);
  const wanted = Math.floor(TARGET_WORKGROUPS / tiles);
  const byMemory = Math.floor(Math.min(MAX_PARTIAL_FLOATS, maxBinding / 4) / partial);
  return Math.max(1, Math.min(wanted, Math.ceil(steps / MIN_STEPS_PER_SLICE), byMemory, MAX_DISPATCH));
}

/** Whether the tile grid of an M x N product fits the dispatch limits (whatever its tile). */
export function gemmFits(m: number, n: number): boolean {
  return groups(m, 64) <= MAX_DISPATCH && groups(n, 64) <= MAX_DISPATCH;
}

/** How a product runs: its tile (holding one step's operands or two), and K cut into `slices` of `steps` steps (`kChunk` values of k). */
interface Layout {
  readonly tile: Tile;
  readonly buffers: 1 | 2;
  readonly steps: number;
  readonly kChunk: number;
  readonly slices: number;
}

/** The slices the rule cuts K into on `tile` (`sliceCount`; for products with an epilogue, only while `splitEpilogues`). */
function slicesByRule(source: GemmSource, dims: { m: number; n: number; k: number }, tile: Tile, maxBinding: number): number {
  return source.epilogue === undefined || splitEpilogues ? sliceCount(dims.m, dims.n, dims.k, tile, maxBinding) : 1;
}

/**
 * The choices worth measuring for a product (tune.ts): each tile `tilesFor` offers, and beside a
 * tile on which K splits, the same tile with K whole. Where C has a few hundred tiles the split
 * keeps more of a GPU busy, at the cost of a second pass that writes and reads the slices'
 * partials (adding them up, and applying a forward product's epilogue); which is the faster
 * depends on the GPU and the shape. Not offered for a filter gradient (`sumsOfB`): that pass also
 * gives its bias's gradient, which unsplit would take a pass over dy of its own that the tuner's
 * runs of the product alone would not count.
 */
export function choicesFor(product: Pick<RecordedProduct, 'source' | 'dims' | 'sumsOfB'>, workgroupBytes: number, maxBinding: number): TileChoice[] {
  const { source, dims } = product;
  return tilesFor(dims.m, dims.n, workgroupBytes).flatMap((name): TileChoice[] => (!product.sumsOfB && slicesByRule(source, dims, TILES[name], maxBinding) > 1 ? [name, `${name}/1`] : [name]));
}

function layoutOf(backend: WebGPUBackend, source: GemmSource, dims: { m: number; n: number; k: number }, key: string): Layout {
  const choice = chosen(key);
  const picked = tileOf(choice, dims.m, dims.n);
  const room = backend.device.limits.maxComputeWorkgroupStorageSize;
  const tile = tileBytes(picked) <= room ? picked : TILE_64;
  const buffers = buffersFor(tile, room);
  const wanted = choice !== undefined && parseChoice(choice).whole ? 1 : slicesByRule(source, dims, tile, backend.device.limits.maxStorageBufferBindingSize);
  const steps = groups(groups(dims.k, DEPTH), wanted);
  const kChunk = steps * DEPTH;
  return { tile, buffers, steps, kChunk, slices: groups(dims.k, kChunk) };
}

/**
 * What a recorded product runs on now: the backend's kernel where measurement chose it, else its
 * tile and the slices K is cut into (for reports: which tile a timed call ran).
 */
export function runsOn(backend: WebGPUBackend, product: RecordedProduct): string {
  if (onBackendKernel(product.key, product.backendKernel)) return 'tfjs';
  const layout = layoutOf(backend, product.source, product.dims, product.key);
  return `${tileName(layout.tile)}${layout.slices > 1 ? `/${layout.slices}` : ''}`;
}

/** Whether a product runs on the backend's kernel: offered one, and measurement chose it (no tile forced). */
function onBackendKernel(key: string, backendKernel: BackendKernel | undefined): boolean {
  return backendKernel !== undefined && tileChoice === 'auto' && measuredChoices.get(key) === 'backend';
}

/** Notes the product (`key`: its productKey) for recordProducts, and says whether measurement chose the backend's kernel for it. */
function record(key: string, source: GemmSource, dims: { m: number; n: number; k: number }, inputs: readonly tf.TensorInfo[], uniforms: readonly Uniform[], outShape: readonly number[], { backendKernel, sumsOfB = false }: { backendKernel?: BackendKernel; sumsOfB?: boolean }): boolean {
  if (recording !== undefined && !recording.has(key)) {
    recording.set(key, { key, source, dims: { ...dims }, inputShapes: inputs.map((t) => [...t.shape]), uniforms, outShape, ...(backendKernel && { backendKernel }), sumsOfB });
  }
  return onBackendKernel(key, backendKernel);
}

/** Runs GemmProgram on `layout`, to `[slices, stride]` partials (or `outShape` when whole and unsplit). */
function runPass(backend: WebGPUBackend, source: GemmSource, dims: { m: number; n: number; k: number }, layout: Layout, inputs: readonly tf.TensorInfo[], uniforms: readonly Uniform[], outShape: readonly number[], sumsOfB: boolean): tf.TensorInfo {
  const { m, n, k } = dims;
  const stride = sumsOfB ? m * n + n : m * n;
  const shape = layout.slices === 1 && !sumsOfB ? outShape : [layout.slices, stride];
  const program = new GemmProgram(source, layout.tile, layout.buffers, { m, n, slices: layout.slices }, shape, sumsOfB);
  return runProgram(backend, program, inputs.slice(0, boundInputs(source, layout.slices)), [i32(m), i32(n), i32(k), i32(layout.kChunk), i32(layout.steps), i32(stride), ...uniforms]);
}

/** A product to run: C[M, N] of `source` on `inputs`, with the source's own `uniforms`, shaped `outShape`. */
type GemmCall = [
  backend: WebGPUBackend,
  source: GemmSource,
  dims: { m: number; n: number; k: number },
  inputs: readonly tf.TensorInfo[],
  uniforms: readonly Uniform[],
  outShape: readonly number[],
];

/**
 * Runs the product and returns C with `outShape` (of size M x N, row-major).
 * `uniforms` are the kernel's own, matching `source.uniforms`. `backendKernel`, where given,
 * computes the same from the same inputs with the backend's own kernel: it runs instead where
 * measurement chose it.
 */
export function runGemm(...[backend, source, dims, inputs, uniforms, outShape, backendKernel]: [...GemmCall, backendKernel?: BackendKernel]): tf.TensorInfo {
  const key = productKey(source, dims);
  if (record(key, source, dims, inputs, uniforms, outShape, { backendKernel })) return backendKernel!(inputs);
  const layout = layoutOf(backend, source, dims, key);
  const out = runPass(backend, source, dims, layout, inputs, uniforms, outShape, false);
  if (layout.slices === 1) return out;
  const mn = dims.m * dims.n;
  if (source.epilogue === undefined) {
    const summed = sumColumns(backend, out, layout.slices, mn, 1, outShape);
    release(backend, out);
    return summed;
  }
  const { partial, slices } = fewerSlices(backend, out, layout.slices, mn);
  const vec4 = dims.n % 4 === 0;
  const c = runProgram(backend, new SliceEpilogueProgram(source, outShape, vec4), [partial, ...inputs.slice(2)], [i32(dims.n), i32(vec4 ? mn / 4 : mn), i32(slices)]);
  release(backend, partial);
  return c;
}

/** Most slices one invocation adds up in its own loop (SPLIT_SUMS, SliceEpilogueProgram); more are first summed by the column-sum program. */
const MAX_SLICES_SUMMED = 256;

/**
 * `[slices, stride]` partials as they are where there are at most MAX_SLICES_SUMMED slices; else
 * summed by the column-sum program (row lanes a column, chunks across workgroups) into fewer, and
 * `partial` released. Past that many, each invocation adding its column's slices one after
 * another would be slow (784 slices for a 1x1 64->64 filter gradient at 56 px, batch 32).
 */
function fewerSlices(backend: WebGPUBackend, partial: tf.TensorInfo, slices: number, stride: number): { partial: tf.TensorInfo; slices: number } {
  if (slices <= MAX_SLICES_SUMMED) return { partial, slices };
  const pass = columnSumPass(backend, partial, slices, stride, 1, [stride]);
  release(backend, partial);
  return { partial: pass.sums, slices: pass.rows };
}

/**
 * Adds up the slices' blocks of partials into C and the column sums of B, in one dispatch: four
 * values an invocation (`vec4`) where N is a multiple of 4, so that M x N and a block's stride are
 * too; the uniforms count in the program's units. In the first GPU run the one-value program took
 * 1.57 ms of a ResNet50 step (50 runs) and 0.72 ms of MobileNetV2's (35).
 */
const splitSums = (vec4: boolean): MultiOutputProgram => ({
  key: `tlGemmSliceSums${vec4 ? 'V4' : ''}`,
  inputs: ['partial'],
  outputs: ['product', 'sums'],
  uniforms: 'mn : i32, stride : i32, slices : i32,',
  vec4,
  body: `
  ${SUM_SLICES}
  if (index < uniforms.mn) {
    product[index] = acc;
  } else {
    sums[index - uniforms.mn] = acc;
  }`,
});
const SPLIT_SUMS = { 1: splitSums(false), 4: splitSums(true) } as const;

/**
 * The product as runGemm runs it, and, where it splits K, the column sums of B over all of K
 * (`[N]`) from the same pass: a convolution's bias gradient (the sums of dy) beside its filter
 * gradient. The split's partials are added up anyway, and one dispatch adds both. Unsplit, there
 * are no sums: a separate pass would cost as much as the caller's own.
 */
export function runGemmWithSumsOfB(...[backend, source, dims, inputs, uniforms, outShape]: GemmCall): { product: tf.TensorInfo; sumsOfB?: tf.TensorInfo } {
  const key = productKey(source, dims);
  record(key, source, dims, inputs, uniforms, outShape, { sumsOfB: true });
  const layout = layoutOf(backend, source, dims, key);
  if (layout.slices === 1) return { product: runPass(backend, source, dims, layout, inputs, uniforms, outShape, false) };
  const { m, n } = dims;
  const stride = m * n + n;
  const { partial, slices } = fewerSlices(backend, runPass(backend, source, dims, layout, inputs, uniforms, outShape, true), layout.slices, stride);
  const per = n % 4 === 0 ? 4 : 1;
  const [product, sumsOfB] = runMultiOutput(backend, SPLIT_SUMS[per], [partial], [outShape, [n]], stride / per, [i32((m * n) / per), i32(stride / per), i32(slices)]);
  release(backend, partial);
  return { product: product!, sumsOfB: sumsOfB! };
}
