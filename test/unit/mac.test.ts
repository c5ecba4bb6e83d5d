import { describe, expect, it } from 'vitest';
import { normalizeMac } from '../../shared/mac.ts';

describe('normalizeMac', () => {
  it.each([
    ['52:54:00:12:34:56'],
    ['52-54-00-12-34-56'],
    ['5254.0012.3456'],
    ['525400123456'],
    ['52:54:00:12:34:56'.toUpperCase()],
    ['52%3A54%3A00%3A12%3A34%3A56'],
    ['  52:54:00:12:34:56 '],
  ])('reads %j as 52:54:00:12:34:56', (input) => {
    expect(normalizeMac(input)).toBe('52:54:00:12:34:56');
  });

  it.each([
    [''],
    ['52:54:00:12:34'],
    ['52:54:00:12:34:56:78'],
    ['52:54-00:12:34:56'],
    ['52:54:00:12:34:5g'],
    ['5254.0012.34567'],
    ['52540012345'],
    ['52:54:00:12:34:56\n'.repeat(3)],
    ['x'.repeat(100)],
    ['52::54:00:12:34:56'],
  ])('refuses %j', (input) => {
    expect(normalizeMac(input)).toBeNull();
  });
});
