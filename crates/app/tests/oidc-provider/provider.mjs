// A real OpenID Connect provider for authd's sign-in tests: the certified `oidc-provider`
// package (https://github.com/panva/node-oidc-provider), configured for a few test clients.
// Everything a relying party talks to (discovery, JWKS, authorization, login and consent
// interactions, PKCE, code exchange, ID token signing) is the real provider; only the
// token endpoint responses of the fault clients are altered, see `injectFault` below.
//
// Usage: node provider.mjs --redirect-base http://127.0.0.1:PORT
//   --redirect-base is authd's base URL; client <id> redirects to
//   <redirect-base>/v1/oauth/<id>/callback.
// Listens on 127.0.0.1 on a free port and prints one line of JSON to stdout when ready:
//   {"issuer":"http://127.0.0.1:43123"}
// Exits when stdin closes or on SIGTERM, so it never outlives the test that started it.
//
// Clients (confidential, client_secret_basic, code flow, S256 PKCE required, RS256 ID
// tokens, scopes openid email profile), secret "<id>-secret":
//   idp         well-behaved
//   wrongaud    ID token `aud` is another client
//   wrongiss    ID token `iss` is another issuer
//   expired     ID token `exp` and `iat` an hour further in the past (exp an hour ago)
//   badsig      ID token signature bytes corrupted (header and payload intact)
//   wrongnonce  ID token `nonce` is not the one the client sent
//   algnone     ID token re-encoded unsigned (`alg: none`, empty signature)
//   hs256       not a fault injected here: the provider itself signs this client's ID
//               tokens with HS256 keyed by the client secret (it advertises HS256 too)
//
// Accounts: any login is accepted and the password ignored. sub = email = the login;
// email_verified is true unless the login starts with "unverified"; given_name "Ada",
// family_name "Lovelace".
//
// Interaction pages (plain HTML forms, no JavaScript):
//   GET  /interaction/:uid          the form of the current prompt: login or consent
//   POST /interaction/:uid/login    form field `login` (and an ignored `password`)
//   POST /interaction/:uid/confirm  grants the requested scopes and claims (consent)
//   POST /interaction/:uid/abort    finishes with error=access_denied, which the provider
//                                   sends to the client's redirect URI
// Control endpoints (this test provider only):
//   POST /control/rotate  sign with a new RSA key (new kid); the JWKS lists new and old
//   GET  /control/stats   {"jwks_fetches": n}: GETs of the jwks_uri so far

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import { CompactSign, importJWK } from 'jose';

// oidc-provider prints notices with console.info; stdout carries only the ready line.
console.info = console.error;
// Two warnings that are expected here are dropped so they do not clutter every test run:
// the in-memory store (right for a test provider), and Node 20 (below the package's
// supported Node 22; its tests run on this machine's Node 20). Others still show.
const warn = console.warn;
const EXPECTED = [/Unsupported runtime/, /development-only in-memory adapter/];
console.warn = (...args) => {
  if (!EXPECTED.some((expected) => expected.test(String(args[0])))) warn(...args);
};
// Imported after the filter is in place: the runtime warning is printed on import.
const { default: Provider } = await import('oidc-provider');

const CLIENTS = ['idp', 'wrongaud', 'wrongiss', 'expired', 'badsig', 'wrongnonce', 'algnone', 'hs256'];

function argument(name) {
  const at = process.argv.indexOf(name);
  if (at < 0 || !process.argv[at + 1]) {
    console.error(`usage: node provider.mjs ${name} http://127.0.0.1:PORT`);
    process.exit(2);
  }
  return process.argv[at + 1];
}

const redirectBase = argument('--redirect-base').replace(/\/+$/, '');

// A new RS256 signing key, as a private JWK (the provider publishes its public part).
function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

// Signing keys, newest first: the provider signs with the first and publishes all.
const keys = [newSigningKey()];
// The same cookie keys for every Provider instance, so a browser's session and
// interaction cookies stay valid across a key rotation (the in-memory store is shared).
const cookieKeys = [randomUUID()];
let jwksFetches = 0;

const base64url = (bytes) => Buffer.from(bytes).toString('base64url');
const decodeSegment = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString());

// The ID token `jwt` re-signed with the provider's own key (the one of its kid) after
// `change` edited its payload.
async function resign(jwt, change) {
  const [header, payload] = jwt.split('.').map((part, i) => (i < 2 ? decodeSegment(part) : part));
  change(payload);
  const key = keys.find((k) => k.kid === header.kid);
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(await importJWK(key, header.alg));
}

const now = () => Math.floor(Date.now() / 1000);

