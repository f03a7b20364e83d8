import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../src/store/keyed-lock.js';

describe('KeyedLock', () => {
  it('takes a key named exclusive and shared exclusively, and each key once, in a set too large to order by insertion', async () => {
    const lock = new KeyedLock();
    const keys = Array.from({ length: 20 }, (_, i) => `user:${String(19 - i).padStart(2, '0')}`);
    const shared = ['group:b', 'group:a', 'user:05', 'group:b'];
    const release = lock.acquire(keys, shared);
    expect(typeof release).toBe('function');
    // `user:05`, named in both lists, is held exclusively: a reader waits for it.
    const reader = lock.acquire([], ['user:05']);
    expect(reader).toBeInstanceOf(Promise);
    // `group:a`, shared only, lets another reader in at once.
    const other = lock.acquire([], ['group:a']);
    expect(typeof other).toBe('function');
    (other as () => void)();
    (release as () => void)();
    const granted = await reader;
    granted();
    expect(lock.idle).toBe(true);
  });
});
