/**
 * The LangChain surface: paperbot's hybrid retriever as a `BaseRetriever` and its embedded
 * embedder as an `Embeddings`, so LangChain users compose them in their own chains. Storage stays
 * ours (SQLite + our HNSW index), not LangChain's HNSWLib store, which loads every document into
 * memory and cannot delete (see ../shared/guides/platform-facts.md).
 *
 *   import { PaperbotRetriever, PaperbotEmbeddings } from 'paperbot/langchain';
 *   const retriever = new PaperbotRetriever({ core, k: 5 });
 *   const chain = retriever.pipe(formatDocs).pipe(prompt).pipe(model);
 */
import { Document } from '@langchain/core/documents';
import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import { BaseRetriever, type BaseRetrieverInput } from '@langchain/core/retrievers';
import { paperUrl } from '../../rag/answer.ts';
import { paperDate } from '../../rag/paper.ts';
import type { PaperbotCore } from '../../rag/paperbot-core.ts';
import type { Embedder } from '../../rag/ports.ts';
import type { RetrievalMode } from '../../rag/types.ts';
/** What each retrieved `Document` carries besides its text (title and abstract). */
export interface PaperMetadata {
  paperId: string;
  title: string;
  url?: string;
  date?: string;
  authors: string[];
  /** Rank in the retrieval, from 1. */
  rank: number;
  score: number;
  keywordScore?: number;
  vectorScore?: number;
  /** False when paperbot's relevance decision found nothing relevant (the papers are the closest ones). */
  relevant: boolean;
}

export interface PaperbotRetrieverInput extends BaseRetrieverInput {
  core: PaperbotCore;
  /** Papers per query (default: the core's TOP_K). */
  k?: number;
  /** keyword, vector or hybrid (default: the core's RETRIEVAL_MODE). */
  mode?: RetrievalMode;
}

export class PaperbotRetriever extends BaseRetriever<PaperMetadata> {
  static override lc_name(): string {
    return 'PaperbotRetriever';
  }

  override lc_namespace = ['paperbot', 'retrievers'];
  private readonly core: PaperbotCore;
  private readonly k: number | undefined;
  private readonly mode: RetrievalMode | undefined;

  constructor(fields: PaperbotRetrieverInput) {
    super(fields);
    this.core = fields.core;
    this.k = fields.k;
    this.mode = fields.mode;
  }

  override async _getRelevantDocuments(query: string): Promise<Document<PaperMetadata>[]> {
    const text = this.core.validateQuestion(query);
    const retrieval = await this.core.retriever().retrieve(text, this.k ?? this.core.settings.topK, this.mode ?? this.core.settings.retrievalMode);
    return retrieval.hits.map((hit, i) => {
      const metadata: PaperMetadata = {
        paperId: hit.paper.id,
        title: hit.paper.title,
        authors: hit.paper.authors,
        rank: i + 1,
        score: hit.score,
        relevant: retrieval.relevance.relevant,
      };
      const url = paperUrl(hit.paper);
      const date = paperDate(hit.paper);
      if (url) metadata.url = url;
      if (date) metadata.date = date;
      if (hit.keywordScore !== undefined) metadata.keywordScore = hit.keywordScore;
      if (hit.vectorScore !== undefined) metadata.vectorScore = hit.vectorScore;
      return new Document<PaperMetadata>({ pageContent: `${hit.paper.title}\n\n${hit.paper.abstract}`, metadata, id: hit.paper.id });
    });
  }
}

/** Any paperbot `Embedder` (the embedded local one by default) as LangChain `Embeddings`. */
export class PaperbotEmbeddings extends Embeddings {
  private readonly embedder: Embedder;

  constructor(fields: EmbeddingsParams & { embedder: Embedder }) {
    super(fields);
    this.embedder = fields.embedder;
  }

  /** The embedder the core's vector index uses, when it has one ready. */
  static fromCore(core: PaperbotCore, fields: EmbeddingsParams = {}): PaperbotEmbeddings {
    const state = core.library.vectors?.state;
    if (state?.kind !== 'ready') throw new Error('paperbot has no vector index ready: run paperbot index --rebuild, or use keyword retrieval.');
    return new PaperbotEmbeddings({ ...fields, embedder: state.embedder });
  }

  async embedDocuments(documents: string[]): Promise<number[][]> {
    const vectors = await this.caller.call(() => this.embedder.embedDocuments(documents));
    return vectors.map((vector) => Array.from(vector));
  }

  async embedQuery(document: string): Promise<number[]> {
    return Array.from(await this.caller.call(() => this.embedder.embedQuery(document)));
  }
}

export { LocalHashedEmbedder } from '../../rag/embedders/local-hashed-embedder.ts';
