import type busboy from 'busboy';
import multer from 'multer';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { DomainError, badArgument, decodeUtf8Strict, parseStrictJson, unauthorized } from '#common';
import { FormPartEngine } from './upload-storage-engine.js';

export interface UploadRequest {
  /** The HTTP request, its body not read yet (multer reads it). */
  request: IncomingMessage;
  /** Hex SHA-256 the client signed for the body; checked once the whole body has been read. */
  pendingPayloadSha256?: string;
}

export interface FilePart {
  field: string;
  /** The part's filename as sent (URL-encoded object path in this API). */
  filename: string;
  stream: Readable;
}

export interface FormHandlers<I, R> {
  maxFiles: number;
  /** Checks the `info` JSON object (already parsed strictly); runs before any file part is read. */
  onInfo(info: Record<string, unknown>): Promise<I>;
  /**
   * Consumes one file part (or throws). Called in part order, each as soon as its part begins and the
   * info is ready; the next part's bytes flow once this one's stream has been read.
   */
  onFile(info: I, part: FilePart): Promise<R>;
  /** Undoes a handled file (e.g. removes its staged temp file) when the form fails after it. */
  onDiscard?(result: R): Promise<void>;
}

export const MAX_INFO_BYTES = 64 * 1024;

/** Options multer 2 takes that @types/multer does not describe yet. */
type MulterOptions = multer.Options & {
  fileHwm?: number;
  streamHandler?: (req: IncomingMessage, bb: busboy.Busboy) => void;
};

/**
 * Reads a `multipart/form-data` upload (spec §5) with multer: `info` first (a field, or a file part
 * read bounded like one), then file parts, each streamed into `onFile` with backpressure (nothing is
 * buffered beyond busboy's window). multer listens to every part stream from the moment busboy emits
 * it, so a form that ends early is an error of this request, never of the process. Any failure ends
 * in a contract error (malformed forms and multer limits: BadArgument; payload hash: Unauthorized)
 * after the rest of the body was drained, so the client still reads the answer.
 */
export async function readUploadForm<I, R>(up: UploadRequest, h: FormHandlers<I, R>): Promise<{ info: I; results: R[] }> {
  const req = up.request;
  if (!/^multipart\/form-data\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
    req.resume();
    throw badArgument('the request must be multipart/form-data');
  }
  const form = new FormReading(h);
  const bodyHash = up.pendingPayloadSha256 ? createHash('sha256') : undefined;
  const options: MulterOptions = {
    storage: new FormPartEngine<R>(
      (file) => form.handleFile(req, file),
      (result) => h.onDiscard?.(result) ?? Promise.resolve(),
    ),
    preservePath: true, // object paths may be sent unencoded, with '/'
    defParamCharset: 'utf8',
    fileHwm: 1 << 20,
    limits: {
      // One more file than allowed (an info sent as a file part counts here): the exact bound is
      // FormReading's, with the contract's message.
      files: h.maxFiles + 1,
      fields: 16,
      fieldSize: MAX_INFO_BYTES,
      fieldNameSize: 100,
      fieldNestingDepth: 2,
      parts: h.maxFiles + 16,
      headerPairs: 64,
    },
    streamHandler: (r, bb) => {
      form.watch(bb);
      // Every body byte, as it flows to busboy (pipe's backpressure pauses both).
      if (bodyHash) r.on('data', (c: Buffer) => bodyHash.update(c));
      r.pipe(bb);
    },
  };
  // multer is an Express middleware; it reads `req` (headers and body) only and never touches `res`.
  const middleware = multer(options).any();
  const failure = await new Promise<unknown>((resolve) => middleware(req as never, {} as never, (e?: unknown) => resolve(e)));
  form.stop(); // a part handler still waiting for the info must not start work now
  // A body that is not what was signed is Unauthorized whatever else is wrong with it (spec §2): once
  // the rest of it has been drained, its hash decides between 401 and the form's own error.
  let bodyHex: string | undefined;
  const mismatch = async () => bodyHash !== undefined && (await bodyEnded(req)) && (bodyHex ??= bodyHash.digest('hex')) !== up.pendingPayloadSha256;
  const payloadMismatch = () => unauthorized('payload hash mismatch: the body does not match x-amz-content-sha256');
  if (failure !== undefined && failure !== null) {
    // busboy refused the headers before reading anything (no boundary…): the body is still unread.
    if (!req.readableEnded) req.resume();
    const err = formError(failure, h.maxFiles, form);
    throw (await mismatch()) ? payloadMismatch() : err;
  }
  try {
    const done = await form.finish(req);
    if (await mismatch()) throw payloadMismatch();
    return done;
  } catch (e) {
    await form.discardAll();
    if (!(e instanceof DomainError && e.code === 'Unauthorized') && (await mismatch())) throw payloadMismatch();
    throw e;
  }
}

