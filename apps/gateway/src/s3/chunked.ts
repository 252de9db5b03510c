import { createHash, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { chunkStringToSign, hmacSign, trailerStringToSign, type ChunkSigning } from '#auth';
import { s3Error } from './errors.js';

/** Longest chunk header or trailer line accepted (a signature line is ~100 bytes). */
const MAX_LINE = 4096;
/** A signed chunk is held until its signature is checked: this bounds that memory per request. */
export const MAX_SIGNED_CHUNK = 16 * 1024 * 1024;

type State = 'header' | 'data' | 'dataEnd' | 'trailer' | 'done';

/**
 * Decodes `Content-Encoding: aws-chunked` bodies (`<hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n`
 * ... a zero-size chunk, then optional trailer lines and an empty line). With `signing` (the
 * STREAMING-AWS4-HMAC-SHA256-* forms) each chunk's signature, chained from the seed signature, is
 * checked before its bytes are passed on, and so is the trailer's; a wrong one fails the stream with
 * SignatureDoesNotMatch (nothing is committed). Trailer values are handed to `onTrailer`.
 */
export class AwsChunkedDecoder extends Transform {
  private state: State = 'header';
  private line = Buffer.alloc(0);
  private remaining = 0;
  private chunkSignature = '';
  private held: Buffer[] = [];
  private hash = createHash('sha256');
  private previous: string;
  private readonly trailers: string[] = [];
  decodedLength = 0;

  constructor(
    private readonly signing: ChunkSigning | undefined,
    private readonly withTrailer: boolean,
    private readonly onTrailer: (name: string, value: string) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.previous = signing?.seedSignature ?? '';
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      let i = 0;
      while (i < chunk.length) {
        if (this.state === 'data') {
          const n = Math.min(this.remaining, chunk.length - i);
          const piece = chunk.subarray(i, i + n);
          i += n;
          this.remaining -= n;
          this.decodedLength += n;
          if (this.signing) {
            this.hash.update(piece);
            this.held.push(piece);
          } else this.push(piece);
          if (this.remaining === 0) {
            if (this.signing) this.verifyChunk();
            this.state = 'dataEnd';
          }
          continue;
        }
        if (this.state === 'done') throw s3Error('IncompleteBody', 'bytes after the end of the aws-chunked body');
        // A line (header, data terminator or trailer): accumulate up to \n.
        const nl = chunk.indexOf(0x0a, i);
        const end = nl < 0 ? chunk.length : nl + 1;
        this.line = Buffer.concat([this.line, chunk.subarray(i, end)]);
        i = end;
        if (this.line.length > MAX_LINE) throw malformed();
        if (nl < 0) continue;
        const text = this.line.toString('latin1');
        this.line = Buffer.alloc(0);
        if (!text.endsWith('\r\n')) throw malformed();
        this.onLine(text.slice(0, -2));
      }
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  private onLine(text: string): void {
    switch (this.state) {
      case 'dataEnd':
        if (text !== '') throw malformed();
        this.state = 'header';
        return;
      case 'header': {
        const m = /^([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(text);
        if (!m) throw malformed();
        if (this.signing && m[2] === undefined) throw s3Error('SignatureDoesNotMatch', 'a chunk of a signed streaming body lacks its signature');
        const size = parseInt(m[1]!, 16);
        if (this.signing && size > MAX_SIGNED_CHUNK) throw s3Error('InvalidArgument', `signed chunks are limited to ${MAX_SIGNED_CHUNK} bytes`);
        this.chunkSignature = m[2] ?? '';
        this.remaining = size;
        if (size === 0) {
          if (this.signing) this.verifyChunk();
          this.state = this.withTrailer ? 'trailer' : 'dataEnd';
          if (!this.withTrailer) this.state = 'trailer'; // an empty line ends the body either way
          return;
        }
        this.state = 'data';
        return;
      }
      case 'trailer': {
        if (text === '') {
          this.state = 'done';
          return;
        }
        const colon = text.indexOf(':');
        if (colon <= 0) throw malformed();
        const name = text.slice(0, colon).trim().toLowerCase();
        const value = text.slice(colon + 1).trim();
        if (name === 'x-amz-trailer-signature') {
          if (this.signing) {
            const payload = this.trailers.join('');
            const expected = hmacSign(this.signing.signingKey, trailerStringToSign(this.signing.amzDate, this.signing.scope, this.previous, payload));
            if (!sameHex(expected, value)) throw s3Error('SignatureDoesNotMatch', 'the trailer signature does not match');
          }
          return;
        }
        this.trailers.push(`${name}:${value}\n`);
        this.onTrailer(name, value);
        return;
      }
      default:
        throw malformed();
    }
  }

  private verifyChunk(): void {
    const s = this.signing!;
    const digest = this.hash.digest('hex');
    const expected = hmacSign(s.signingKey, chunkStringToSign(s.amzDate, s.scope, this.previous, digest));
    if (!sameHex(expected, this.chunkSignature)) {
      this.held = [];
      throw s3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided (chunk).');
    }
    this.previous = this.chunkSignature;
    for (const b of this.held) this.push(b);
    this.held = [];
    this.hash = createHash('sha256');
  }

  override _flush(cb: TransformCallback): void {
    if (this.state !== 'done' && !(this.state === 'trailer' && !this.withTrailer)) {
      cb(s3Error('IncompleteBody', 'the aws-chunked body ended early'));
      return;
    }
    cb();
  }
}

const malformed = () => s3Error('InvalidRequest', 'malformed aws-chunked body');

function sameHex(expected: Buffer, given: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(given)) return false;
  const g = Buffer.from(given, 'hex');
  return g.length === expected.length && timingSafeEqual(g, expected);
}
