// Classification answers and what each is about. A question's level in the
// label schema decides the target (annotation/content.go answerTarget):
// the study (nothing), a series (seriesUID), an image (image) or an
// annotation item (item). Plain data, unit-tested without a browser.
import type { Answer, ImageRef, Item, Question } from '../api/client.ts';

/** What an answer is about; exactly the field its question's level asks for. */
export type AnswerTarget = { seriesUID?: string; image?: ImageRef; item?: string };

/** Where the reader is: the series shown, the image (slice) looked at, the item picked in the list. */
export interface AnswerContext {
  seriesUID: string;
  image?: ImageRef;
  item?: Item;
}

/**
 * The target of a question in the reader's context, or undefined when the
 * context has none (no image looked at, no item picked, or an item whose
 * label the question is not asked of).
 */
export function targetOf(q: Question, ctx: AnswerContext): AnswerTarget | undefined {
  switch (q.level) {
    case 'study':
      return {};
    case 'series':
      return { seriesUID: ctx.seriesUID };
    case 'image':
      return ctx.image ? { image: { sopInstanceUID: ctx.image.sopInstanceUID, ...(ctx.image.frame ? { frame: ctx.image.frame } : {}) } } : undefined;
    case 'annotation':
      if (!ctx.item) return undefined;
      return !q.labels?.length || q.labels.includes(ctx.item.label) ? { item: ctx.item.id } : undefined;
  }
}

/** A key naming a question and its target: one answer per key. */
export function answerKey(a: { question: string } & AnswerTarget): string {
  if (a.item) return `${a.question}|item:${a.item}`;
  if (a.image) return `${a.question}|image:${a.image.sopInstanceUID}/${a.image.frame ?? 0}`;
  if (a.seriesUID) return `${a.question}|series:${a.seriesUID}`;
  return `${a.question}|`;
}

/** The answer to a question about a target, if any. */
export function findAnswer(answers: readonly Answer[], question: string, target: AnswerTarget): Answer | undefined {
  const key = answerKey({ question, ...target });
  return answers.find((a) => answerKey(a) === key);
}

/** The answers with the one for (question, target) replaced by `answer` (or removed when it is undefined). */
export function withAnswer(answers: readonly Answer[], question: string, target: AnswerTarget, answer: Answer | undefined): Answer[] {
  const key = answerKey({ question, ...target });
  const next = answers.filter((a) => answerKey(a) !== key);
  if (answer) next.push({ ...answer, question, ...target });
  return next;
}

/**
 * Drops answers about items that are no longer there (deleted or undone):
 * the server refuses an answer about an item the revision does not hold.
 */
export function answersForItems(answers: readonly Answer[], items: readonly Item[]): Answer[] {
  const ids = new Set(items.map((it) => it.id));
  return answers.filter((a) => !a.item || ids.has(a.item));
}
