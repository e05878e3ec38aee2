#!/usr/bin/env node
// The CLI runs the compiled output (npm's `prepare` builds it on install).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(70);
});
