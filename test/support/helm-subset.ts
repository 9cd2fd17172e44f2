// A renderer for a small, documented subset of Helm's template language (Go text/template plus a
// few Sprig/Helm functions). It STANDS IN FOR `helm template`, because no helm binary can be
// installed here; the chart under deploy/helm/nexcage is written to stay inside this subset, and
// anything outside it (an unknown action or function) is an error, never silently ignored.
//
// Supported:
//   actions      {{ pipeline }}  {{- trims whitespace before   -}} trims after   {{/* comment */}}
//   control      if / else / end   range LIST|MAP (. is the element; or `range $v := X`,
//                `range $i, $v := X`)   with X / else / end   define "name" / end
//   variables    $ (the root)   $name := pipeline (in range/with headers and on their own)
//   operands     .A.B  .  $.A  $v.A  "string"  123  true false nil  ( pipeline )
//   methods      .Files.Get "path" (a file of the chart, as text)
//   pipelines    cmd | fn args...   (the piped value becomes the last argument)
//   functions    include toYaml toJson nindent indent quote default join printf trunc
//                trimSuffix not and or eq ne empty required list
// Values: values.yaml deep-merged with override files (maps merge, lists replace), checked
// against values.schema.json, then .Values .Release .Chart .Capabilities.KubeVersion.Version.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

type Value = unknown;
type Scope = { dot: Value; root: Value; vars: Map<string, Value> };

// ---- lexing: text and actions ------------------------------------------------------------
type Piece = { kind: 'text'; text: string } | { kind: 'action'; body: string; line: number };

function lex(src: string, file: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      out.push({ kind: 'text', text });
      break;
    }
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error(`${file}: unclosed {{ at line ${lineOf(src, open)}`);
    let body = src.slice(open + 2, close);
    if (body.startsWith('-') && /\s/.test(body[1] ?? '')) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    trimNext = false;
    if (body.endsWith('-') && /\s/.test(body[body.length - 2] ?? '')) {
      trimNext = true;
      body = body.slice(0, -1);
    }
    out.push({ kind: 'text', text });
    body = body.trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) out.push({ kind: 'action', body, line: lineOf(src, open) });
    i = close + 2;
  }
  return out;
}

function lineOf(src: string, at: number): number {
  return src.slice(0, at).split('\n').length;
}

// ---- expressions -----------------------------------------------------------------------
type Tok = { t: 'str' | 'num' | 'ident' | 'field' | 'var' | 'punct'; v: string };

