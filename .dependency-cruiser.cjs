// Layering of src/, checked by `npm run lint` (depcruise). Arrows point down only: the shared
// types at the bottom, ports above them, the core (rag, digest, commands) above those, adapters
// and the composition root at the edge. Type-only imports count (tsPreCompilationDeps), so a
// cycle made of `import type` fails too.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'src/ has no import cycle, type-only imports included.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-imports-no-vendor',
      comment: 'The core (src/rag, src/digest, src/commands) imports no vendor package: those live in src/adapters/<vendor or role>/.',
      severity: 'error',
      from: { path: '^src/(rag|digest|commands)/' },
      to: { path: 'node_modules/(better-sqlite3|hnswlib-node|ollama|discord\\.js|@discordjs|@slack|pg|pg-[^/]+|croner|yaml|fast-xml-parser|@langchain)/' },
    },
    {
      name: 'core-imports-no-adapter',
      comment: 'The core depends on ports, never on an adapter or on the composition root.',
      severity: 'error',
      from: { path: '^src/(rag|digest|commands)/' },
      to: { path: '^src/(adapters/|composition-root\\.ts)' },
    },
    {
      name: 'types-at-the-bottom',
      comment: 'src/rag/types.ts is the bottom module: it imports nothing of the project.',
      severity: 'error',
      from: { path: '^src/rag/types\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'bottom-modules-import-only-types',
      comment: 'src/platforms.ts and src/chat-text.ts sit beside the types at the bottom: the core and the adapters both use them.',
      severity: 'error',
      from: { path: '^src/(platforms|chat-text)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(rag/types|platforms)\\.ts$' },
    },
    {
      name: 'ports-import-only-types',
      comment: 'src/rag/ports.ts imports only the shared types.',
      severity: 'error',
      from: { path: '^src/rag/ports\\.ts$' },
      to: { path: '^src/', pathNot: '^src/rag/types\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
