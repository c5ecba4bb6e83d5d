import { describe, expect, it } from 'vitest';
import { decideRange } from '../../shared/http/range.ts';

describe('decideRange', () => {
  it.each([
    ['bytes=0-0', 0, 1, 'bytes 0-0/1000'],
    ['bytes=0-499', 0, 500, 'bytes 0-499/1000'],
    ['bytes=500-', 500, 500, 'bytes 500-999/1000'],
    ['bytes=990-2000', 990, 10, 'bytes 990-999/1000'],
    ['bytes=-1', 999, 1, 'bytes 999-999/1000'],
    ['bytes=-5000', 0, 1000, 'bytes 0-999/1000'],
    ['BYTES = 10 - 19', 10, 10, 'bytes 10-19/1000'],
  ])('answers %j with the slice it selects', (header, offset, length, contentRange) => {
    expect(decideRange(header, 1000)).toEqual({ kind: 'partial', offset, length, contentRange });
  });

  it.each([['bytes=1000-'], ['bytes=5000-6000'], ['bytes=-0']])('finds %j unsatisfiable on 1000 bytes', (header) => {
    expect(decideRange(header, 1000)).toEqual({ kind: 'unsatisfiable', contentRange: 'bytes */1000' });
  });

  it('finds every range of an empty object unsatisfiable', () => {
    expect(decideRange('bytes=0-', 0).kind).toBe('unsatisfiable');
    expect(decideRange('bytes=-10', 0).kind).toBe('unsatisfiable');
  });

  it.each([[undefined], [null], [''], ['bytes=5-1'], ['items=0-1'], ['bytes=0-1,5-9'], ['bytes=a-b'], ['bytes='], ['bytes=-'], ['bytes=1-2-3'], ['bytes=99999999999999999-']])(
    'ignores %j and sends the whole body',
    (header) => {
      expect(decideRange(header, 1000)).toEqual({ kind: 'full' });
    },
  );
});
