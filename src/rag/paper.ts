/**
 * The rules that give each paper one stable id:
 * the id its source gives (arXiv ids without their version), else a hash of the normalised title.
 */
import { createHash } from 'node:crypto';
import { titleKey } from './text.ts';
import type { Paper, PaperRecord } from './types.ts';

const NEW_ARXIV = /^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v(\d+))?$/i;
const OLD_ARXIV = /^(?:arxiv:)?([a-z-]+(?:\.[a-z]{2})?\/\d{7})(?:v(\d+))?$/i;
const ARXIV_URL = /arxiv\.org\/(?:abs|pdf|html)\/([^?#\s]+?)(?:\.pdf)?(?:[?#]|$)/i;

/** Splits an arXiv id (or arXiv URL) into its versionless id and version; null if it is not one. */
export function parseArxivId(value: string): { id: string; version?: number } | null {
  let candidate = value.trim();
  const fromUrl = ARXIV_URL.exec(candidate);
  if (fromUrl?.[1]) candidate = fromUrl[1];
  const match = NEW_ARXIV.exec(candidate) ?? OLD_ARXIV.exec(candidate);
  if (!match?.[1]) return null;
  return match[2] ? { id: match[1].toLowerCase(), version: Number(match[2]) } : { id: match[1].toLowerCase() };
}

/** The id under which a record is stored, with the arXiv version when there is one. */
export function paperIdentity(record: PaperRecord): { id: string; version?: number } {
  const given = record.sourceId?.trim();
  if (given) return parseArxivId(given) ?? { id: given };
  if (record.url) {
    const fromUrl = parseArxivId(record.url);
    if (fromUrl) return fromUrl;
  }
  return { id: titleHashId(record.title) };
}

/** A short, typable id for papers whose source gives none: `t-` and 10 hex digits of the title's hash. */
export function titleHashId(title: string): string {
  return `t-${createHash('sha256').update(titleKey(title)).digest('hex').slice(0, 10)}`;
}

/** The arXiv abstract page of a paper, when its id is an arXiv id. */
export function arxivUrl(id: string): string | undefined {
  return NEW_ARXIV.test(id) || OLD_ARXIV.test(id) ? `https://arxiv.org/abs/${id}` : undefined;
}

/** A human label for when a paper appeared: its publication date, else the listing it came from. */
export function paperDate(paper: Pick<Paper, 'published' | 'metadata'>): string | undefined {
  if (paper.published) return paper.published;
  const listed = paper.metadata['listed'];
  return typeof listed === 'string' ? listed : undefined;
}
