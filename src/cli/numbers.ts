/** Numbers as the CLI prints them in columns. */

/** A share as a percentage, padded to line up in columns; ' -' for none. */
export const pct = (x: number | null | undefined): string => (x === null || x === undefined || Number.isNaN(x) ? '   -  ' : `${(100 * x).toFixed(1).padStart(5)}%`);

/** A loss to four decimals; ' -' for none. */
export const num = (x: number | null | undefined): string => (x === null || x === undefined || Number.isNaN(x) ? '  -   ' : x.toFixed(4));
