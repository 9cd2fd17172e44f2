import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2Error } from './frames.js';
import { encodeHeaderBlock, HpackDecoder, huffmanDecode } from './hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('HPACK decoder', () => {
  // RFC 7541 appendix C.3: three requests on one connection, literal strings, one dynamic table.
  it('decodes the RFC 7541 C.3 requests, indexing into its dynamic table', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('828684410f7777772e6578616d706c652e636f6d')).fields).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(d.decode(hex('828684be58086e6f2d6361636865')).fields).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    const third = d.decode(hex('828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565'));
    expect(third.fields).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
    // RFC 7540 6.5.2: name + value + 32 per field.
    expect(third.listSize).toBe(7 + 3 + 7 + 5 + 5 + 11 + 10 + 15 + 10 + 12 + 5 * 32);
  });

  // C.4: the same requests with Huffman-coded strings.
  it('decodes the RFC 7541 C.4 requests (Huffman strings)', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('828684418cf1e3c2e5f23a6ba0ab90f4ff')).fields.at(-1)).toEqual([':authority', 'www.example.com']);
    expect(d.decode(hex('828684be5886a8eb10649cbf')).fields.at(-1)).toEqual(['cache-control', 'no-cache']);
    expect(d.decode(hex('828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf')).fields.slice(3)).toEqual([
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('evicts the oldest entries past the table size, and a size update of 0 empties the table', () => {
    const d = new HpackDecoder(64);
    // 'a' + 20 bytes + 32 = 53: fits alone; a second such entry evicts the first.
    const literal = (name: string, value: string): string => `40${Buffer.from([name.length]).toString('hex')}${Buffer.from(name).toString('hex')}${Buffer.from([value.length]).toString('hex')}${Buffer.from(value).toString('hex')}`;
    d.decode(hex(literal('a', 'x'.repeat(20))));
    expect(d.decode(hex('be')).fields).toEqual([['a', 'x'.repeat(20)]]);
    d.decode(hex(literal('b', 'y'.repeat(20))));
    expect(d.decode(hex('be')).fields).toEqual([['b', 'y'.repeat(20)]]);
    expect(() => d.decode(hex('bf'))).toThrow(/index 63 past the table/);
    expect(() => d.decode(hex('20 be'))).toThrow(/index 62 past the table/);
  });

  it('refuses broken blocks with a COMPRESSION_ERROR', () => {
    const cases: [string, RegExp][] = [
      ['80', /index 0/],
      ['ff', /truncated integer/],
      ['ffffffffff0f', /integer too large/],
      ['3fe21f', /table size 4096\b|table size .* over/],
      ['400a6162', /past the end/],
      ['82 20', /table size update after a field/],
      // "a" is 00011 (5 bits): padding 000 is not all ones.
      ['0081 18', /Huffman padding/],
      // 30 ones: EOS inside a string.
      ['0084 ffffffff', /EOS/],
    ];
    for (const [block, message] of cases) {
      const d = new HpackDecoder();
      let err: unknown;
      try {
        d.decode(hex(block));
      } catch (e) {
        err = e;
      }
      expect(err, block).toBeInstanceOf(H2Error);
      expect((err as H2Error).code, block).toBe(9);
      expect((err as Error).message, block).toMatch(message);
    }
  });

  it('decodes what encodeHeaderBlock writes, for any latin1 fields, and leaves the table empty', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 300 })), { maxLength: 12 }), (pairs) => {
        const fields = pairs.map(([n, v]) => [Buffer.from(n.toLowerCase(), 'latin1').toString('latin1'), Buffer.from(v, 'latin1').toString('latin1')] as [string, string]);
        const d = new HpackDecoder();
        expect(d.decode(encodeHeaderBlock(fields)).fields).toEqual(fields);
        // Nothing was indexed: the first dynamic index is still empty.
        expect(() => d.decode(hex('be'))).toThrow(/past the table/);
      }),
    );
  });

  it('encodes a server answer with static indexes and Huffman where shorter', () => {
    expect(encodeHeaderBlock([[':status', '200']]).toString('hex')).toBe('88');
    const block = encodeHeaderBlock([
      ['content-type', 'application/grpc'],
      ['grpc-status', '0'],
    ]);
    expect(block[0]).toBe(0x0f); // literal without indexing, name index 31 (content-type)
    expect(new HpackDecoder().decode(block).fields).toEqual([
      ['content-type', 'application/grpc'],
      ['grpc-status', '0'],
    ]);
    expect(huffmanDecode(hex('f1e3c2e5f23a6ba0ab90f4ff'), 0, 12)).toBe('www.example.com');
  });
});