function tokenize(s: string): Tok[] {
  const toks: Tok[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)|(\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(\.(?:[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?)|([A-Za-z_][A-Za-z0-9_]*)|(:=|[|(),]))/y;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    m = re.exec(s);
    if (!m || m[0].trim() === '') {
      if (s.slice(at).trim() === '') break;
      throw new Error(`cannot parse "${s.slice(at)}" (outside the supported subset)`);
    }
    at = re.lastIndex;
    if (m[1] !== undefined) toks.push({ t: 'str', v: JSON.parse(m[1]) as string });
    else if (m[2] !== undefined) toks.push({ t: 'num', v: m[2] });
    else if (m[3] !== undefined) toks.push({ t: 'var', v: m[3] });
    else if (m[4] !== undefined) toks.push({ t: 'field', v: m[4] });
    else if (m[5] !== undefined) toks.push({ t: 'ident', v: m[5] });
    else toks.push({ t: 'punct', v: m[6]! });
  }
  return toks;
}

type Expr =
  | { k: 'lit'; v: Value }
  | { k: 'field'; base: 'dot' | string; path: string[] }
  | { k: 'call'; fn: string; args: Expr[] }
  | { k: 'method'; target: Expr & { k: 'field' }; args: Expr[] }
  | { k: 'pipe'; cmds: Expr[] };

interface Pipeline {
  decl: string[];
  expr: Expr;
}

function parsePipeline(src: string): Pipeline {
  const toks = tokenize(src);
  let decl: string[] = [];
  const assign = toks.findIndex((t) => t.v === ':=');
  if (assign >= 0) {
    decl = toks
      .slice(0, assign)
      .filter((t) => t.t === 'var')
      .map((t) => t.v);
    toks.splice(0, assign + 1);
  }
  let pos = 0;
  const operand = (): Expr => {
    const t = toks[pos++];
    if (!t) throw new Error(`unexpected end of "${src}"`);
    if (t.t === 'str') return { k: 'lit', v: t.v };
    if (t.t === 'num') return { k: 'lit', v: Number(t.v) };
    if (t.t === 'field') return { k: 'field', base: 'dot', path: t.v.split('.').filter(Boolean) };
    if (t.t === 'var') {
      const [name, ...path] = t.v.split('.');
      return { k: 'field', base: name!, path };
    }
    if (t.t === 'ident' && ['true', 'false', 'nil'].includes(t.v)) return { k: 'lit', v: t.v === 'nil' ? null : t.v === 'true' };
    if (t.t === 'ident') return { k: 'call', fn: t.v, args: [] };
    if (t.v === '(') {
      const inner = pipe();
      if (toks[pos++]?.v !== ')') throw new Error(`missing ) in "${src}"`);
      return inner;
    }
    throw new Error(`unexpected "${t.v}" in "${src}"`);
  };
  const command = (): Expr => {
    const first = operand();
    const args: Expr[] = [];
    while (pos < toks.length && toks[pos]!.v !== '|' && toks[pos]!.v !== ')') args.push(operand());
    if (first.k === 'call') return { k: 'call', fn: first.fn, args };
    if (first.k === 'field' && args.length > 0) return { k: 'method', target: first, args };
    if (args.length > 0) throw new Error(`"${src}": only a function can take arguments`);
    return first;
  };
  const pipe = (): Expr => {
    const cmds = [command()];
    while (toks[pos]?.v === '|') {
      pos++;
      cmds.push(command());
    }
    return cmds.length === 1 ? cmds[0]! : { k: 'pipe', cmds };
  };
  const expr = pipe();
  if (pos !== toks.length) throw new Error(`unexpected "${toks[pos]!.v}" in "${src}"`);
  return { decl, expr };
}

// ---- template tree ---------------------------------------------------------------------
type Node =
  | { k: 'text'; text: string }
  | { k: 'out'; p: Pipeline; line: number }
  | { k: 'if'; p: Pipeline; then: Node[]; else: Node[] }
  | { k: 'with'; p: Pipeline; then: Node[]; else: Node[] }
  | { k: 'range'; p: Pipeline; body: Node[]; else: Node[] };

function parseTemplate(src: string, file: string, defines: Map<string, Node[]>): Node[] {
  const pieces = lex(src, file);
  let i = 0;
  const block = (stopAt: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (i < pieces.length) {
      const p = pieces[i++]!;
      if (p.kind === 'text') {
        if (p.text) nodes.push({ k: 'text', text: p.text });
        continue;
      }
      const [word = '', ...restWords] = p.body.split(/\s+/);
      const rest = restWords.join(' ');
      const where = `${file}:${p.line}`;
      try {
        if (word === 'end' || word === 'else') {
          if (!stopAt.includes(word)) throw new Error(`unexpected {{ ${word} }}`);
          if (word === 'else' && rest !== '') throw new Error('"else if" is outside the supported subset; nest an if');
          return { nodes, stop: word };
        }
        if (word === 'if' || word === 'with' || word === 'range') {
          const p2 = parsePipeline(rest);
          const first = block(['else', 'end']);
          const second = first.stop === 'else' ? block(['end']).nodes : [];
          if (word === 'range') nodes.push({ k: 'range', p: p2, body: first.nodes, else: second });
          else if (word === 'if') nodes.push({ k: 'if', p: p2, then: first.nodes, else: second });
          else nodes.push({ k: 'with', p: p2, then: first.nodes, else: second });
          continue;
        }
        if (word === 'define') {
          const name = JSON.parse(rest) as string;
          defines.set(name, block(['end']).nodes);
          continue;
        }
        if (['template', 'block', 'break', 'continue', 'tpl'].includes(word)) throw new Error(`{{ ${word} }} is outside the supported subset`);
        nodes.push({ k: 'out', p: parsePipeline(p.body), line: p.line });
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (stopAt.length > 0) throw new Error(`${file}: missing {{ end }}`);
    return { nodes, stop: '' };
  };
  return block([]).nodes;
}

// ---- evaluation ------------------------------------------------------------------------
function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

function get(base: Value, path: string[], what: string): Value {
  let v = base;
  for (const p of path) {
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'object') throw new Error(`${what}: cannot read .${p} of a ${typeof v}`);
    v = (v as Record<string, Value>)[p];
  }
  return v;
}

function toYaml(v: Value): string {
  if (v === null || v === undefined) return 'null';
  return stringifyYaml(v, { lineWidth: 0 }).replace(/\n$/, '');
}

function printable(v: Value): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') throw new Error('printing a map or list needs toYaml/toJson (Go would print map[...])');
  return String(v);
}

class Renderer {
  readonly defines = new Map<string, Node[]>();

  run(nodes: Node[], scope: Scope): string {
    let out = '';
    for (const n of nodes) {
      if (n.k === 'text') out += n.text;
      else if (n.k === 'out') {
        const v = this.evalPipeline(n.p, scope);
        if (n.p.decl.length === 0) out += printable(v);
      } else if (n.k === 'if') out += this.run(truthy(this.eval(n.p.expr, scope)) ? n.then : n.else, scope);
      else if (n.k === 'with') {
        const v = this.eval(n.p.expr, scope);
        const inner = { ...scope, vars: new Map(scope.vars) };
        if (n.p.decl[0]) inner.vars.set(n.p.decl[0], v);
        out += truthy(v) ? this.run(n.then, { ...inner, dot: v }) : this.run(n.else, scope);
      } else {
        const v = this.eval(n.p.expr, scope);
        const entries: [Value, Value][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === 'object'
            ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
            : [];
        if (entries.length === 0) out += this.run(n.else, scope);
        for (const [key, val] of entries) {
          const vars = new Map(scope.vars);
          if (n.p.decl.length === 1) vars.set(n.p.decl[0]!, val);
          if (n.p.decl.length === 2) {
            vars.set(n.p.decl[0]!, key);
            vars.set(n.p.decl[1]!, val);
          }
          out += this.run(n.body, { dot: val, root: scope.root, vars });
        }
      }
    }
    return out;
  }

  evalPipeline(p: Pipeline, scope: Scope): Value {
    const v = this.eval(p.expr, scope);
    if (p.decl.length === 1) scope.vars.set(p.decl[0]!, v);
    return v;
  }

  eval(e: Expr, scope: Scope, piped?: { v: Value }): Value {
    switch (e.k) {
      case 'lit':
        return e.v;
      case 'field': {
        if (e.base === 'dot') return get(scope.dot, e.path, `.${e.path.join('.')}`);
        if (e.base === '$') return get(scope.root, e.path, `$.${e.path.join('.')}`);
        if (!scope.vars.has(e.base)) throw new Error(`undefined variable ${e.base}`);
        return get(scope.vars.get(e.base), e.path, e.base);
      }
      case 'pipe': {
        let v: { v: Value } | undefined;
        for (const c of e.cmds) v = { v: this.eval(c, scope, v) };
        return v!.v;
      }
      case 'call': {
        const args = e.args.map((a) => this.eval(a, scope));
        if (piped) args.push(piped.v);
        return this.call(e.fn, args);
      }
      case 'method': {
        const fn = this.eval(e.target, scope);
        if (typeof fn !== 'function') throw new Error(`.${e.target.path.join('.')} is not a method`);
        const args = e.args.map((a) => this.eval(a, scope));
        if (piped) args.push(piped.v);
        return (fn as (...a: Value[]) => Value)(...args);
      }
    }
  }

  call(fn: string, a: Value[]): Value {
    const str = (v: Value): string => printable(v);
    switch (fn) {
      case 'include': {
        const body = this.defines.get(str(a[0]));
        if (!body) throw new Error(`include: no template named "${str(a[0])}"`);
        // As in Go templates, $ inside the named template is the value passed to it.
        return this.run(body, { dot: a[1], root: a[1], vars: new Map() });
      }
      case 'toYaml':
        return toYaml(a[0]);
      case 'toJson':
        return JSON.stringify(a[0] ?? null);
      case 'nindent':
        return '\n' + indent(Number(a[0]), str(a[1]));
      case 'indent':
        return indent(Number(a[0]), str(a[1]));
      case 'quote':
        return JSON.stringify(a[0] === null || a[0] === undefined ? '' : str(a[0]));
      case 'default':
        return truthy(a[1]) ? a[1] : a[0];
      case 'join':
        return ((a[1] as Value[] | null) ?? []).map(str).join(str(a[0]));
      case 'printf': {
        const rest = a.slice(1);
        return str(a[0]).replace(/%[sdv]/g, () => str(rest.shift()));
      }
      case 'trunc':
        return str(a[1]).slice(0, Number(a[0]));
      case 'trimSuffix': {
        const s = str(a[1]);
        return s.endsWith(str(a[0])) ? s.slice(0, s.length - str(a[0]).length) : s;
      }
      case 'not':
        return !truthy(a[0]);
      case 'and':
        return a.reduce((acc, v) => (truthy(acc) ? v : acc));
      case 'or':
        return a.find(truthy) ?? a[a.length - 1];
      case 'eq':
        return a.slice(1).some((v) => v === a[0]);
      case 'ne':
        return a[0] !== a[1];
      case 'empty':
        return !truthy(a[0]);
      case 'required':
        if (!truthy(a[1])) throw new Error(`required: ${str(a[0])}`);
        return a[1];
      case 'list':
        return a;
      default:
        throw new Error(`function "${fn}" is outside the supported subset`);
    }
  }
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return s
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

// ---- the chart -------------------------------------------------------------------------
type Obj = Record<string, Value>;

/** Helm's values merge: maps merge key by key, anything else (lists too) replaces. */
export function mergeValues(base: Value, over: Value): Value {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = v === null ? undefined : mergeValues(base[k], v);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

function isMap(v: Value): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface RenderedChart {
  /** templates/<file> -> rendered text (NOTES.txt included, helpers excluded). */
  files: Map<string, string>;
  /** Every Kubernetes object from the YAML files, in file order. */
  objects: Obj[];
  values: Obj;
}

export interface RenderOptions {
  releaseName?: string;
  namespace?: string;
  /** Override values, applied in order (like repeated `-f`). */
  values?: Obj[];
  kubeVersion?: string;
}

/** Validate values against the chart's values.schema.json (as helm does before rendering). */
export function validateValues(chartDir: string, values: Obj): void {
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  if (!validate(values)) {
    throw new Error(`values don't meet the specifications of the schema: ${ajv.errorsText(validate.errors, { dataVar: 'values' })}`);
  }
}

export function renderChart(chartDir: string, options: RenderOptions = {}): RenderedChart {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Obj;
  let values = (parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) ?? {}) as Obj;
  for (const v of options.values ?? []) values = mergeValues(values, v) as Obj;
  validateValues(chartDir, values);
  const root: Obj = {
    Values: values,
    Release: { Name: options.releaseName ?? 'nexcage', Namespace: options.namespace ?? 'kube-system', Service: 'Helm', IsInstall: true },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Capabilities: { KubeVersion: { Version: options.kubeVersion ?? 'v1.31.0' } },
    // Helm's .Files.Get: a chart file's text ('' when missing, as helm does).
    Files: {
      Get: (name: Value): string => {
        try {
          return readFileSync(join(chartDir, String(name)), 'utf8');
        } catch {
          return '';
        }
      },
    },
  };
  const r = new Renderer();
  const dir = join(chartDir, 'templates');
  const names = readdirSync(dir).sort();
  const parsed = new Map<string, Node[]>();
  for (const name of names) parsed.set(name, parseTemplate(readFileSync(join(dir, name), 'utf8'), `templates/${name}`, r.defines));
  const files = new Map<string, string>();
  const objects: Obj[] = [];
  for (const name of names) {
    if (name.startsWith('_')) continue;
    let text: string;
    try {
      text = r.run(parsed.get(name)!, { dot: root, root, vars: new Map() });
    } catch (err) {
      throw new Error(`templates/${name}: ${(err as Error).message}`, { cause: err });
    }
    files.set(name, text);
    if (!/\.ya?ml$/.test(name)) continue;
    for (const doc of text.split(/^---\s*$/m)) {
      if (doc.trim() === '') continue;
      let obj: unknown;
      try {
        obj = parseYaml(doc);
      } catch (err) {
        throw new Error(`templates/${name} renders invalid YAML: ${(err as Error).message}\n${doc}`, { cause: err });
      }
      if (obj !== null && obj !== undefined) objects.push(obj as Obj);
    }
  }
  return { files, objects, values };
}
