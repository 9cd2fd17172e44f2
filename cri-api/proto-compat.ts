// Compares two .proto files on the wire: packages, services, RPCs (with streaming flags),
// messages, fields (name, number, type, label, oneof membership), enums and their values.
// Comments, options and layout do not matter; anything the wire sees does.
import protobuf from 'protobufjs';

export function wireShape(file: string): Map<string, string> {
  const root = new protobuf.Root();
  root.loadSync(file, { keepCase: true, alternateCommentMode: false });
  root.resolveAll();
  const shape = new Map<string, string>();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      const name = obj.fullName.replace(/^\./, '');
      if (obj instanceof protobuf.Type) {
        shape.set(`message ${name}`, 'message');
        for (const f of obj.fieldsArray) {
          const label = f.map ? `map<${(f as unknown as protobuf.MapField).keyType}>` : f.repeated ? 'repeated' : f.optional && f.options?.proto3_optional ? 'optional' : 'singular';
          shape.set(`field ${name}.${f.name}`, `#${f.id} ${label} ${f.type} oneof=${f.partOf?.name ?? '-'}`);
        }
        for (const o of obj.oneofsArray) shape.set(`oneof ${name}.${o.name}`, o.fieldsArray.map((f) => f.name).sort().join(','));
        for (const r of obj.reserved ?? []) shape.set(`reserved ${name}.${JSON.stringify(r)}`, 'reserved');
      } else if (obj instanceof protobuf.Enum) {
        for (const [k, v] of Object.entries(obj.values)) shape.set(`enum ${name}.${k}`, String(v));
      } else if (obj instanceof protobuf.Service) {
        for (const m of obj.methodsArray) {
          shape.set(
            `rpc ${name}.${m.name}`,
            `${m.requestStream ? 'stream ' : ''}${bare(m.resolvedRequestType?.fullName)} -> ${m.responseStream ? 'stream ' : ''}${bare(m.resolvedResponseType?.fullName)}`,
          );
        }
      }
      if (obj instanceof protobuf.Namespace) visit(obj);
    }
  };
  visit(root);
  return shape;
}

const bare = (n: string | undefined): string => (n ?? '?').replace(/^\./, '');

/** Every difference between two wire shapes, one line each; empty when identical. */
export function wireDifferences(ours: Map<string, string>, theirs: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of theirs) {
    if (!ours.has(k)) out.push(`missing in ours: ${k} (${v})`);
    else if (ours.get(k) !== v) out.push(`differs: ${k}: ours ${ours.get(k)}, upstream ${v}`);
  }
  for (const [k, v] of ours) if (!theirs.has(k)) out.push(`only in ours: ${k} (${v})`);
  return out;
}
