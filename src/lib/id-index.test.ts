import { describe, expect, it } from 'vitest';
import { findByIdOrPrefix, NameReservations } from './id-index.js';

describe('NameReservations', () => {
  it('refuses a name held by another id, naming the holder; the holder may reserve again; release frees it', () => {
    const n = new NameReservations();
    n.reserve('web/0', 'aaa', 'container "web"', (h) => `container "${h}"`);
    n.reserve('web/0', 'aaa', 'container "web"', (h) => `container "${h}"`);
    expect(() => n.reserve('web/0', 'bbb', 'container "web"', (h) => `container "${h}"`)).toThrow(/container "web" already exists as container "aaa"/);
    n.release('web/0', 'bbb');
    expect(n.holder('web/0')).toBe('aaa');
    n.release('web/0', 'aaa');
    expect(n.holder('web/0')).toBeUndefined();
    n.assign('web/0', 'ccc');
    expect(n.holder('web/0')).toBe('ccc');
  });
});

describe('findByIdOrPrefix', () => {
  const records = new Map([['abc1', { id: 'abc1' }], ['abc2', { id: 'abc2' }], ['def', { id: 'def' }]]);
  it('finds by full id or unique prefix, skips hidden records, refuses an ambiguous prefix', () => {
    expect(findByIdOrPrefix(records, 'abc1', new Set(), 'pod')?.id).toBe('abc1');
    expect(findByIdOrPrefix(records, 'd', new Set(), 'pod')?.id).toBe('def');
    expect(findByIdOrPrefix(records, '', new Set(), 'pod')).toBeUndefined();
    expect(findByIdOrPrefix(records, 'abc1', new Set(['abc1']), 'pod')).toBeUndefined();
    expect(findByIdOrPrefix(records, 'abc', new Set(['abc2']), 'pod')?.id).toBe('abc1');
    expect(() => findByIdOrPrefix(records, 'abc', new Set(), 'pod')).toThrow(/pod id prefix "abc" is ambiguous \(2 match\)/);
  });
});
