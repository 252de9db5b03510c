/** The parts of an incoming HTTP request that SigV4 verification needs, exactly as received on the wire. */
export interface SigV4Request {
  /** 'GET', 'POST', ... */
  method: string;
  /** Raw request path as received, percent-encoded, WITHOUT query (e.g. '/v1/bucket/create'). */
  path: string;
  /** Raw query string as received, without '?', '' if none. */
  query: string;
  /** Node's IncomingMessage.headers (lowercase names). */
  headers: Record<string, string | string[] | undefined>;
  /** hex SHA-256 of the body when the body is already buffered (JSON routes); undefined when the body is streamed and not yet read. */
  bodySha256Hex?: string;
}

export interface SigV4Options {
  /** Service name every credential scope must carry, e.g. 'jcs'. */
  service: string;
  /** Default new Date(). */
  now?: Date;
  /** Default 15 min. */
  maxSkewMs?: number;
  /** Default 7 days (604800), the SigV4 maximum. */
  maxPresignSeconds?: number;
  /**
   * S3 rules: the canonical URI is the path encoded once (S3 is the one service that does not encode
   * twice), and the streaming payload forms (`STREAMING-*`) are accepted, the identity then carrying
   * what the chunk decoder needs to verify each chunk's signature.
   */
  s3?: boolean;
}

/** What a verifier of `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` chunks needs: the seed signature and its key. */
export interface ChunkSigning {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

export interface SigV4Identity {
  accessKeyId: string;
  region: string;
  presigned: boolean;
  /** 'UNSIGNED-PAYLOAD' or lowercase hex. When a hex hash was signed but the body was not buffered, the caller must verify the streamed body against it before committing anything. */
  payloadHash: string;
  /** true when payloadHash is a hex digest that was NOT yet checked against the body (streamed body). */
  payloadHashPending: boolean;
  /** S3 only, for a `STREAMING-*` payload. */
  chunkSigning?: ChunkSigning;
}

/** Resolves an access key to its secret; null = unknown or revoked key. */
export type SecretLookup = (accessKeyId: string) => Promise<string | null>;

/** A request whose body has not been read yet. */
export interface SigV4HeadRequest extends Omit<SigV4Request, 'bodySha256Hex'> {
  /** The request carries a body (Content-Length > 0 or Transfer-Encoding); false = the empty payload. */
  hasBody: boolean;
  /** The body may be buffered and hashed before the signature is decided (a bounded JSON body). */
  bufferable: boolean;
}

/** Either the request is verified from its head, or the signature covers the body's hash and needs it. */
export type SigV4HeadResult =
  | { identity: SigV4Identity; completeWithBody?: undefined }
  | { identity?: undefined; completeWithBody(bodySha256Hex: string): SigV4Identity };
