import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { verifySigV4, type SigV4Request } from './index.js';

/**
 * Vectors from the AWS SigV4 test suite (aws-sig-v4-test-suite, as shipped in the SDK's
 * suite.fixture.js): credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
 * region us-east-1, service 'service', x-amz-date 20150830T123600Z, host example.amazonaws.com.
 * Left out: cases whose request cannot arrive through Node as written (multi-line and repeated
 * raw headers) and dot-segment normalisation, which we refuse on purpose.
 */
interface Vector {
  name: string;
  method: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  signature: string;
  signedHeaders: string;
}

const VECTORS: Vector[] = [
  {"name":"get-header-key-duplicate","method":"GET","path":"/","headers":{"my-header1":"value2,value2,value1"},"signature":"c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea","signedHeaders":"host;my-header1;x-amz-date"},
  {"name":"get-header-value-trim","method":"GET","path":"/","headers":{"my-header1":"value1","my-header2":"\"a   b   c\""},"signature":"acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736","signedHeaders":"host;my-header1;my-header2;x-amz-date"},
  {"name":"get-unreserved","method":"GET","path":"/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz","signature":"07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f","signedHeaders":"host;x-amz-date"},
  {"name":"get-utf8","method":"GET","path":"/ሴ","signature":"8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85","signedHeaders":"host;x-amz-date"},
  {"name":"get-vanilla","method":"GET","path":"/","signature":"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31","signedHeaders":"host;x-amz-date"},
  {"name":"get-vanilla-query-order-key-case","method":"GET","path":"/","query":{"Param2":"value2","Param1":"value1"},"signature":"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500","signedHeaders":"host;x-amz-date"},
  {"name":"get-vanilla-query-unreserved","method":"GET","path":"/","query":{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},"signature":"9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197","signedHeaders":"host;x-amz-date"},
  {"name":"get-vanilla-utf8-query","method":"GET","path":"/","query":{"ሴ":"bar"},"signature":"2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04","signedHeaders":"host;x-amz-date"},
  {"name":"post-header-key-sort","method":"POST","path":"/","headers":{"my-header1":"value1"},"signature":"c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c","signedHeaders":"host;my-header1;x-amz-date"},
  {"name":"post-header-value-case","method":"POST","path":"/","headers":{"my-header1":"VALUE1"},"signature":"cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d","signedHeaders":"host;my-header1;x-amz-date"},
  {"name":"post-sts-header-before","method":"POST","path":"/","headers":{"x-amz-security-token":"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="},"signature":"85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead","signedHeaders":"host;x-amz-date;x-amz-security-token"},
  {"name":"post-vanilla","method":"POST","path":"/","signature":"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b","signedHeaders":"host;x-amz-date"},
  {"name":"post-vanilla-query","method":"POST","path":"/","query":{"Param1":"value1"},"signature":"28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11","signedHeaders":"host;x-amz-date"},
  {"name":"post-vanilla-query-nonunreserved","method":"POST","path":"/","query":{"@#$%^":"","+":"/,?><`\";:\\|][{}"},"signature":"66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e","signedHeaders":"host;x-amz-date"},
  {"name":"post-x-www-form-urlencoded","method":"POST","path":"/","headers":{"content-type":"application/x-www-form-urlencoded"},"body":"Param1=value1","signature":"ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a","signedHeaders":"content-type;host;x-amz-date"},
  {"name":"post-x-www-form-urlencoded-parameters","method":"POST","path":"/","headers":{"content-type":"application/x-www-form-urlencoded; charset=utf8"},"body":"Param1=value1","signature":"1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe","signedHeaders":"content-type;host;x-amz-date"},
];

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function wire(v: Vector): SigV4Request {
  return {
    method: v.method,
    path: v.path.split('/').map(rfc3986).join('/'),
    query: Object.entries(v.query ?? {})
      .map(([k, x]) => `${rfc3986(k)}=${rfc3986(x)}`)
      .join('&'),
    headers: {
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      ...v.headers,
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${v.signedHeaders}, Signature=${v.signature}`,
    },
    bodySha256Hex: createHash('sha256').update(v.body ?? '').digest('hex'),
  };
}

const verify = (req: SigV4Request) =>
  verifySigV4(req, async (id) => (id === 'AKIDEXAMPLE' ? SECRET : null), { service: 'service', now: new Date('2015-08-30T12:40:00Z') });

describe('verifySigV4: AWS SigV4 test suite', () => {
  it.each(VECTORS.map((v) => [v.name, v] as const))('%s verifies', async (_name, v) => {
    await expect(verify(wire(v))).resolves.toMatchObject({ accessKeyId: 'AKIDEXAMPLE', region: 'us-east-1', presigned: false });
  });

  it.each(VECTORS.map((v) => [v.name, v] as const))('%s fails with one signature digit changed', async (_name, v) => {
    const flipped = { ...v, signature: (v.signature[0] === '0' ? '1' : '0') + v.signature.slice(1) };
    await expect(verify(wire(flipped))).rejects.toMatchObject({ code: 'Unauthorized', status: 401 });
  });
});
