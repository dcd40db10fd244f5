// A real OpenID Provider on loopback for the OAuth resource-server tests (issue 15). TEST-ONLY.
//
// It is the certified `oidc-provider` package, configured as a company IdP would be for machine
// clients: the client_credentials grant, RFC 8707 resource indicators, and JWT access tokens
// (RFC 9068 shape) whose `aud` is the requested resource. Next to it, on a SEPARATE port, runs a
// small admin interface that no real IdP has; it exists so tests can rotate keys and craft bad
// tokens signed by the issuer's real keys. Never expose either port beyond loopback.
//
// Usage
//   node tests/oidc/provider.mjs [--port N] [--admin-port N] [--ttl SECONDS]
//                                [--groups-claim NAME] [--exit-with-stdin]
//   env: OIDC_PORT, OIDC_ADMIN_PORT, OIDC_TOKEN_TTL, OIDC_GROUPS_CLAIM (flags win). Port 0 (the
//   default) lets the OS pick. Binds 127.0.0.1 only.
//   --exit-with-stdin: exit when stdin reaches EOF, so a test that spawns this with a piped stdin
//   cannot leak the process even if the test is killed before it can kill the child.
//
// When ready it prints exactly ONE JSON line on stdout (everything else goes to stderr):
//   {"issuer":"http://127.0.0.1:P","port":P,"admin":"http://127.0.0.1:A","admin_port":A,
//    "discovery":"…/.well-known/openid-configuration","jwks_uri":"…/jwks","token_endpoint":"…/token",
//    "scopes":["upload","read"],"groups_claim":"groups",
//    "clients":[{"client_id":"mcp-tests","client_secret":"mcp-tests-secret","groups":["designers"],"alg":"RS256"},…]}
//
// Issuer (what the server under test talks to; standard oidc-provider routes)
//   GET  /.well-known/openid-configuration      discovery (also /.well-known/oauth-authorization-server)
//   GET  /jwks                                  public keys: every key ever active, old ones too
//   POST /token                                 grant_type=client_credentials, HTTP Basic client auth,
//                                               resource=<any absolute URL> (becomes `aud`),
//                                               scope=<subset of "upload read"> (only these land in
//                                               the token; `openid` is accepted and dropped)
//   Access token claims: iss, sub (= client_id), aud (= resource), client_id, scope, iat, exp, jti,
//   and the client's groups under the groups claim (`groups`, or e.g. `cognito:groups`).
//   Header: {"alg":"RS256"|"ES256","typ":"at+jwt","kid":…}.
//
// Clients (client_credentials only, HTTP Basic auth, all with secret "mcp-tests-secret"):
//   mcp-tests (groups ["designers"], RS256), mcp-tests-es256 (["designers"], ES256),
//   mcp-tests-marketing (["marketing"], RS256), mcp-tests-nogroups (no groups claim, RS256).
//   With client_credentials `sub` is the client_id, so each client is also a distinct subject.
//
// Admin (test-only, separate port; JSON in, JSON out)
//   POST /test/rotate   {"alg":"RS256"}            new signing key for alg, made the active one; old
//                                                  keys stay published. -> {"kid","alg","kids":[…]}
//   POST /test/retire   {"kid":"…"}                stop publishing a key (and signing with it).
//   POST /test/sign     {"claims":{…}, "alg":"RS256", "kid":"…", "key_kid":"…", "header":{…},
//                        "tamper":{…}, "hmac_secret":"public_pem"|"public_der"|"public_pkcs1_pem"|"<literal>"}
//        Signs ARBITRARY claims with the issuer's real private key. Defaults added unless given:
//        iss=issuer, iat=now, exp=now+300, jti=random; a claim given as null is removed (e.g.
//        {"exp":null}). alg defaults to RS256; kid selects the key (default: the alg's active key)
//        and is what goes in the header; key_kid, when given, selects the signing key instead, so
//        {"kid":"nobody-has-this","key_kid":"<active>"} makes an unknown-kid token. header merges
//        extra header fields (null removes one, e.g. {"kid":null}). alg "none" makes an unsecured
//        token ("h.p."). alg HS256/384/512 HMACs with hmac_secret: by default the active RS256
//        key's public SPKI PEM (the classic key-confusion attack), "public_der" its DER bytes,
//        "public_pkcs1_pem" its PKCS#1 PEM, any other string its UTF-8 bytes. tamper merges claims
//        into the payload AFTER signing.
//        -> {"token","header","claims"} (+ "hmac_secret":{"utf8":…}|{"base64":…} for HS*, so a
//        test can show that a naive verifier keyed with those bytes would accept the token)
//   GET  /test/stats                               how often the issuer was asked for what:
//        {"openid_configuration":n,"oauth_authorization_server":n,"discovery":n (sum),"jwks":n,
//         "token":n,"paths":{"/jwks":n,…}}
//   POST /test/stats/reset                         zero the counters.
//   POST /test/outage   {"status":503}             answer discovery and jwks with that status
//                                                  (counted all the same); {"status":null} ends it.
//   GET  /test/health                              {"ok":true}

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// oidc-provider prints NOTICEs with console.info (stdout). Stdout carries only our ready line.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OIDC_PORT ?? '0' },
    'admin-port': { type: 'string', default: process.env.OIDC_ADMIN_PORT ?? '0' },
    ttl: { type: 'string', default: process.env.OIDC_TOKEN_TTL ?? '300' },
    'groups-claim': { type: 'string', default: process.env.OIDC_GROUPS_CLAIM ?? 'groups' },
    'exit-with-stdin': { type: 'boolean', default: false },
  },
});
const HOST = '127.0.0.1';
const TOKEN_TTL = Number(opts.ttl);
const GROUPS_CLAIM = opts['groups-claim'];
const RESOURCE_SCOPES = ['upload', 'read'];

