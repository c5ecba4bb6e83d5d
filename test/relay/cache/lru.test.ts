import { describe, expect, it } from 'vitest';
import { ObjectLru } from '../../../relay/src/http/cache/lru.ts';

describe('object LRU (the size bound)', () => {
  it('drops the least recently used objects until the total fits, never the one just added', () => {
    const lru = new ObjectLru(250);
    lru.add('old', 100, 1);
    lru.add('mid', 100, 2);
    lru.add('new', 100, 3);
    expect(lru.evict('new')).toEqual(['old']);
    expect(lru.totalBytes).toBe(200);
    lru.get('mid')!.lastUsed = 10; // used again: now newer than 'new'
    lru.add('big', 200, 11);
    expect(lru.evict('big')).toEqual(['new', 'mid']);
    expect(lru.totalBytes).toBe(200);
    expect(lru.count).toBe(1);
  });

  it('keeps an object bigger than the bound when it is the one just added', () => {
    const lru = new ObjectLru(50);
    lru.add('huge', 80, 1);
    expect(lru.evict('huge')).toEqual([]);
    expect(lru.get('huge')?.size).toBe(80);
  });

  it('counts an object added twice once', () => {
    const lru = new ObjectLru(1000);
    lru.add('a', 100, 1);
    lru.add('a', 100, 2);
    expect(lru.totalBytes).toBe(100);
    expect(lru.count).toBe(1);
  });
});
