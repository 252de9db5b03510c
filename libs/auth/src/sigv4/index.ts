export type { ChunkSigning, SecretLookup, SigV4HeadRequest, SigV4HeadResult, SigV4Identity, SigV4Options, SigV4Request } from './types.js';
export { verifySigV4, verifySigV4BeforeBody } from './verify.js';
export { tryParseQuery, type QueryParam } from './query.js';
export { SigV4Error, type SigV4FailureReason } from './failure.js';
export { chunkStringToSign, trailerStringToSign } from './chunk.js';
export { sign as hmacSign } from './signing-key.js';
