import { RunnableLambda, RunnableSequence } from '@langchain/core/runnables';
import type { Document } from '@langchain/core/documents';
import { afterEach, describe, expect, it } from 'vitest';
import { PaperbotEmbeddings, PaperbotRetriever, type PaperMetadata } from '../src/adapters/langchain/index.ts';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import { tempDir } from './helpers/temp.ts';

const NULL_TEXT = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';
let core: PaperbotCore | undefined;

async function seededCore(): Promise<PaperbotCore> {
  core = await createPaperbot(
    loadConfig({ PAPERBOT_DATA_DIR: tempDir(), OLLAMA_HOST: 'http://127.0.0.1:47', EMBEDDER: 'local', LOCAL_EMBED_DIM: '256' }),
    { logger: createLogger('silent') },
  );
  return core;
}

afterEach(() => {
  core?.close();
  core = undefined;
});

describe('LangChain surface', () => {
  it('runs the hybrid retriever inside a LangChain runnable sequence', async () => {
    const retriever = new PaperbotRetriever({ core: await seededCore(), k: 3 });
    const formatDocs = RunnableLambda.from((docs: Document<PaperMetadata>[]) => docs.map((d) => `[${d.metadata.rank}] ${d.metadata.title}`).join('\n'));
    const chain = RunnableSequence.from([retriever, formatDocs]);
    const context = await chain.invoke('How can I edit a real photo with a text-guided diffusion model?');
    expect(context.split('\n')).toHaveLength(3);
    expect(context.split('\n')[0]).toBe(`[1] ${NULL_TEXT}`);

    const docs = await retriever.invoke('How can I edit a real photo with a text-guided diffusion model?');
    expect(docs[0]!.pageContent.startsWith(`${NULL_TEXT}\n\n`)).toBe(true);
    expect(docs[0]!.metadata).toMatchObject({ title: NULL_TEXT, rank: 1, relevant: true });
    expect(docs[0]!.metadata.keywordScore).toBeGreaterThan(0);
  });

  it('says through metadata when nothing is relevant, and keeps the mode it was given', async () => {
    const retriever = new PaperbotRetriever({ core: await seededCore(), k: 2, mode: 'keyword' });
    const docs = await retriever.invoke('What is a good recipe for sourdough bread with a long cold fermentation?');
    expect(docs.every((d) => d.metadata.relevant === false)).toBe(true);
    expect(docs.every((d) => d.metadata.vectorScore === undefined)).toBe(true);
  });

  it('exposes the embedded embedder as LangChain Embeddings usable in a runnable', async () => {
    const embeddings = PaperbotEmbeddings.fromCore(await seededCore());
    const [a, b] = await embeddings.embedDocuments(['diffusion models edit real images', 'a recipe for sourdough bread']);
    expect(a).toHaveLength(256);
    const similarity = RunnableLambda.from(async (text: string) => {
      const q = await embeddings.embedQuery(text);
      const dot = (x: number[]) => x.reduce((sum, value, i) => sum + value * q[i]!, 0);
      return { diffusion: dot(a!), bread: dot(b!) };
    });
    const scores = await similarity.invoke('editing images with diffusion');
    expect(scores.diffusion).toBeGreaterThan(scores.bread);
  });
});
