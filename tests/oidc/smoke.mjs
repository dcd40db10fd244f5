// Smoke test for provider.mjs: starts it, gets tokens, rotates, crafts tokens, reads stats.
//
//   node tests/oidc/smoke.mjs            (after scripts/ensure-oidc-provider.sh)
//
// Every token is also checked with `jose` (an independent verifier, a dependency of oidc-provider)
// against the issuer's live JWKS, so a broken admin signer or key rotation shows up here and not as
// a puzzling failure in the Rust tests. Prints `ok - …` / `not ok - …` lines, decoded headers and
// claims, and exits non-zero if any check failed.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';

const RESOURCE = 'http://127.0.0.1:8080/mcp';
let failures = 0;
function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}${!ok && detail ? `: ${detail}` : ''}`);
  if (!ok) failures += 1;
  return ok;
}
const show = (label, token) => console.log(`  ${label}\n    header: ${JSON.stringify(decodeProtectedHeader(token))}\n    claims: ${JSON.stringify(decodeJwt(token))}`);

const child = spawn(process.execPath, [fileURLToPath(new URL('./provider.mjs', import.meta.url)), '--exit-with-stdin'], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const [line] = await once(createInterface({ input: child.stdout }), 'line');
const info = JSON.parse(line);
console.log(`provider ready: ${line}`);

const admin = async (method, path, body) => {
  const res = await fetch(`${info.admin}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
};
const getToken = async (clientId, scope = 'upload', resource = RESOURCE) => {
  const res = await fetch(info.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:mcp-tests-secret`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`token for ${clientId}: ${res.status} ${JSON.stringify(json)}`);
  return json.access_token;
};
// A fresh JWKS cache per call, so a rotated key is seen (jose's own cache would hide it).
const verify = (token, extra = {}) => jwtVerify(token, createRemoteJWKSet(new URL(info.jwks_uri)), {
  issuer: info.issuer,
  audience: RESOURCE,
  algorithms: ['RS256', 'ES256'],
  ...extra,
});
const refused = async (token, what) => {
  try {
    await verify(token);
    check(false, `jose refuses ${what}`, 'it was accepted');
  } catch (err) {
    check(true, `jose refuses ${what} (${err.code ?? err.name})`);
  }
};

try {
  await admin('POST', '/test/stats/reset');

  // 1. A real token: client_credentials, resource indicator, scope.
  const rs = await getToken('mcp-tests');
  show('mcp-tests token', rs);
  const { payload, protectedHeader } = await verify(rs);
  check(protectedHeader.alg === 'RS256' && protectedHeader.typ === 'at+jwt', 'RS256 at+jwt header');
  check(payload.aud === RESOURCE, 'aud is the resource');
  check(payload.iss === info.issuer, 'iss is the issuer');
  check(payload.sub === 'mcp-tests' && payload.client_id === 'mcp-tests', 'sub and client_id are the client');
  check(payload.scope === 'upload', 'scope is what was asked');
  check(JSON.stringify(payload.groups) === '["designers"]', 'groups claim carries the client group');
  check(payload.exp - payload.iat === 300, 'lifetime 300 s');

  const es = await getToken('mcp-tests-es256', 'upload read');
  show('mcp-tests-es256 token', es);
  check(decodeProtectedHeader(es).alg === 'ES256' && (await verify(es)).payload.scope === 'upload read', 'ES256 client gets a verifiable ES256 token with both scopes');
  const ng = await getToken('mcp-tests-nogroups', 'read');
  check(!('groups' in decodeJwt(ng)) && decodeJwt(ng).scope === 'read', 'no-groups client: no groups claim, scope read only');

  // 2. Rotation: the new key signs, the old one stays published.
  const oldKid = protectedHeader.kid;
  const rotated = await admin('POST', '/test/rotate', { alg: 'RS256' });
  console.log(`  rotate -> ${JSON.stringify(rotated)}`);
  const rs2 = await getToken('mcp-tests');
  const kid2 = decodeProtectedHeader(rs2).kid;
  check(kid2 === rotated.kid && kid2 !== oldKid, `token after rotation is signed with the new key (${oldKid} -> ${kid2})`);
  await verify(rs2);
  await verify(rs);
  check(true, 'new and pre-rotation tokens both verify against the live JWKS');
  const jwks = await (await fetch(info.jwks_uri)).json();
  console.log(`  jwks kids: ${jwks.keys.map((k) => `${k.kid}(${k.kty}${k.crv ? `/${k.crv}` : ''},${k.alg})`).join(' ')}`);
  check(jwks.keys.every((k) => !('d' in k)), 'JWKS publishes public keys only');

  // 3. Crafted tokens signed with the issuer's real keys.
  const now = Math.floor(Date.now() / 1000);
  const base = { sub: 'crafted-user', aud: RESOURCE, scope: 'upload', groups: ['designers'], client_id: 'mcp-tests' };
  const good = await admin('POST', '/test/sign', { claims: base });
  console.log(`  sign (defaults) -> header ${JSON.stringify(good.header)} claims ${JSON.stringify(good.claims)}`);
  await verify(good.token);
  check(true, 'crafted token with default claims verifies');
  const goodEs = await admin('POST', '/test/sign', { alg: 'ES256', claims: base });
  await verify(goodEs.token);
  check(true, 'crafted ES256 token verifies');
  const cognito = await admin('POST', '/test/sign', {
    claims: { sub: 'u-1', aud: null, client_id: 'cognito-app', token_use: 'access', scope: 'mcp/upload', 'cognito:groups': ['designers'] },
  });
  console.log(`  sign (cognito-shaped) -> ${JSON.stringify(cognito.claims)}`);
  check(!('aud' in cognito.claims), 'a null claim is removed (Cognito-shaped token without aud)');

  await refused((await admin('POST', '/test/sign', { claims: { ...base, iat: now - 600, exp: now - 300 } })).token, 'expired token');
  await refused((await admin('POST', '/test/sign', { claims: { ...base, nbf: now + 600 } })).token, 'not-yet-valid token');
  await refused((await admin('POST', '/test/sign', { claims: { ...base, aud: 'https://other.example/mcp' } })).token, 'wrong audience');
  await refused((await admin('POST', '/test/sign', { claims: { ...base, iss: 'http://127.0.0.1:1/evil' } })).token, 'wrong issuer');
  const tampered = await admin('POST', '/test/sign', { claims: base, tamper: { groups: ['admins'] } });
  console.log(`  sign (tampered) -> claims ${JSON.stringify(tampered.claims)}`);
  await refused(tampered.token, 'tampered payload');
  const none = await admin('POST', '/test/sign', { alg: 'none', claims: base });
  console.log(`  sign (alg none) -> ${none.token.slice(0, 40)}… header ${JSON.stringify(none.header)}`);
  check(none.token.endsWith('.'), 'alg none token has an empty signature');
  await refused(none.token, 'alg none');
  const hs = await admin('POST', '/test/sign', { alg: 'HS256', claims: base });
  console.log(`  sign (HS256 with public PEM) -> header ${JSON.stringify(hs.header)}`);
  await refused(hs.token, 'HS256 signed with the RSA public key');
  const unknown = await admin('POST', '/test/sign', { claims: base, kid: 'nobody-has-this', key_kid: kid2 });
  check(unknown.header.kid === 'nobody-has-this', 'unknown-kid token carries the chosen kid');
  await refused(unknown.token, 'unknown kid');

  // 4. Retire the old key: tokens signed with it stop verifying.
  const retired = await admin('POST', '/test/retire', { kid: oldKid });
  console.log(`  retire ${oldKid} -> ${JSON.stringify(retired)}`);
  await refused(rs, 'token signed with a retired key');

  // 5. Stats count what the issuer served (jose fetched the JWKS once per verify call above).
  await fetch(info.discovery);
  await fetch(`${info.issuer}/.well-known/oauth-authorization-server`);
  const stats = await admin('GET', '/test/stats');
  console.log(`  stats -> ${JSON.stringify(stats)}`);
  check(stats.openid_configuration === 1 && stats.oauth_authorization_server === 1 && stats.discovery === 2, 'discovery fetches counted');
  check(stats.jwks > 0 && stats.token === 4, 'jwks and token requests counted');
  await admin('POST', '/test/outage', { status: 503 });
  check((await fetch(info.jwks_uri)).status === 503, 'outage answers 503 for jwks');
  await admin('POST', '/test/outage', { status: null });
  check((await fetch(info.jwks_uri)).status === 200, 'outage ended');
} catch (err) {
  check(false, 'smoke run', err.stack);
} finally {
  child.stdin.end(); // --exit-with-stdin: the provider exits with us
}
const [code] = await once(child, 'exit');
check(code === 0, `provider exited cleanly when its stdin closed (code ${code})`);
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
