import { describe, expect, it } from 'vitest';
import { Encoded, EncodedList, encodeAnswer } from './encoded-list.js';
import type { Container } from '../generated/runtime/v1/Container.js';
import type { ListContainersResponse__Output } from '../generated/runtime/v1/ListContainersResponse.js';
import { loadCri } from './proto.js';

const method = loadCri().runtime.v1.RuntimeService.service.ListContainers;

interface Rec {
  id: string;
  state: 'CONTAINER_RUNNING' | 'CONTAINER_EXITED';
  labels: Record<string, string>;
}

const toProto = (r: Rec): Container => ({
  id: r.id,
  pod_sandbox_id: `pod-${r.id}`,
  metadata: { name: `n-${r.id}`, attempt: 1 },
  image: { image: 'busybox' },
  image_ref: 'sha256:abc',
  state: r.state,
  created_at: '1795799210948000000',
  labels: r.labels,
  annotations: { 'io.kubernetes.container.hash': 'ff' },
});

function counted(): { list: EncodedList<Rec>; encodes: () => number } {
  let n = 0;
  const list = new EncodedList<Rec>((r) => {
    n++;
    return method.responseSerialize({ containers: [toProto(r)] });
  });
  return { list, encodes: () => n };
}

describe('EncodedList', () => {
  const recs: Rec[] = Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, state: 'CONTAINER_RUNNING', labels: { app: `a${i}`, 'ünïcode': 'ok' } }));

  it('gives the same bytes as encoding the whole answer at once, and they decode to the same list', () => {
    const { list } = counted();
    const got = list.encode(recs).bytes;
    const whole = method.responseSerialize({ containers: recs.map(toProto) });
    expect(got.equals(whole)).toBe(true);
    const decoded = method.responseDeserialize(got) as ListContainersResponse__Output;
    expect(decoded.containers.map((c) => c.id)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(decoded.containers[2]?.labels).toEqual({ app: 'a2', 'ünïcode': 'ok' });
  });

  it('encodes an unchanged record once; a replaced record (a state change) is encoded anew', () => {
    const { list, encodes } = counted();
    list.encode(recs);
    list.encode(recs);
    expect(encodes()).toBe(5);
    const changed = [...recs];
    changed[3] = { ...recs[3]!, state: 'CONTAINER_EXITED' };
    const decoded = method.responseDeserialize(list.encode(changed).bytes) as ListContainersResponse__Output;
    expect(encodes()).toBe(6);
    expect(decoded.containers.map((c) => c.state)).toEqual(['CONTAINER_RUNNING', 'CONTAINER_RUNNING', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_RUNNING']);
  });

  it('an unchanged list gives the very same answer; any change (order, removal) builds a new one', () => {
    const { list } = counted();
    const a = list.encode(recs);
    expect(list.encode([...recs])).toBe(a);
    const reordered = list.encode([...recs].reverse());
    expect(reordered).not.toBe(a);
    expect((method.responseDeserialize(reordered.bytes) as ListContainersResponse__Output).containers.map((c) => c.id)).toEqual(['c4', 'c3', 'c2', 'c1', 'c0']);
    const fewer = list.encode(recs.slice(1));
    expect((method.responseDeserialize(fewer.bytes) as ListContainersResponse__Output).containers).toHaveLength(4);
  });

  it('an empty list is an empty message, which decodes to no items', () => {
    const bytes = counted().list.encode([]).bytes;
    expect(bytes.length).toBe(0);
    expect((method.responseDeserialize(bytes) as ListContainersResponse__Output).containers).toEqual([]);
  });
});

describe('encodeAnswer', () => {
  const encode = encodeAnswer(method.responseSerialize);

  it('sends Encoded answers as they are and still serializes plain ones', () => {
    const bytes = Buffer.from([0x0a, 0x00]);
    expect(encode(new Encoded(bytes))).toBe(bytes);
    const plain = encode({ containers: [toProto({ id: 'x', state: 'CONTAINER_RUNNING', labels: {} })] });
    expect((method.responseDeserialize(plain) as ListContainersResponse__Output).containers[0]?.id).toBe('x');
  });
});
