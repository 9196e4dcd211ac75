import { describe, expect, test } from 'vitest';
import type { Item, Question } from '../api/client.ts';
import { answerKey, answersForItems, findAnswer, targetOf, withAnswer } from './answers.ts';

const q = (level: Question['level'], labels?: string[]): Question => ({ id: `q-${level}`, text: level, type: 'single', level, ...(labels ? { labels } : {}) });
const nodule: Item = { id: 'i1', kind: 'ellipse_roi', label: 'lung-nodule', source: { type: 'human' } };
const mass: Item = { id: 'i2', kind: 'length', label: 'mass', source: { type: 'human' } };
const ctx = { seriesUID: '1.2.3', image: { sopInstanceUID: '1.2.3.7', frame: 0 }, item: nodule };

describe('answer targets', () => {
  test('each level names only its own target, as the server asks', () => {
    expect(targetOf(q('study'), ctx)).toEqual({});
    expect(targetOf(q('series'), ctx)).toEqual({ seriesUID: '1.2.3' });
    // Frame 0 (a single-frame instance) is left out, as the server writes it.
    expect(targetOf(q('image'), ctx)).toEqual({ image: { sopInstanceUID: '1.2.3.7' } });
    expect(targetOf(q('image'), { ...ctx, image: { sopInstanceUID: '1.2.3.7', frame: 3 } })).toEqual({ image: { sopInstanceUID: '1.2.3.7', frame: 3 } });
    expect(targetOf(q('annotation'), ctx)).toEqual({ item: 'i1' });
  });

  test('no target without an image, an item, or with an item of another label', () => {
    expect(targetOf(q('image'), { seriesUID: 's' })).toBeUndefined();
    expect(targetOf(q('annotation'), { seriesUID: 's' })).toBeUndefined();
    expect(targetOf(q('annotation', ['lung-nodule']), { ...ctx, item: mass })).toBeUndefined();
    expect(targetOf(q('annotation', ['lung-nodule']), ctx)).toEqual({ item: 'i1' });
  });

  test('one answer per question and target: image answers on two slices are kept apart', () => {
    const a = { sopInstanceUID: 'a' };
    const b = { sopInstanceUID: 'b' };
    let answers = withAnswer([], 'q', { image: a }, { question: 'q', choices: ['yes'] });
    answers = withAnswer(answers, 'q', { image: b }, { question: 'q', choices: ['no'] });
    answers = withAnswer(answers, 'q', { image: a }, { question: 'q', choices: ['no'] });
    expect(answers).toHaveLength(2);
    expect(findAnswer(answers, 'q', { image: a })?.choices).toEqual(['no']);
    expect(findAnswer(answers, 'q', { image: b })?.image).toEqual(b);
    expect(findAnswer(answers, 'q', {})).toBeUndefined();
    expect(withAnswer(answers, 'q', { image: a }, undefined)).toHaveLength(1);
    expect(answerKey({ question: 'q', image: { sopInstanceUID: 'a', frame: 0 } })).toBe(answerKey({ question: 'q', image: a }));
  });

  test('answers about items that are gone are dropped', () => {
    const answers = [{ question: 'x', item: 'i1', choices: ['2'] }, { question: 'x', item: 'gone', choices: ['3'] }, { question: 'y', choices: ['ok'] }];
    expect(answersForItems(answers, [nodule]).map((a) => a.item ?? '')).toEqual(['i1', '']);
  });
});