const CLIENTS = [
  { client_id: 'mcp-tests', client_secret: 'mcp-tests-secret', groups: ['designers'], alg: 'RS256' },
  { client_id: 'mcp-tests-es256', client_secret: 'mcp-tests-secret', groups: ['designers'], alg: 'ES256' },
  { client_id: 'mcp-tests-marketing', client_secret: 'mcp-tests-secret', groups: ['marketing'], alg: 'RS256' },
  { client_id: 'mcp-tests-nogroups', client_secret: 'mcp-tests-secret', groups: null, alg: 'RS256' },
];

// ---- keys --------------------------------------------------------------------------------------
// Every key ever made, newest first; `active` maps alg -> kid used to sign access tokens.
const keys = []; // { kid, alg, privateJwk, publicKey: KeyObject, privateKey: KeyObject }
const active = {};
let keyCounter = 0;

function makeKey(alg) {
  let pair;
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  } else if (alg === 'ES256') {
    pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  } else if (alg === 'ES384') {
    pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  } else {
    throw new HttpError(400, `cannot make a key for alg ${alg}`);
  }
  keyCounter += 1;
  const kid = `${alg.toLowerCase()}-${keyCounter}`;
  const privateJwk = { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  const key = { kid, alg, privateJwk, publicKey: pair.publicKey, privateKey: pair.privateKey };
  keys.unshift(key);
  active[alg] = kid;
  return key;
}

// ---- the provider (rebuilt on rotation: same port, new keystore) --------------------------------
let issuer; // set once the port is known
let provider;
let providerHandler;

