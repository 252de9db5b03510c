import { createHash } from 'node:crypto';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Response } from 'express';
import { badArgument, decodeUtf8Strict, DomainError, operationFailed, parseStrictJson, unauthorized } from '#common';
import { APP_CONFIG, type AppConfig } from '#config';
import { requestHasBody, sendErrorEnvelope } from '../envelope/error-response.js';
import type { AuthedRequest } from '../auth/tenant.js';
import { parseContentType, type MediaType } from './content-type.js';
import { expectsContinue } from './http-server.js';

/** The routes whose body is a `multipart/form-data` upload (express matches paths case-insensitively). */
const FORM_ROUTES = new Set(['/v1/object/upload', '/v1/object/uploadpart']);

/** How many bodies of JCS_MAX_JSON_BODY bytes may be read at once before their signature is decided. */
const UNVERIFIED_BUDGET = 8;

// QuotaExceeded 413, as for an object over JCS_MAX_OBJECT_SIZE: the contract's code for "too large".
const tooLarge = (limit: number) => new DomainError('QuotaExceeded', `request body is larger than ${limit} bytes`, 413);

/**
 * The body step of the edge, after authentication: JSON routes take `application/json` in UTF-8
 * (no other charset), at most JCS_MAX_JSON_BODY bytes, checked against the signed payload hash before
 * it is decoded, then decoded strictly (invalid UTF-8, nesting deeper than 32, NUL or lone surrogates:
 * BadArgument) — all before validation pipes or class-transformer see it. `multipart/form-data`
 * passes unread to the upload routes (their pipeline checks the pending payload hash itself). Other
 * content types are BadArgument. Requests that were not authenticated (public routes) never have
 * their body read.
 */
@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  /**
   * Bytes reserved by bodies read before their signature could be decided (signed over their own hash,
   * see SigV4Middleware). Anyone who knows an access key ID (it is in every presigned URL) can start
   * such a read, so together they may hold at most UNVERIFIED_BUDGET bodies of the largest size.
   */
  private unverifiedBytes = 0;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  use(req: AuthedRequest, res: Response, next: NextFunction): void {
    if (!req.tenant && !req.completeSignature) return next();
    if (!requestHasBody(req)) return next();
    const fail = (e: unknown) => sendErrorEnvelope(req, res, e);
    try {
      const type = parseContentType(req.headers['content-type']);
      // Only an authenticated request learns anything about its body; a signature still waiting for
      // the body's hash is completed first (it always has a JSON content type, see SigV4Middleware).
      const authenticated = req.tenant !== undefined;
      if (authenticated && type?.type === 'multipart/form-data') {
        // Only the upload routes read forms (and check their pending payload hash themselves); on any
        // other route a form would go unread and its signed hash unchecked.
        if (FORM_ROUTES.has(req.path.toLowerCase().replace(/\/+$/, ''))) return next();
        throw badArgument('unsupported content type: multipart/form-data is for /v1/object/upload and /v1/object/uploadPart');
      }
      if (authenticated) assertJsonUtf8(type);
      const limit = this.config.JCS_MAX_JSON_BODY;
      const overLimit = () => (authenticated ? tooLarge(limit) : unverifiable(limit));
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limit) throw overLimit();
      const reserved = authenticated ? 0 : declared || limit;
      if (this.unverifiedBytes + reserved > UNVERIFIED_BUDGET * limit) {
        throw operationFailed('too many bodies awaiting signature verification; retry later, or sign x-amz-content-sha256', 503);
      }
      this.unverifiedBytes += reserved;
      if (!authenticated && expectsContinue(req)) res.writeContinue();
      const read = readBounded(req, limit, overLimit);
      read.finally(() => (this.unverifiedBytes -= reserved)).catch(() => undefined);
      read.then((bytes) => {
        try {
          req.body = this.accept(req, type, bytes);
          next();
        } catch (e) {
          fail(e);
        }
      }, fail);
    } catch (e) {
      fail(e);
    }
  }

  /** Signature first (a body that is not what was signed is 401 whatever it holds), then decoding. */
  private accept(req: AuthedRequest, type: MediaType | null, bytes: Buffer): unknown {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (req.completeSignature) {
      req.tenant = req.completeSignature(sha256);
      req.completeSignature = undefined;
      assertJsonUtf8(type);
    }
    const tenant = req.tenant!;
    if (tenant.pendingPayloadSha256 !== undefined) {
      if (tenant.pendingPayloadSha256 !== sha256) {
        throw unauthorized('payload hash mismatch: the body does not match the signed x-amz-content-sha256');
      }
      tenant.pendingPayloadSha256 = undefined;
    }
    if (bytes.length === 0) return {};
    const body = parseStrictJson(decodeUtf8Strict(bytes));
    checkBodyUserId(body, tenant.userId);
    return body;
  }
}

function assertJsonUtf8(type: MediaType | null): void {
  if (type?.type !== 'application/json') {
    throw badArgument('unsupported content type: JSON routes take application/json, uploads multipart/form-data');
  }
  const charset = type.params.get('charset')?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw badArgument(`unsupported charset "${charset.slice(0, 40)}": request bodies are UTF-8`);
  }
}

const unverifiable = (limit: number) =>
  unauthorized(`a body larger than ${limit} bytes cannot be checked against its signature; sign x-amz-content-sha256`);

/** Reads the whole body, refusing (413) as soon as it passes `limit`; a cut connection rejects. */
function readBounded(req: AuthedRequest, limit: number, overLimit: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(overLimit());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(badArgument(`request body could not be read (${e.message})`));
    };
    // 'close' before 'end': the client went away mid-body; nothing is left to answer.
    const onClose = () => {
      if (req.readableEnded) return;
      cleanup();
      reject(badArgument('request body ended early'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** spec §1: a body `userID` must be the caller's own (403 otherwise); the identity comes from the key. */
function checkBodyUserId(body: unknown, userId: number): void {
  if (body === null || typeof body !== 'object' || !('userID' in body)) return;
  const claimed = (body as { userID: unknown }).userID;
  if (claimed === undefined || claimed === null) return;
  if (typeof claimed !== 'number' || !Number.isSafeInteger(claimed)) throw badArgument('userID must be an integer');
  if (claimed !== userId) throw unauthorized(`userID ${claimed} is not the caller's`, 403);
}
