/**
 * Validation rules that refuse expensive operations before they run: too deep a selection, or too
 * high an estimated cost (every field costs 1, and a paginated list multiplies what is under it by
 * its `first`). Introspection counts too: its types nest recursively (`__type { fields { type {
 * fields ...`), the classic way to make a server do unbounded work. The default depth, 15, is what
 * graphql-js's full introspection query (GraphiQL's) needs; TL's own types nest at most 7 deep.
 */
import { createGraphQLError } from 'graphql-yoga';
import {
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';

export interface QueryLimits {
  readonly maxDepth: number;
  readonly maxCost: number;
  /** Per paginated field: `first` when not given, and the most it may be (assumed when it is a variable). */
  readonly lists: Readonly<Record<string, { readonly default: number; readonly max: number }>>;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxDepth: 15,
  maxCost: 10_000,
  lists: { jobs: { default: 20, max: 100 }, events: { default: 100, max: 1000 } },
};

type Fragments = ReadonlyMap<string, FragmentDefinitionNode>;

function fragmentsOf(doc: { definitions: readonly { kind: string }[] }): Fragments {
  const map = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) map.set((d as FragmentDefinitionNode).name.value, d as FragmentDefinitionNode);
  return map;
}

/** Walks a selection set; fragment cycles are another rule's error, so a cycle just stops here. */
function fold(set: SelectionSetNode, fragments: Fragments, seen: ReadonlySet<string>, onField: (f: FieldNode, seen: ReadonlySet<string>) => number, combine: 'max' | 'sum'): number {
  let acc = 0;
  const merge = (v: number) => (acc = combine === 'max' ? Math.max(acc, v) : acc + v);
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) merge(onField(s, seen));
    else if (s.kind === Kind.INLINE_FRAGMENT) merge(fold(s.selectionSet, fragments, seen, onField, combine));
    else {
      const frag = fragments.get(s.name.value);
      if (frag && !seen.has(frag.name.value)) merge(fold(frag.selectionSet, fragments, new Set([...seen, frag.name.value]), onField, combine));
    }
  }
  return acc;
}

function depth(set: SelectionSetNode, fragments: Fragments, seen: ReadonlySet<string> = new Set()): number {
  return fold(set, fragments, seen, (f, s) => 1 + (f.selectionSet ? depth(f.selectionSet, fragments, s) : 0), 'max');
}

function cost(set: SelectionSetNode, fragments: Fragments, limits: QueryLimits, seen: ReadonlySet<string> = new Set()): number {
  return fold(
    set,
    fragments,
    seen,
    (f, s) => {
      const list = limits.lists[f.name.value];
      let size = 1;
      if (list) {
        const first = f.arguments?.find((a) => a.name.value === 'first')?.value;
        size = first === undefined ? list.default : first.kind === Kind.INT ? Math.max(0, Number(first.value)) : list.max;
      }
      return 1 + size * (f.selectionSet ? cost(f.selectionSet, fragments, limits, s) : 0);
    },
    'sum',
  );
}

export function depthLimitRule(limits: QueryLimits): ValidationRule {
  return (context) => {
    const fragments = fragmentsOf(context.getDocument());
    return {
      OperationDefinition(node) {
        const d = depth(node.selectionSet, fragments);
        if (d > limits.maxDepth) {
          context.reportError(createGraphQLError(`the operation is ${d} levels deep; this server allows at most ${limits.maxDepth}`, { nodes: [node], extensions: { code: 'QUERY_TOO_DEEP' } }));
        }
      },
    };
  };
}

export function costLimitRule(limits: QueryLimits): ValidationRule {
  return (context) => {
    const fragments = fragmentsOf(context.getDocument());
    return {
      OperationDefinition(node) {
        const c = cost(node.selectionSet, fragments, limits);
        if (c > limits.maxCost) {
          context.reportError(
            createGraphQLError(`the operation's estimated cost is ${c}; this server allows at most ${limits.maxCost} (ask for fewer items with 'first', or fewer fields)`, {
              nodes: [node],
              extensions: { code: 'QUERY_TOO_COSTLY' },
            }),
          );
        }
      },
    };
  };
}