function buildProvider() {
  const p = new Provider(issuer, {
    clients: CLIENTS.map(({ client_id, client_secret, groups, alg }) => ({
      client_id,
      client_secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: ['openid', ...RESOURCE_SCOPES].join(' '),
      ...(groups ? { groups } : {}),
      access_token_alg: alg,
    })),
    extraClientMetadata: {
      properties: ['groups', 'access_token_alg'],
      validator(_ctx, key, value) {
        if (key === 'groups' && value !== undefined && !Array.isArray(value)) throw new Error('groups must be an array');
      },
    },
    scopes: ['openid', ...RESOURCE_SCOPES],
    jwks: { keys: keys.map((k) => k.privateJwk) },
    cookies: { keys: ['test-only-cookie-key'] },
    ttl: { ClientCredentials: TOKEN_TTL },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // Any absolute URL is a resource here: the tests pick the MCP server's URL per run.
        async getResourceServerInfo(_ctx, resourceIndicator, client) {
          const alg = client.access_token_alg ?? client.accessTokenAlg ?? 'RS256';
          return {
            scope: RESOURCE_SCOPES.join(' '),
            audience: resourceIndicator,
            accessTokenTTL: TOKEN_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg, kid: active[alg] } },
          };
        },
      },
    },
    async extraTokenClaims(ctx, token) {
      const client = ctx?.oidc?.client;
      if (token.kind !== 'ClientCredentials' || !client?.groups) return undefined;
      return { [GROUPS_CLAIM]: client.groups };
    },
  });
  p.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
  return p;
}

function rebuild() {
  provider = buildProvider();
  providerHandler = provider.callback();
}

// ---- stats and outage ----------------------------------------------------------------------------
const stats = { openid_configuration: 0, oauth_authorization_server: 0, jwks: 0, token: 0, paths: {} };
let outageStatus = null;

function count(pathname) {
  stats.paths[pathname] = (stats.paths[pathname] ?? 0) + 1;
  if (pathname === '/.well-known/openid-configuration') stats.openid_configuration += 1;
  else if (pathname === '/.well-known/oauth-authorization-server') stats.oauth_authorization_server += 1;
  else if (pathname === '/jwks') stats.jwks += 1;
  else if (pathname === '/token') stats.token += 1;
  return pathname.startsWith('/.well-known/') || pathname === '/jwks';
}

function issuerHandler(req, res) {
  const { pathname } = new URL(req.url, issuer);
  const isKeyMaterial = count(pathname);
  if (isKeyMaterial && outageStatus) {
    res.writeHead(outageStatus, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'test outage' }));
    return;
  }
  providerHandler(req, res);
}

// ---- admin -----------------------------------------------------------------------------------------
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const b64json = (obj) => b64url(JSON.stringify(obj));
const dropNulls = (obj) => Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null));

function findKey(kid) {
  const key = keys.find((k) => k.kid === kid);
  if (!key) throw new HttpError(400, `no key with kid ${kid}; have ${keys.map((k) => k.kid).join(', ')}`);
  return key;
}

const NODE_SIGN = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsaEncoding: 'ieee-p1363' },
};

function sign(body) {
  const now = Math.floor(Date.now() / 1000);
  const alg = body.alg ?? 'RS256';
  const claims = dropNulls({
    iss: issuer,
    iat: now,
    exp: now + 300,
    jti: crypto.randomUUID(),
    ...(body.claims ?? {}),
  });

  let header;
  let signingInput;
  let signature;
  let hmacSecret;
  if (alg === 'none') {
    header = dropNulls({ alg: 'none', typ: 'at+jwt', ...(body.header ?? {}) });
    signingInput = `${b64json(header)}.${b64json(claims)}`;
    signature = '';
  } else if (alg.startsWith('HS')) {
    let secret;
    const rsa = findKey(active.RS256);
    const which = body.hmac_secret ?? 'public_pem';
    if (which === 'public_pem') secret = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    else if (which === 'public_der') secret = rsa.publicKey.export({ type: 'spki', format: 'der' });
    else if (which === 'public_pkcs1_pem') secret = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' });
    else secret = Buffer.from(String(which), 'utf8');
    header = dropNulls({ alg, typ: 'at+jwt', kid: body.kid ?? rsa.kid, ...(body.header ?? {}) });
    signingInput = `${b64json(header)}.${b64json(claims)}`;
    signature = b64url(crypto.createHmac(`sha${alg.slice(2)}`, secret).update(signingInput).digest());
    hmacSecret = Buffer.isBuffer(secret) ? { base64: secret.toString('base64') } : { utf8: secret };
  } else {
    const how = NODE_SIGN[alg];
    if (!how) throw new HttpError(400, `unsupported alg ${alg}`);
    const headerKid = body.kid ?? active[alg];
    const key = findKey(body.key_kid ?? headerKid);
    header = dropNulls({ alg, typ: 'at+jwt', kid: headerKid, ...(body.header ?? {}) });
    signingInput = `${b64json(header)}.${b64json(claims)}`;
    const { hash, ...keyOpts } = how;
    signature = b64url(crypto.sign(hash, Buffer.from(signingInput), { key: key.privateKey, ...keyOpts }));
  }

  let payloadPart = signingInput.split('.')[1];
  let finalClaims = claims;
  if (body.tamper) {
    finalClaims = dropNulls({ ...claims, ...body.tamper });
    payloadPart = b64json(finalClaims);
  }
  const token = `${signingInput.split('.')[0]}.${payloadPart}.${signature}`;
  return { token, header, claims: finalClaims, ...(hmacSecret ? { hmac_secret: hmacSecret } : {}) };
}

