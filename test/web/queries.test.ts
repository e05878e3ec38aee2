/**
 * Every operation the dashboard and tl/client send is valid against schema.graphql, checked without a browser
 * (the browser tests skip where there is no chromium). Fragments on different event types must
 * agree on the shape of a field they share: LrPointEvent's phase once was a name where
 * PhaseStartedEvent's is an index, and the dashboard's event subscription failed as a whole.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../src/client/tl-client.ts';
import * as queries from '../../web/src/queries.ts';

const schema = buildSchema(readFileSync(join(import.meta.dirname, '..', '..', 'schema.graphql'), 'utf8'));
const operations = Object.entries(queries as Record<string, unknown>).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && /^(query|mutation|subscription)\b/.test(entry[1]));

describe("the dashboard's operations", () => {
  it('are all found', () => {
    expect(operations.map(([name]) => name)).toEqual(expect.arrayContaining(['JOBS', 'JOB', 'JOB_EVENTS', 'JOB_UPDATES', 'SUBMIT', 'FIND_LR', 'CANCEL', 'RESUME', 'CHECK']));
  });

  it.each(operations)('%s is valid against schema.graphql', (_name, operation) => {
    expect(validate(schema, parse(operation)).map((e) => e.message)).toEqual([]);
  });
});

describe("tl/client's operations", () => {
  it.each(Object.entries(OPERATIONS))('%s is valid against schema.graphql', (_name, operation) => {
    expect(validate(schema, parse(operation)).map((e) => e.message)).toEqual([]);
  });
});
