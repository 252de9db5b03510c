import busboy from 'busboy';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { badArgument, unauthorized } from '#common';

export interface UploadRequest {
  headers: IncomingHttpHeaders;
  body: Readable;
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
  /** Parses and checks the `info` JSON; runs before any file part is read. */
  onInfo(json: string): Promise<I>;
  /** Consumes one file part completely (or throws). Parts are handled one at a time, in order. */
  onFile(info: I, part: FilePart): Promise<R>;
}

const MAX_INFO_BYTES = 64 * 1024;

/**
 * Reads a `multipart/form-data` upload (spec §5): an `info` part first, then file parts, streamed one
 * by one with backpressure (nothing is buffered beyond busboy's window). Any failure stops the
 * processing; the rest of the body is drained so the client still reads the error response.
 */
export function readUploadForm<I, R>(req: UploadRequest, h: FormHandlers<I, R>): Promise<{ info: I; results: R[] }> {
  return new Promise((resolve, reject) => {
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(contentType)) {
      reject(badArgument('the request must be multipart/form-data'));
      req.body.resume();
      return;
    }
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        preservePath: true, // object paths may be sent unencoded, with '/'
        defParamCharset: 'utf8',
        fileHwm: 1 << 20,
        limits: { files: h.maxFiles, fields: 16, fieldSize: MAX_INFO_BYTES, parts: h.maxFiles + 16, headerPairs: 64 },
      });
    } catch (e) {
      reject(badArgument(`malformed multipart request: ${(e as Error).message}`));
      req.body.resume();
      return;
    }

    const bodyHash = req.pendingPayloadSha256 ? createHash('sha256') : undefined;
    if (bodyHash) req.body.on('data', (c: Buffer) => bodyHash.update(c));

    let failure: unknown;
    let info: Promise<I> | undefined;
    let sawFile = false;
    let chain: Promise<unknown> = Promise.resolve();
    const results: R[] = [];
    const fail = (e: unknown) => {
      failure ??= e;
    };

    const startInfo = (json: string) => {
      if (info) return fail(badArgument('only one info part is allowed'));
      if (sawFile) return fail(badArgument('the info part must come before the files'));
      info = h.onInfo(json);
      info.catch(fail);
    };

    bb.on('field', (name, value, meta) => {
      if (failure) return;
      if (meta.valueTruncated) return fail(badArgument(`form field ${name} is larger than ${MAX_INFO_BYTES} bytes`));
      if (name === 'info') startInfo(value);
    });

    bb.on('file', (name, stream, meta) => {
      if (failure) return void stream.resume();
      if (name === 'info') {
        // Some clients send the info JSON as a file part; read it (bounded) like a field.
        const chunks: Buffer[] = [];
        let size = 0;
        stream.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_INFO_BYTES) chunks.push(c);
        });
        stream.on('end', () => (size > MAX_INFO_BYTES ? fail(badArgument('info part is too large')) : startInfo(Buffer.concat(chunks).toString('utf8'))));
        return;
      }
      sawFile = true;
      if (!info) {
        fail(badArgument('the first part of the form must be info'));
        return void stream.resume();
      }
      const current = info;
      chain = chain.then(async () => {
        if (failure) return void stream.resume();
        try {
          const parsed = await current;
          results.push(await h.onFile(parsed, { field: name, filename: meta.filename ?? '', stream }));
        } catch (e) {
          fail(e);
          stream.resume();
        }
      });
    });

    bb.on('filesLimit', () => fail(badArgument(`at most ${h.maxFiles} files per request`)));
    bb.on('partsLimit', () => fail(badArgument('too many parts in the form')));
    bb.on('fieldsLimit', () => fail(badArgument('too many fields in the form')));

    let settled = false;
    const finish = (e?: unknown) => {
      if (settled) return;
      settled = true;
      if (e) fail(e);
      chain.then(async () => {
        const parsedInfo = info ? await info.catch((x) => (fail(x), undefined)) : undefined;
        if (!failure && parsedInfo === undefined) fail(badArgument('the form has no info part'));
        if (!failure && bodyHash && bodyHash.digest('hex') !== req.pendingPayloadSha256)
          fail(unauthorized('payload hash mismatch: the body does not match x-amz-content-sha256'));
        if (failure) reject(failure);
        else resolve({ info: parsedInfo as I, results });
      });
    };

    bb.on('close', () => finish());
    bb.on('error', (e: Error) => {
      finish(badArgument(`malformed multipart body: ${e.message}`));
      req.body.unpipe(bb);
      req.body.resume();
    });
    // A client that goes away mid-upload: destroying busboy fails the file part being read, which makes
    // the shard write clean its temp file; nothing is committed.
    const gone = (why: string) => {
      const err = badArgument(why);
      finish(err);
      bb.destroy(err);
    };
    req.body.on('aborted', () => gone('the client closed the connection before the upload ended'));
    req.body.on('error', (e: Error) => gone(`upload interrupted: ${e.message}`));
    req.body.on('close', () => {
      if ((req.body as { complete?: boolean }).complete === false) gone('the client closed the connection before the upload ended');
    });
    req.body.pipe(bb);
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
