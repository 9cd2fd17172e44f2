import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../lib/metrics.js';
import { setContainerStateSource } from './container-metrics.js';
import type { ContainerState } from './container-record.js';

afterEach(() => setContainerStateSource(undefined));

describe('nexcage_containers', () => {
  it('reports the containers of the registered store by state at scrape time, zero for states with none', async () => {
    let counts = new Map<ContainerState, number>([
      ['RUNNING', 3],
      ['EXITED', 1],
    ]);
    setContainerStateSource(() => new Map(counts));
    const scrape = async (): Promise<string[]> => (await registry.getSingleMetricAsString('nexcage_containers')).split('\n').filter((l) => l.startsWith('nexcage_containers{'));
    expect(await scrape()).toEqual(['nexcage_containers{state="created"} 0', 'nexcage_containers{state="running"} 3', 'nexcage_containers{state="exited"} 1', 'nexcage_containers{state="unknown"} 0']);
    counts = new Map<ContainerState, number>([['CREATED', 2]]);
    expect(await scrape()).toContain('nexcage_containers{state="created"} 2');
    expect(await scrape()).toContain('nexcage_containers{state="running"} 0');
  });
});
