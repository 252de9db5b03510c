import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Tenant } from './gateway.js';
import { multipartBody, type FormPart } from './multipart.js';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const fullHashOf = (b: Buffer) => 'Full' + sha256(b).toUpperCase();

/** Uploads files (path → bytes) into a package through `/v1/object/upload`. */
export async function uploadFiles(
  t: Tenant,
  packageID: number,
  files: Array<[string, Buffer | Readable | (() => Readable)]>,
  extraInfo: Record<string, unknown> = {},
) {
  const parts: FormPart[] = [
    { name: 'info', value: JSON.stringify({ packageID, ...extraInfo }) },
    ...files.map(([path, data]) => ({ name: 'files', filename: encodeURIComponent(path), data })),
  ];
  return uploadForm(t, '/v1/object/upload', parts);
}

export async function uploadForm(t: Tenant, path: string, parts: FormPart[]) {
  const { body, contentType } = multipartBody(parts);
  return t.client.json({ method: 'POST', path, body, headers: { 'content-type': contentType } });
}

/** SHA-256 (hex) and length of a streamed body (a fetch body or a Node stream), read chunk by chunk. */
export async function hashStream(body: AsyncIterable<unknown> | ReadableStream | null): Promise<{ hex: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  const source = body instanceof ReadableStream ? Readable.fromWeb(body as never) : (body as AsyncIterable<unknown>);
  for await (const c of source) {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { hex: h.digest('hex'), bytes };
}

export async function download(t: Tenant, query: Record<string, string | number>, headers: Record<string, string> = {}, route = 'download') {
  const res = await t.client.raw({ method: 'GET', path: `/v1/object/${route}`, query, headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
}

/** A bucket and a package for a test. */
export async function newPackage(t: Tenant, name = 'p' + Math.random().toString(36).slice(2)) {
  const b = (await t.client.post('/v1/bucket/create', { name })).body.data.bucket;
  const p = (await t.client.post('/v1/package/create', { bucketID: b.bucketID, name: 'pkg' })).body.data.package;
  return p.packageID as number;
}
