export type { SecretLookup, SigV4HeadRequest, SigV4HeadResult, SigV4Identity, SigV4Options, SigV4Request } from './types.js';
export { verifySigV4, verifySigV4BeforeBody } from './verify.js';
export { tryParseQuery, type QueryParam } from './query.js';
