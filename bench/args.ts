/** Command-line options of the benchmark scripts: `--name value`. */

/** The value after `--name`, or `fallback` when it is not given. */
export function option(name: string): string | undefined;
export function option(name: string, fallback: string): string;
export function option(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** The number after `--name`, or `fallback`. */
export function numberOption(name: string, fallback: number): number {
  return Number(option(name, String(fallback)));
}