// The fault each fault client's ID token gets.
const FAULTS = {
  wrongaud: (jwt) => resign(jwt, (p) => { p.aud = 'idp'; }),
  wrongiss: (jwt, issuer) => resign(jwt, (p) => { p.iss = `${issuer}/not-this-issuer`; }),
  expired: (jwt) => resign(jwt, (p) => {
    const shift = p.exp - now() + 3600;
    p.exp -= shift;
    p.iat -= shift;
  }),
  wrongnonce: (jwt) => resign(jwt, (p) => { p.nonce = `${p.nonce ?? ''}-not-the-nonce`; }),
  algnone: async (jwt) => {
    const [, payload] = jwt.split('.');
    const header = base64url(Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })));
    return `${header}.${payload}.`;
  },
  badsig: async (jwt) => {
    const [header, payload, signature] = jwt.split('.');
    const bytes = Buffer.from(signature, 'base64url');
    for (let i = 0; i < bytes.length; i += 1) bytes[i] ^= 0x5a;
    return `${header}.${payload}.${base64url(bytes)}`;
  },
};

// Fault injection. The fault clients get the real provider's complete flow; only after the
// provider has produced its token endpoint response is the ID token in it replaced: re-signed
// with the provider's own signing key with `aud` (wrongaud), `iss` (wrongiss), `exp`/`iat`
// (expired) or `nonce` (wrongnonce) changed, with its signature bytes corrupted (badsig), or
// unsigned (algnone).
// Nothing else (discovery, authorization, login, consent, PKCE, code exchange) is altered.
async function injectFault(ctx, next) {
  await next();
  const clientId = ctx.oidc?.client?.clientId;
  if (ctx.oidc?.route !== 'token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const fault = FAULTS[clientId];
  if (fault) ctx.body = { ...ctx.body, id_token: await fault(ctx.body.id_token, ctx.oidc.issuer) };
}

function findAccount(ctx, login) {
  return {
    accountId: login,
    claims: () => ({
      sub: login,
      email: login,
      email_verified: !login.startsWith('unverified'),
      given_name: 'Ada',
      family_name: 'Lovelace',
      name: 'Ada Lovelace',
    }),
  };
}

function newProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: CLIENTS.map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      redirect_uris: [`${redirectBase}/v1/oauth/${id}/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: id === 'hs256' ? 'HS256' : 'RS256',
      scope: 'openid email profile',
    })),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    // The ID token carries the scopes' claims (as e.g. Google's does), not only userinfo.
    conformIdTokenClaims: false,
    // HS256 for the `hs256` client, which a relying party must refuse (it is keyed with the
    // client secret, so anyone holding that secret could mint ID tokens).
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] },
    // S256 PKCE for every client, confidential ones included: an authorization request
    // without a code_challenge is refused, and so is a code exchange with a wrong verifier.
    pkce: { required: () => true },
    cookies: { keys: cookieKeys },
    jwks: { keys },
    findAccount,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    // Quiet defaults: no expiry warnings for values the tests do not depend on.
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 600,
      IdToken: 3600,
      Interaction: 3600,
      Session: 3600,
      Grant: 3600,
    },
  });
  provider.use(injectFault);
  return provider;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><body>${body}</body></html>`);
}

async function formBody(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

// The interaction pages; `provider` is the current Provider instance.
async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, 'wrong interaction');
  const { prompt, params, session } = details;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      return page(res, 200, `<h1>Sign in to ${escape(params.client_id)}</h1>
<form method="post" action="/interaction/${uid}/login">
<input name="login"> <input name="password" type="password"> <button>Sign in</button>
</form>`);
    }
    return page(res, 200, `<h1>Allow ${escape(params.client_id)} ${escape(params.scope)}?</h1>
<form method="post" action="/interaction/${uid}/confirm"><button>Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button>Deny</button></form>`);
  }
  if (req.method !== 'POST') return page(res, 405, 'method not allowed');

  if (action === 'login' && prompt.name === 'login') {
    const login = (await formBody(req)).get('login');
    if (!login) return page(res, 400, 'login is required');
    return provider.interactionFinished(req, res, { login: { accountId: login } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    // As in oidc-provider's example: a Grant of what the consent prompt says is missing.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  return page(res, 400, `no ${escape(action)} at the ${escape(prompt.name)} prompt`);
}

let provider;
let handler;
let issuer;

// Starts serving with a new Provider instance (at start and on each key rotation).
function serveNewProvider() {
  provider = newProvider(issuer);
  handler = provider.callback();
}

const server = createServer(async (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  try {
    if (pathname === '/control/rotate' && req.method === 'POST') {
      // A new Provider signing with the new key and publishing the old ones too; the
      // in-memory store and cookie keys are shared, so flows and sessions carry over.
      keys.unshift(newSigningKey());
      serveNewProvider();
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ kid: keys[0].kid }));
    }
    if (pathname === '/control/stats' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ jwks_fetches: jwksFetches }));
    }
    const match = pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/);
    if (match) return await interaction(provider, req, res, match[1], match[2]);
    if (pathname === '/jwks' && req.method === 'GET') jwksFetches += 1;
    return handler(req, res);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) page(res, 400, escape(error.message));
    else res.end();
  }
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  serveNewProvider();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
