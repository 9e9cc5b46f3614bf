/*
 * Rows of cells as aligned text columns: each column as wide as its widest
 * cell, numbers right-aligned, text left-aligned, two spaces between
 * columns, no trailing blanks. Pure.
 */

export type Align = 'left' | 'right';

export function alignColumns(rows: readonly (readonly string[])[], align: readonly Align[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (align[i] === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}