/** Resolves true once the request body has been read to its end, false if the connection closed first. */
function bodyEnded(req: IncomingMessage): Promise<boolean> {
  if (req.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    req.once('end', () => resolve(true));
    req.once('close', () => resolve(req.readableEnded));
    req.resume();
  });
}

/**
 * multer's, busboy's and the request's errors → BadArgument with a message a client can act on. Any
 * other error is the gateway's own (storage, database) and goes on as it is (the envelope's 500).
 */
function formError(e: unknown, maxFiles: number, form: FormReading<unknown, unknown>): unknown {
  if (e instanceof DomainError) return e;
  if (e instanceof multer.MulterError) {
    switch (e.code) {
      case 'LIMIT_FILE_COUNT':
        return badArgument(`at most ${maxFiles} files per request`);
      case 'LIMIT_FIELD_VALUE':
        return badArgument(`form field ${e.field ?? ''} is larger than ${MAX_INFO_BYTES} bytes`);
      case 'LIMIT_PART_COUNT':
        return badArgument('too many parts in the form');
      case 'LIMIT_FIELD_COUNT':
        return badArgument('too many fields in the form');
      default:
        return badArgument(`malformed multipart form: ${e.message}${e.field ? ` (${e.field})` : ''}`);
    }
  }
  const message = e instanceof Error ? e.message : String(e);
  // multer's own errors for a request that failed or closed before its end
  if (/^Request (aborted|closed|error)$/.test(message)) return badArgument('the client closed the connection before the upload ended');
  if (!form.parsing) return badArgument(`malformed multipart request: ${message}`); // busboy refused the headers
  if (form.isParserError(e)) return badArgument(`malformed multipart body: ${message}`);
  return e;
}

/**
 * The part rules of one form, as multer hands over its parts: one `info`, before every file; at most
 * `maxFiles` files; results in part order. Fields are in `req.body` (multer appends them as they
 * arrive, before the next part is emitted), so a file part sees exactly the fields that came before it.
 */
class FormReading<I, R> {
  private info?: Promise<I>;
  /** The `req.body.info` value already taken as the info (a later, different value is a second info). */
  private infoField?: unknown;
  private files = 0;
  /** Settles when the latest file part's onFile has returned (or failed). */
  private turn: Promise<void> = Promise.resolve();
  private stopped = false;
  /** A rule broken where multer cannot see it (a part it drops silently); reported when the form ends. */
  private failure?: unknown;
  private readonly results: R[] = [];
  /** Errors busboy failed with: the body is not a well-formed form. */
  private readonly parserErrors = new WeakSet<object>();
  /** Whether busboy accepted the headers and reads the body. */
  parsing = false;

  constructor(private readonly h: FormHandlers<I, R>) {}

  /** Parts multer drops without a word (no filename) break the contract here. Listens after multer. */
  watch(bb: busboy.Busboy): void {
    this.parsing = true;
    bb.on('error', (e: Error) => this.parserErrors.add(e));
    bb.on('file', (name, stream, meta) => {
      if (meta.filename) return; // multer hands it to the engine
      try {
        // An info part sent as a file without a filename: still the info.
        if (name === 'info') this.startInfo(() => readBounded(stream));
        else throw badArgument('a file part has no filename (the object path)');
      } catch (e) {
        this.failure ??= e;
        this.stopped = true;
      }
    });
  }

