import { describe, expect, it } from 'vitest';
import { ContainerEventBus } from './container-events.js';
import type { ContainerEvent } from './container-record.js';

const ev = (id: string, type: ContainerEvent['type']): ContainerEvent => ({ id, type, podSandboxId: 'p', createdAtNs: '1', containers: [] });

describe('ContainerEventBus', () => {
  it('delivers every event, in order, to every subscriber', async () => {
    const bus = new ContainerEventBus();
    const a = bus.subscribe();
    const b = bus.subscribe();
    bus.publish(ev('c1', 'CREATED'));
    bus.publish(ev('c1', 'STARTED'));
    const signal = new AbortController().signal;
    for (const s of [a, b]) {
      expect((await s.next(signal))?.type).toBe('CREATED');
      expect((await s.next(signal))?.type).toBe('STARTED');
    }
  });

  it('wakes a waiting subscriber and ends it on abort or close', async () => {
    const bus = new ContainerEventBus();
    const s = bus.subscribe();
    const ac = new AbortController();
    const waiting = s.next(ac.signal);
    bus.publish(ev('c2', 'STOPPED'));
    expect((await waiting)?.id).toBe('c2');
    const pending = s.next(ac.signal);
    ac.abort();
    expect(await pending).toBeUndefined();
    s.close();
    expect(bus.subscriberCount).toBe(0);
  });

  it('drops a subscriber that falls too far behind instead of growing without bound', () => {
    const bus = new ContainerEventBus();
    const s = bus.subscribe();
    for (let i = 0; i < 10_001; i++) bus.publish(ev(`c${i}`, 'CREATED'));
    expect(s.overflowed).toBe(true);
    expect(bus.subscriberCount).toBe(0);
  });

  it('tells observers of each event as it is published, before subscribers, until they stop observing', () => {
    const bus = new ContainerEventBus();
    const seen: string[] = [];
    const stop = bus.observe((e) => seen.push(`${e.type} ${e.id}`));
    bus.publish(ev('c1', 'STARTED'));
    expect(seen).toEqual(['STARTED c1']);
    stop();
    bus.publish(ev('c1', 'STOPPED'));
    expect(seen).toEqual(['STARTED c1']);
    expect(bus.subscriberCount).toBe(0);
  });
});

