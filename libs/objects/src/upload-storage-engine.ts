import type multer from 'multer';

type File = Express.Multer.File & { result?: unknown };

/**
 * The multer StorageEngine of the upload routes: each file part goes to `handle` (which streams it into
 * the shard store) the moment multer accepts it, and `discard` undoes a handled part when the form
 * fails afterwards. What `handle` returns rides on multer's file object as `result`.
 */
export class FormPartEngine<R> implements multer.StorageEngine {
  constructor(
    private readonly handle: (file: Express.Multer.File) => Promise<R | undefined>,
    private readonly discard: (result: R) => Promise<void>,
  ) {}

  _handleFile(_req: unknown, file: Express.Multer.File, cb: (error?: unknown, info?: Partial<File>) => void): void {
    this.handle(file).then(
      (result) => cb(null, { result }),
      (e: unknown) => cb(e),
    );
  }

  _removeFile(_req: unknown, file: File, cb: (error: Error | null) => void): void {
    if (file.result === undefined) return cb(null);
    // Best effort: what is left behind is swept by the collector; a failed removal must not turn the
    // form's own error into another one.
    this.discard(file.result as R).then(
      () => cb(null),
      () => cb(null),
    );
  }
}