  /** The engine's `_handleFile`: runs synchronously up to its first await, in part order. */
  async handleFile(req: IncomingMessage, file: Express.Multer.File): Promise<R | undefined> {
    const stream = file.stream;
    try {
      if (this.failure) throw this.failure;
      this.takeInfoField(req);
      if (file.fieldname === 'info') {
        this.startInfo(() => readBounded(stream));
        await this.info;
        return undefined;
      }
      const index = this.files++;
      if (this.files > this.h.maxFiles) throw badArgument(`at most ${this.h.maxFiles} files per request`);
      if (!this.info) throw badArgument('the first part of the form must be info');
      // Parts take turns: onFile k+1 starts when onFile k has returned (its stream is read by then).
      const previous = this.turn;
      let release!: () => void;
      this.turn = new Promise<void>((r) => (release = r));
      try {
        const info = await this.info;
        await previous;
        if (this.stopped) throw badArgument('the upload was abandoned');
        const result = await this.h.onFile(info, { field: file.fieldname, filename: file.originalname, stream });
        this.results[index] = result;
        return result;
      } finally {
        release();
      }
    } catch (e) {
      this.stopped = true;
      if (!stream.destroyed) stream.resume(); // let the parser go on to the end of the body
      throw e;
    }
  }

  isParserError(e: unknown): boolean {
    return e !== null && typeof e === 'object' && this.parserErrors.has(e);
  }

  stop(): void {
    this.stopped = true;
  }

  /** After multer has read the whole form without error. */
  async finish(req: IncomingMessage): Promise<{ info: I; results: R[] }> {
    if (this.failure) throw this.failure;
    this.takeInfoField(req); // a form with no file, or an info field after the files
    if (!this.info) throw badArgument('the form has no info part');
    return { info: await this.info, results: this.results };
  }

  async discardAll(): Promise<void> {
    const discard = this.h.onDiscard;
    if (discard) await Promise.all(this.results.map((r) => discard(r).catch(() => undefined)));
  }

  private takeInfoField(req: IncomingMessage): void {
    const value = (req as IncomingMessage & { body?: Record<string, unknown> }).body?.info;
    if (value === undefined || value === this.infoField) return;
    if (typeof value !== 'string') throw badArgument('only one info part is allowed, a JSON text');
    this.infoField = value;
    this.startInfo(async () => value);
  }

  /** `text` is only called once the part is known to be the info (so no promise is left unobserved). */
  private startInfo(text: () => Promise<string>): void {
    if (this.info) throw badArgument('only one info part is allowed');
    if (this.files > 0) throw badArgument('the info part must come before the files');
    this.info = text().then((t) => this.h.onInfo(parseInfo(t)));
    this.info.catch(() => undefined); // awaited by the parts and by finish(); never an unhandled rejection
  }
}

function parseInfo(text: string): Record<string, unknown> {
  const v = parseStrictJson(text, 'info');
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badArgument('info must be a JSON object');
  return v as Record<string, unknown>;
}

/** An info sent as a file part: read like a field, at most MAX_INFO_BYTES, strict UTF-8. */
function readBounded(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_INFO_BYTES) chunks.push(c);
    });
    stream.once('error', reject);
    // Destroyed without an error (the request torn down): no 'end' will come. A no-op after 'end'.
    stream.once('close', () => reject(badArgument('the info part was cut short')));
    stream.once('end', () => {
      if (size > MAX_INFO_BYTES) reject(badArgument(`the info part is larger than ${MAX_INFO_BYTES} bytes`));
      else {
        try {
          resolve(decodeUtf8Strict(Buffer.concat(chunks), 'info'));
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}

/**
 * Object path from a part's filename: URL-decoded (`a%2Fb%2Ftest2.txt` → `a/b/test2.txt`), with
 * backslashes turned into `/` (spec §5). Validation of the resulting path is the caller's.
 */
export function pathFromFilename(filename: string): string {
  if (!filename) throw badArgument('a file part has no filename (the object path)');
  let decoded: string;
  try {
    decoded = decodeURIComponent(filename);
  } catch {
    throw badArgument(`filename ${JSON.stringify(filename)} is not valid URL encoding`);
  }
  return decoded.replace(/\\/g, '/');
}
