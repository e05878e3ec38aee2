/** The executable schema: schema.graphql (the source of truth) with the resolvers. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GraphQLSchema } from 'graphql';
import { createSchema } from 'graphql-yoga';
import type { Context } from './context.ts';
import { resolvers } from './resolvers/index.ts';

/** schema.graphql sits at the package root: two folders up from src/api, three from dist/src/api. */
export function schemaPath(): string {
  for (const up of ['../../schema.graphql', '../../../schema.graphql']) {
    const path = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('schema.graphql not found beside the package');
}

export function buildApiSchema(): GraphQLSchema {
  // graphql-tools' resolver map is loosely typed; ours is checked against the generated types.
  return createSchema<Context>({ typeDefs: readFileSync(schemaPath(), 'utf8'), resolvers: resolvers as Parameters<typeof createSchema<Context>>[0]['resolvers'] });
}
