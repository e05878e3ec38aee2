/**
 * A small RFC 4180 reader: comma-separated, fields optionally in double quotes with `""` for a
 * quote, quoted fields may span lines, CRLF or LF line ends, a leading BOM ignored.
 */

export type CsvRecord = { fields: string[]; /** 1-based line the record starts on. */ line: number };

export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** Parses `text` into records, skipping blank lines. */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < text.length) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let quoted = false; // inside quotes
    let wasQuoted = false; // this field was quoted: text after the closing quote is an error
    let ended = false;
    while (i < text.length && !ended) {
      const ch = text[i]!;
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          quoted = false;
          i++;
          continue;
        }
        if (ch === '\n') line++;
        field += ch;
        i++;
        continue;
      }
      if (ch === '"') {
        if (field.trim() !== '' || wasQuoted) throw new CsvSyntaxError('a quote in the middle of an unquoted field; quote the whole field and double inner quotes ("")', line);
        field = '';
        quoted = true;
        wasQuoted = true;
        i++;
      } else if (ch === ',') {
        fields.push(wasQuoted ? field : field.trim());
        field = '';
        wasQuoted = false;
        i++;
      } else if (ch === '\n' || ch === '\r') {
        i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
        line++;
        ended = true;
      } else {
        if (wasQuoted) {
          if (ch.trim() !== '') throw new CsvSyntaxError('text after a closing quote; put a comma after the quoted field', line);
        } else field += ch;
        i++;
      }
    }
    if (quoted) throw new CsvSyntaxError('a quoted field is never closed; add the closing quote (")', start);
    fields.push(wasQuoted ? field : field.trim());
    if (!(fields.length === 1 && fields[0] === '' && !wasQuoted)) records.push({ fields, line: start });
  }
  return records;
}
