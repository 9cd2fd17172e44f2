// The template subset renderer that stands in for `helm template` (test/support/helm-subset.ts):
// it must treat the constructs the chart uses as Helm does, and refuse anything else.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeValues, renderChart } from '../support/helm-subset.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function chart(template: string, values = 'a: 1\n'): string {
  const dir = mkdtempSync('/tmp/nexcage-helm-subset-');
  dirs.push(dir);
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: t\nversion: 1.2.3\nappVersion: "4.5"\n');
  writeFileSync(join(dir, 'values.yaml'), values);
  writeFileSync(join(dir, 'values.schema.json'), '{}');
  writeFileSync(join(dir, 'templates', 'NOTES.txt'), template);
  return dir;
}
const render = (template: string, values?: string, over?: Record<string, unknown>): string =>
  renderChart(chart(template, values), over ? { values: [over] } : {}).files.get('NOTES.txt')!;

describe('helm template subset', () => {
  it('trims whitespace on the marked side of {{- and -}}', () => {
    expect(render('a\n  {{- "b" }}\nc {{ "d" -}}  \n e')).toBe('ab\nc de');
  });

  it('evaluates if/else, with, range over lists (with $i, $v) and maps (sorted keys)', () => {
    const values = 'on: true\nlist: [x, y]\nmap: {b: 2, a: 1}\nnested: {name: n}\n';
    expect(render('{{ if .Values.on }}yes{{ else }}no{{ end }}', values)).toBe('yes');
    expect(render('{{ if .Values.missing }}yes{{ else }}no{{ end }}', values)).toBe('no');
    expect(render('{{ range $i, $v := .Values.list }}{{ $i }}={{ $v }};{{ end }}', values)).toBe('0=x;1=y;');
    expect(render('{{ range $k, $v := .Values.map }}{{ $k }}{{ $v }}{{ end }}', values)).toBe('a1b2');
    expect(render('{{ with .Values.nested }}{{ .name }}-{{ $.Chart.Name }}{{ end }}', values)).toBe('n-t');
    expect(render('{{ range .Values.none }}x{{ else }}empty{{ end }}', values)).toBe('empty');
  });

  it('runs pipelines and the supported functions like Sprig', () => {
    expect(render('{{ .Values.a | quote }} {{ default "d" .Values.x }} {{ "abc-" | trimSuffix "-" }} {{ printf "%s-%v" "a" 2 | trunc 3 }}')).toBe('"1" d abc a-2');
    expect(render('{{ join "," .Values.l }}', 'l: [a, b]\n')).toBe('a,b');
    expect(render('x:{{ .Values.m | toYaml | nindent 2 }}', 'm: {k: v, l: [1]}\n')).toBe('x:\n  k: v\n  l:\n    - 1');
    expect(render('{{ define "n" }}[{{ .Chart.Version }}]{{ end }}{{ include "n" . }}')).toBe('[1.2.3]');
  });

  it('reads chart files raw with .Files.Get (template syntax inside them is not evaluated), empty when missing', () => {
    const dir = chart('{{ .Files.Get "files/d.json" | indent 2 }}|{{ .Files.Get "files/none" }}|');
    mkdirSync(join(dir, 'files'));
    writeFileSync(join(dir, 'files', 'd.json'), '{"legend": "{{method}}"}\n{"b": 1}');
    expect(renderChart(dir).files.get('NOTES.txt')).toBe('  {"legend": "{{method}}"}\n  {"b": 1}||');
    expect(() => render('{{ .Values.a "x" }}')).toThrow(/\.Values\.a is not a method/);
  });

  it('merges override values like helm: maps key by key, lists replaced, null deletes', () => {
    expect(mergeValues({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: 3 }, l: [9] })).toEqual({ a: { b: 1, c: 3 }, l: [9] });
    expect(mergeValues({ a: { b: 1 } }, { a: { b: null } })).toEqual({ a: {} });
  });

  it('refuses what is outside the subset instead of ignoring it', () => {
    expect(() => render('{{ lookup "v1" "Node" "" "" }}')).toThrow(/function "lookup" is outside the supported subset/);
    expect(() => render('{{ if .Values.a }}x{{ else if .Values.b }}y{{ end }}')).toThrow(/"else if" is outside/);
    expect(() => render('{{ template "x" . }}')).toThrow(/outside the supported subset/);
    expect(() => render('{{ .Values }}')).toThrow(/needs toYaml/);
    expect(() => render('{{ if .Values.a }}x')).toThrow(/missing {{ end }}/);
  });
});
