// The parts of esdk-obs-nodejs 3.26 (CommonJS, untyped: `module.exports = ObsClient`) that the OBS
// driver uses. Every method also returns a Promise when called without a callback; the driver uses
// the callback form so it can hold on to the underlying request (RequestHook) and abort it.
declare module 'esdk-obs-nodejs' {
  import type { Agent as HttpAgent, ClientRequest, IncomingMessage } from 'node:http';
  import type { Agent as HttpsAgent } from 'node:https';

  namespace ObsClient {
    interface CommonMsg {
      /** The HTTP status; the SDK does not fail on HTTP errors, callers must check `>= 300`. */
      Status: number;
      Code: string;
      Message: string;
      RequestId?: string;
      HostId?: string;
    }
    interface Result<T = Record<string, unknown>> {
      CommonMsg: CommonMsg;
      InterfaceResult: T | null;
    }
    type Callback<T = Record<string, unknown>> = (err: Error | null, result: Result<T>) => void;
    interface Options {
      access_key_id?: string;
      secret_access_key?: string;
      security_token?: string;
      /** `http(s)://host[:port]`; an IP host forces path-style addressing and V2 signatures. */
      server: string;
      /** Socket inactivity timeout in whole seconds (default 60). */
      timeout?: number;
      max_retry_count?: number;
      path_style?: boolean;
      signature?: 'obs' | 'v2' | 'v4';
      region?: string;
      http_agent?: HttpAgent;
      https_agent?: HttpsAgent;
      is_signature_negotiation?: boolean;
    }
    interface CallHooks {
      RequestHook?: (req: ClientRequest) => void;
      ResponseHook?: (res: IncomingMessage) => void;
    }
    type Params = Record<string, unknown> & CallHooks;
  }

  class ObsClient {
    constructor(options: ObsClient.Options);
    getObjectMetadata(params: ObsClient.Params, cb: ObsClient.Callback): void;
    getObject(params: ObsClient.Params, cb: ObsClient.Callback): void;
    putObject(params: ObsClient.Params, cb: ObsClient.Callback): void;
    copyObject(params: ObsClient.Params, cb: ObsClient.Callback): void;
    deleteObject(params: ObsClient.Params, cb: ObsClient.Callback): void;
    listObjects(params: ObsClient.Params, cb: ObsClient.Callback): void;
    initiateMultipartUpload(params: ObsClient.Params, cb: ObsClient.Callback): void;
    uploadPart(params: ObsClient.Params, cb: ObsClient.Callback): void;
    completeMultipartUpload(params: ObsClient.Params, cb: ObsClient.Callback): void;
    abortMultipartUpload(params: ObsClient.Params, cb: ObsClient.Callback): void;
    /** The generic entry point behind every method (`funcName` capitalised: 'CopyObject'), without its pre-processing. */
    exec(funcName: string, params: ObsClient.Params, cb: ObsClient.Callback): void;
    close(): void;
  }

  export = ObsClient;
}
