/**
 * Answers given in chat, and the 👍 / 👎 their askers press, kept in the paper database so a
 * research group can see which questions the bot answers badly. An answer is logged when it is
 * posted (its id goes into the buttons); a press stores the rating with the question, the
 * retrieved paper ids and the answer mode copied from that log.
 */
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import type { AnswerLog, ConversationStore } from '../../rag/ports.ts';
import { z } from 'zod';
import { PaperbotError } from '../../errors.ts';
import type { AnswerSource, Clock, FeedbackEntry, LoggedAnswer, PastTurn, Rating } from '../../rag/types.ts';
const SCHEMA = `
CREATE TABLE IF NOT EXISTS answer_log (
  id         INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  platform   TEXT NOT NULL,
  question   TEXT NOT NULL,
  paper_ids  TEXT NOT NULL,
  mode       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversation_turns (
  id           INTEGER PRIMARY KEY,
  conversation TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  question     TEXT NOT NULL,
  answer_text  TEXT NOT NULL,
  sources      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_turns_by_conversation ON conversation_turns(conversation, id);
CREATE TABLE IF NOT EXISTS feedback (
  id         INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  answer_id  INTEGER NOT NULL REFERENCES answer_log(id),
  platform   TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  rating     TEXT NOT NULL CHECK (rating IN ('up', 'down')),
  question   TEXT NOT NULL,
  paper_ids  TEXT NOT NULL,
  mode       TEXT NOT NULL,
  UNIQUE (answer_id, user_id)
);
`;

interface FeedbackRow {
  id: number;
  created_at: string;
  answer_id: number;
  platform: string;
  user_id: string;
  rating: Rating;
  question: string;
  paper_ids: string;
  mode: string;
}

const paperIds = z.array(z.string()).catch([]);
const sourcesSchema = z.array(z.object({ n: z.number(), paperId: z.string(), title: z.string(), score: z.number(), cited: z.boolean() }).loose()).catch([]);

export class SqliteFeedbackStore implements AnswerLog, ConversationStore {
  private readonly statements: {
    logAnswer: Statement<[string, string, string, string, string]>;
    answer: Statement<[number], { platform: string; question: string; paper_ids: string; mode: string }>;
    record: Statement<[string, number, string, string, Rating, string, string, string]>;
    list: Statement<[number], FeedbackRow>;
    addTurn: Statement<[string, string, string, string, string]>;
    turns: Statement<[string, number], { question: string; answer_text: string; sources: string }>;
  };

  constructor(
    db: SqliteDatabase,
    private readonly clock: Clock,
  ) {
    db.exec(SCHEMA);
    this.statements = {
      logAnswer: db.prepare('INSERT INTO answer_log (created_at, platform, question, paper_ids, mode) VALUES (?, ?, ?, ?, ?)'),
      answer: db.prepare('SELECT platform, question, paper_ids, mode FROM answer_log WHERE id = ?'),
      // A second press by the same person changes their rating instead of adding a row.
      record: db.prepare(`INSERT INTO feedback (created_at, answer_id, platform, user_id, rating, question, paper_ids, mode)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (answer_id, user_id) DO UPDATE SET rating = excluded.rating, created_at = excluded.created_at`),
      list: db.prepare('SELECT * FROM feedback ORDER BY id DESC LIMIT ?'),
      addTurn: db.prepare('INSERT INTO conversation_turns (conversation, created_at, question, answer_text, sources) VALUES (?, ?, ?, ?, ?)'),
      turns: db.prepare('SELECT question, answer_text, sources FROM (SELECT * FROM conversation_turns WHERE conversation = ? ORDER BY id DESC LIMIT ?) ORDER BY id'),
    };
  }

  /** Logs an answer as it is posted; returns the id its feedback buttons carry. */
  logAnswer(answer: LoggedAnswer): number {
    const result = this.statements.logAnswer.run(this.clock().toISOString(), answer.platform, answer.question, JSON.stringify(answer.paperIds), answer.mode);
    return Number(result.lastInsertRowid);
  }

  /** Stores one person's rating of a logged answer (their latest press wins). */
  record(answerId: number, userId: string, rating: Rating): FeedbackEntry {
    const answer = this.statements.answer.get(answerId);
    if (!answer) throw new PaperbotError('not_found', `No answer ${answerId} to rate: it may come from another paperbot data directory.`);
    const createdAt = this.clock().toISOString();
    this.statements.record.run(createdAt, answerId, answer.platform, userId, rating, answer.question, answer.paper_ids, answer.mode);
    return { id: 0, createdAt, answerId, userId, rating, platform: answer.platform, question: answer.question, paperIds: paperIds.parse(JSON.parse(answer.paper_ids)), mode: answer.mode };
  }

  /** Remembers a turn of a chat conversation (a thread), so follow-ups keep their context across restarts. */
  addTurn(conversation: string, turn: PastTurn): void {
    this.statements.addTurn.run(conversation, this.clock().toISOString(), turn.question, turn.answer.text, JSON.stringify(turn.answer.sources));
  }

  /** The last `limit` turns of a conversation, oldest first; empty for one never seen. */
  turns(conversation: string, limit: number): PastTurn[] {
    return this.statements.turns.all(conversation, limit).map((row) => ({
      question: row.question,
      answer: { text: row.answer_text, sources: sourcesSchema.parse(JSON.parse(row.sources)) as AnswerSource[] },
    }));
  }

  /** The newest feedback first. */
  list(limit = 100): FeedbackEntry[] {
    return this.statements.list.all(limit).map((row) => ({
      id: row.id,
      createdAt: row.created_at,
      answerId: row.answer_id,
      platform: row.platform,
      userId: row.user_id,
      rating: row.rating,
      question: row.question,
      paperIds: paperIds.parse(JSON.parse(row.paper_ids)),
      mode: row.mode,
    }));
  }
}
