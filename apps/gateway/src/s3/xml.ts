import { XMLParser } from 'fast-xml-parser';
import { s3Error } from './errors.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
/** Text for an XML element; characters XML 1.0 cannot carry at all are written as character references S3-style. */
export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ESCAPES[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A tree of elements: a value that is an array repeats the element. */
export type XmlNode = string | number | boolean | null | undefined | XmlTree | XmlNode[];
export interface XmlTree {
  [name: string]: XmlNode;
}

function render(name: string, node: XmlNode, out: string[]): void {
  if (node === undefined) return;
  if (Array.isArray(node)) {
    for (const item of node) render(name, item, out);
    return;
  }
  if (node === null || node === '') {
    out.push(`<${name}></${name}>`);
    return;
  }
  if (typeof node === 'object') {
    out.push(`<${name}>`);
    for (const [k, v] of Object.entries(node)) render(k, v, out);
    out.push(`</${name}>`);
    return;
  }
  out.push(`<${name}>${escapeXml(String(node))}</${name}>`);
}

/** `<?xml ...?><Root xmlns="http://s3.amazonaws.com/doc/2006-03-01/">…</Root>` */
export function xmlDocument(root: string, body: XmlTree, namespace = true): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  out.push(namespace ? `<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` : `<${root}>`);
  for (const [k, v] of Object.entries(body)) render(k, v, out);
  out.push(`</${root}>`);
  return out.join('');
}

/**
 * A maintained parser with entity expansion off (no DOCTYPE entities, no billion laughs); the body it
 * parses is bounded by the caller. Values stay strings (a key `0001` is not the number 1).
 */
const parser = new XMLParser({
  processEntities: false,
  htmlEntities: false,
  ignoreAttributes: true,
  ignoreDeclaration: true,
  parseTagValue: false,
  trimValues: false,
  removeNSPrefix: true,
});

/** Parses a request body; anything that is not well-formed XML is MalformedXML. */
export function parseXml(body: string): Record<string, unknown> {
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) throw s3Error('MalformedXML', 'DOCTYPE and ENTITY declarations are not accepted');
  try {
    const parsed = parser.parse(body, true) as unknown;
    if (!parsed || typeof parsed !== 'object') throw new Error('empty');
    return parsed as Record<string, unknown>;
  } catch {
    throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  }
}

/** Decodes the five predefined entities and character references (processEntities is off). */
export function xmlText(v: unknown): string {
  if (typeof v !== 'string') return v === undefined || v === null ? '' : String(v);
  return v.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (m, e: string) => {
    const l = e.toLowerCase();
    if (l === 'amp') return '&';
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'quot') return '"';
    if (l === 'apos') return "'";
    const cp = l.startsWith('#x') ? parseInt(l.slice(2), 16) : parseInt(l.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}