const adminRoutes = {
  'GET /test/health': () => ({ ok: true }),
  'GET /test/stats': () => ({ ...stats, discovery: stats.openid_configuration + stats.oauth_authorization_server }),
  'POST /test/stats/reset': () => {
    Object.assign(stats, { openid_configuration: 0, oauth_authorization_server: 0, jwks: 0, token: 0, paths: {} });
    return { ok: true };
  },
  'POST /test/rotate': (body) => {
    const key = makeKey(body.alg ?? 'RS256');
    rebuild();
    return { kid: key.kid, alg: key.alg, kids: keys.map((k) => k.kid), active };
  },
  'POST /test/retire': (body) => {
    const key = findKey(body.kid);
    if (active[key.alg] === key.kid) throw new HttpError(400, `${key.kid} is the active ${key.alg} key; rotate first`);
    keys.splice(keys.indexOf(key), 1);
    rebuild();
    return { kids: keys.map((k) => k.kid), active };
  },
  'POST /test/sign': (body) => sign(body),
  'POST /test/outage': (body) => {
    outageStatus = body.status ?? null;
    return { status: outageStatus };
  },
};

async function adminHandler(req, res) {
  const reply = (status, obj) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(obj)}\n`);
  };
  try {
    const { pathname } = new URL(req.url, 'http://admin');
    const route = adminRoutes[`${req.method} ${pathname}`];
    if (!route) throw new HttpError(404, `no admin route ${req.method} ${pathname}`);
    let raw = '';
    for await (const chunk of req) raw += chunk;
    let body = {};
    if (raw.trim()) {
      try {
        body = JSON.parse(raw);
      } catch {
        throw new HttpError(400, 'body is not JSON');
      }
    }
    reply(200, await route(body));
  } catch (err) {
    reply(err.status ?? 500, { error: err.message });
  }
}

// ---- start --------------------------------------------------------------------------------------
function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), HOST, () => resolve(server.address().port));
  });
}

makeKey('ES256');
makeKey('RS256');

const issuerServer = http.createServer(issuerHandler);
const port = await listen(issuerServer, opts.port);
issuer = `http://${HOST}:${port}`;
rebuild();
const adminServer = http.createServer(adminHandler);
const adminPort = await listen(adminServer, opts['admin-port']);

const shutdown = () => {
  issuerServer.close();
  adminServer.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (opts['exit-with-stdin']) {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({
  issuer,
  port,
  admin: `http://${HOST}:${adminPort}`,
  admin_port: adminPort,
  discovery: `${issuer}/.well-known/openid-configuration`,
  jwks_uri: `${issuer}/jwks`,
  token_endpoint: `${issuer}/token`,
  scopes: RESOURCE_SCOPES,
  groups_claim: GROUPS_CLAIM,
  clients: CLIENTS,
})}\n`);
