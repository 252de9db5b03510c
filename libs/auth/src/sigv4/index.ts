export type { SecretLookup, SigV4Identity, SigV4Options, SigV4Request } from './types.js';
export { verifySigV4 } from './verify.js';
