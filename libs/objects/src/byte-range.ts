import { DomainError, badArgument } from '#common';

/** An inclusive byte span [start, end] of an object; `end < start` means empty. */
export interface Span {
  start: number;
  end: number;
}

/** `offset`/`length` of the download routes: offset defaults to 0, length absent = to the end. */
export function spanFromOffsetLength(size: number, offset = 0, length?: number): Span {
  if (offset > size) throw badArgument(`offset ${offset} is past the end of the object (${size} bytes)`);
  const len = length ?? size - offset;
  if (offset + len > size) throw badArgument(`offset ${offset} + length ${len} is past the end of the object (${size} bytes)`);
  return { start: offset, end: offset + len - 1 };
}

/**
 * An HTTP `Range` header applied to the span selected so far (RFC 9110: `bytes=a-b`, `a-`, `-n`).
 * Returns null when the header should be ignored (absent, another unit, several ranges); an
 * unsatisfiable range is a 416 BadArgument.
 */
export function spanFromRangeHeader(header: string | undefined, size: number): Span | null {
  if (!header) return null;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m) return null;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) throw unsatisfiable(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return null; // syntactically invalid: ignore, as RFC 9110 says
  }
  if (start >= size) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): DomainError {
  const e = new DomainError('BadArgument', `range not satisfiable: the object has ${size} bytes`, 416);
  return e;
}

/**
 * Which parts of which segments a span covers, for objects stored as consecutive segments
 * (multipart uploads). Returns per segment the inclusive range inside it.
 */
export function spanToSegments(span: Span, segmentSizes: number[]): Array<{ segment: number; start: number; end: number }> {
  const out: Array<{ segment: number; start: number; end: number }> = [];
  if (span.end < span.start) return out;
  let base = 0;
  for (let i = 0; i < segmentSizes.length; i++) {
    const size = segmentSizes[i]!;
    const segEnd = base + size - 1;
    if (size > 0 && segEnd >= span.start && base <= span.end) {
      out.push({ segment: i, start: Math.max(span.start, base) - base, end: Math.min(span.end, segEnd) - base });
    }
    base += size;
    if (base > span.end) break;
  }
  return out;
}
