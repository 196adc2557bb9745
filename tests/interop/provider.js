// panva's oidc-provider (OpenID Certified), configured like a strict production provider, for
// the interop tests of oidc_kit (tests/interop/conftest.py starts it).
//
//   node provider.js            (everything from the environment)
//
// PROVIDER_PORT          port on 127.0.0.1 (required)
// PROVIDER_ISSUER        issuer (default http://127.0.0.1:PORT)
// APP_BASE_URL           the example app's origin (required): redirect, logout and back-channel URIs
// CLIENT_ID / CLIENT_SECRET        the app's confidential client (client_secret_basic)
// NOCARDS_CLIENT_ID / NOCARDS_APP_BASE_URL   optional second client, granted no cards:read
// ORCA_RESOURCE          resource indicator and audience of the JWT access tokens
// ACCESS_TOKEN_TTL       seconds (short, for the refresh scenarios)
// USERINFO_TOKENS=1      no default resource: access tokens are the provider's own opaque ones,
//                        which its userinfo answers (the ORCA-bound JWTs it refuses there)
// RFC8414=1              revocation_endpoint and introspection_endpoint (enabled) only in RFC 8414
//                        metadata, /.well-known/oauth-authorization-server, not in discovery
// PROVIDER_JWKS_FILE     JSON {"keys": [private JWKs]}: the first RS256 (FAPI2: PS256) key signs;
//                        without it a fresh RSA key is generated at start
// PROVIDER_STATE_FILE    JSON file the adapter persists to, so sessions, grants and refresh
//                        tokens survive a restart (the key-rotation scenario)
// PROVIDER_COOKIE_KEYS   space-separated keys for the provider's signed cookies
// ID_TOKEN_ALG=ES256     (not with FAPI2) an EC P-256 signing key (kid `es256-key`) next to the
//                        RSA one; the clients are registered with id_token_signed_response_alg
//                        ES256, so ID and logout tokens are ES256 (access tokens stay RS256)
//
// FAPI2=1                the FAPI 2.0 Security Profile (below): the clients authenticate with
//                        private_key_jwt instead of CLIENT_SECRET, PAR and DPoP are required
// CLIENT_JWKS_URI        FAPI2: the client's public JWKS URL (default APP_BASE_URL/auth/jwks)
// CLIENT_JWKS_FILE       FAPI2: JSON {"keys": [public JWKs]} registered inline instead of the URL
// CLIENT_AUTH_ALG        FAPI2: the registered token_endpoint_auth_signing_alg (default PS256)
// DPOP_NONCE=1           FAPI2: DPoP proofs must carry a server nonce (DPoP-Nonce, RFC 9449 §8)
//
// It logs one line per request and per event to stdout (`event=grant.success
// grant_type=refresh_token ...`); the tests count grants from those lines.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const env = process.env;
const port = Number(env.PROVIDER_PORT);
if (!port) {
  console.error('PROVIDER_PORT is required');
  process.exit(2);
}
const issuer = env.PROVIDER_ISSUER || `http://127.0.0.1:${port}`;
const appBase = required('APP_BASE_URL').replace(/\/$/, '');
const orcaResource = env.ORCA_RESOURCE || 'urn:portx:orca';
const accessTokenTTL = Number(env.ACCESS_TOKEN_TTL || 300);
const fapi2 = env.FAPI2 === '1';
const rfc8414 = env.RFC8414 === '1';
const dpopNonce = fapi2 && env.DPOP_NONCE === '1';
// ID tokens and JWT access tokens: RS256, or PS256 under FAPI 2.0 (which forbids RS256).
const signingAlg = fapi2 ? 'PS256' : 'RS256';
// The clients' registered id_token_signed_response_alg (ID and logout tokens).
const idTokenAlg = env.ID_TOKEN_ALG || signingAlg;
if (idTokenAlg !== signingAlg && (fapi2 || idTokenAlg !== 'ES256')) {
  console.error(`ID_TOKEN_ALG=${idTokenAlg}: only ES256 is supported, and not with FAPI2`);
  process.exit(2);
}
const ORCA_SCOPES = [
  'accounts:read', 'accounts:write', 'transactions:read', 'transactions:write',
  'parties:read', 'parties:write', 'cards:read', 'cards:write',
];

function required(name) {
  const value = env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

function log(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

// --- accounts ---------------------------------------------------------------------------------

const ACCOUNTS = {
  alice: { name: 'Alice Anders', email: 'alice@example.com' },
  bob: { name: 'Bob Berg', email: 'bob@example.com' },
};

async function findAccount(_ctx, id) {
  const person = ACCOUNTS[id];
  if (!person) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id, name: person.name, email: person.email, email_verified: true,
      };
    },
  };
}

// --- keys -------------------------------------------------------------------------------------

function signingKeys() {
  const jwks = env.PROVIDER_JWKS_FILE ? JSON.parse(fs.readFileSync(env.PROVIDER_JWKS_FILE, 'utf8'))
    : { keys: [generated('rsa', { modulusLength: 2048 }, crypto.randomUUID(), signingAlg)] };
  if (idTokenAlg === 'ES256') {
    // With a P-256 key too, the provider advertises ES256 and signs the clients' ID tokens so.
    jwks.keys.push(generated('ec', { namedCurve: 'P-256' }, 'es256-key', 'ES256'));
  }
  return jwks;
}

function generated(type, options, kid, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

// --- storage: in memory, optionally persisted to a file so that a restart keeps the state -----

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);
const stateFile = env.PROVIDER_STATE_FILE;
const store = new Map(); // "Model:id" -> { payload, expiresAt (ms) | null }

if (stateFile && fs.existsSync(stateFile)) {
  for (const [key, value] of JSON.parse(fs.readFileSync(stateFile, 'utf8'))) store.set(key, value);
}

function persist() {
  if (!stateFile) return;
  const tmp = `${stateFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify([...store]));
  fs.renameSync(tmp, stateFile);
}

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class FileAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
    store.set(this.key(id), { payload, expiresAt });
    persist();
  }

  async find(id) {
    return live(this.key(id));
  }

  async findByUid(uid) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.uid === uid) return live(key);
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.userCode === userCode) return live(key);
    }
    return undefined;
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) {
      payload.consumed = Math.floor(Date.now() / 1000);
      persist();
    }
  }

  async destroy(id) {
    store.delete(this.key(id));
    persist();
  }

  async revokeByGrantId(grantId) {
    for (const [key, { payload }] of store) {
      if (GRANTABLE.has(key.split(':', 1)[0]) && payload.grantId === grantId) store.delete(key);
    }
    persist();
  }
}

// --- clients and the ORCA resource server -------------------------------------------------------

function client(clientId, secret, base) {
  const common = {
    client_id: clientId,
    redirect_uris: [`${base}/auth/callback`],
    post_logout_redirect_uris: [`${base}/`],
    backchannel_logout_uri: `${base}/auth/backchannel-logout`,
    backchannel_logout_session_required: true,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: idTokenAlg,
  };
  if (!fapi2) {
    return { ...common, client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' };
  }
  // FAPI 2.0: the client proves itself with assertions signed by its own key (RFC 7523), whose
  // public half the provider fetches from the app (or is registered inline); every
  // authorization request is pushed (RFC 9126); access tokens are DPoP-bound (RFC 9449).
  const keys = env.CLIENT_JWKS_FILE
    ? { jwks: JSON.parse(fs.readFileSync(env.CLIENT_JWKS_FILE, 'utf8')) }
    : { jwks_uri: env.CLIENT_JWKS_URI || `${base}/auth/jwks` };
  return {
    ...common,
    ...keys,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: env.CLIENT_AUTH_ALG || 'PS256',
    require_pushed_authorization_requests: true,
    dpop_bound_access_tokens: true,
  };
}

const clients = [client(required('CLIENT_ID'), required('CLIENT_SECRET'), appBase)];
const noCardsClientId = env.NOCARDS_CLIENT_ID;
if (noCardsClientId) {
  const base = required('NOCARDS_APP_BASE_URL').replace(/\/$/, '');
  clients.push(client(noCardsClientId, required('CLIENT_SECRET'), base));
}

function orcaScopes(clientId) {
  // The second client is registered without cards:read: the provider never grants it.
  const denied = clientId === noCardsClientId ? new Set(['cards:read', 'cards:write']) : new Set();
  return ORCA_SCOPES.filter((scope) => !denied.has(scope)).join(' ');
}

// --- configuration -------------------------------------------------------------------------------

const configuration = {
  adapter: FileAdapter,
  clients,
  findAccount,
  jwks: signingKeys(),
  cookies: {
    keys: (env.PROVIDER_COOKIE_KEYS || crypto.randomBytes(32).toString('hex')).split(' '),
  },
  // Authorization code only, and only these client authentication methods.
  responseTypes: ['code'],
  clientAuthMethods: fapi2 ? ['private_key_jwt'] : ['client_secret_basic', 'private_key_jwt'],
  // FAPI 2.0 allows PS256, ES256 and EdDSA only (§5.4); the provider's defaults include RS256.
  ...(fapi2 ? {
    enabledJWA: {
      clientAuthSigningAlgValues: ['PS256', 'ES256', 'EdDSA'],
      idTokenSigningAlgValues: ['PS256', 'ES256', 'EdDSA'],
      dPoPSigningAlgValues: ['ES256', 'EdDSA'],
    },
  } : {}),
  scopes: ['openid', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },
  // With code flow, oidc-provider by default puts scope claims (name, email) only in userinfo.
  // Userinfo refuses access tokens bound to another audience (ORCA's), so the ID token carries
  // them too, as many providers do by default.
  conformIdTokenClaims: false,
  // PKCE on every authorization request (S256 is the only method oidc-provider 9 knows).
  pkce: { required: () => true },
  // No clock skew tolerated on what it verifies (its default is 15 s).
  clockTolerance: 0,
  // oidc-provider drops offline_access unless the request has prompt=consent; refresh tokens
  // are issued to every client allowed the refresh_token grant instead.
  issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
  // Every refresh rotates the refresh token; the previous one is consumed.
  rotateRefreshToken: true,
  ttl: {
    AccessToken: accessTokenTTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Session: 24 * 3600,
    Interaction: 600,
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: rfc8414 },
    backchannelLogout: { enabled: true },
    userinfo: { enabled: true },
    // FAPI 2.0 (oidc-provider 9.13): PKCE required (already), client assertions' aud exactly
    // the issuer, redirect_uri never omitted, no access tokens in query strings. PAR and DPoP
    // are separate features, required here through the client's metadata and below.
    // Elsewhere the provider's defaults stay: PAR and DPoP allowed, neither required.
    ...(fapi2 ? {
      fapi: { enabled: true, profile: '2.0' },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
      // With a nonce secret the provider hands out DPoP-Nonce values; requireNonce makes every
      // proof without one fail with use_dpop_nonce, at the token and userinfo endpoints alike.
      dPoP: {
        enabled: true,
        nonceSecret: dpopNonce ? crypto.randomBytes(32) : undefined,
        requireNonce: () => dpopNonce,
      },
    } : {}),
    resourceIndicators: {
      enabled: true,
      defaultResource: () => (env.USERINFO_TOKENS === '1' ? undefined : orcaResource),
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator, c) => {
        if (indicator !== orcaResource) throw new errors.InvalidTarget();
        return {
          scope: orcaScopes(c.clientId),
          audience: orcaResource,
          accessTokenFormat: 'jwt',
          accessTokenTTL,
          jwt: { sign: { alg: signingAlg } },
        };
      },
    },
  },
  // Back-channel logout tokens go to the app on 127.0.0.1, which oidc-provider's SSRF guard
  // refuses (special-use addresses): send them without that guard, loopback tests only.
  fetch: (url, options) => {
    const unguarded = { ...options };
    delete unguarded.dispatcher;
    return globalThis.fetch(url, unguarded);
  },
};

const provider = new Provider(issuer, configuration);

provider.use(async (ctx, next) => {
  await next();
  log(`${ctx.method} ${ctx.path} ${ctx.status}${fapi2 ? fapiDetail(ctx) : ''}`);
});

// RFC8414=1: like some providers, publish the revocation and introspection endpoints only in
// RFC 8414 authorization server metadata (same issuer; the whole document, served by
// discovery's own route) and remove them from OpenID discovery.
const SECOND_SOURCE = ['revocation_endpoint', 'introspection_endpoint'];
if (rfc8414) {
  provider.use(async (ctx, next) => {
    const asked = ctx.path;
    const oauth = asked === '/.well-known/oauth-authorization-server';
    if (oauth) ctx.path = '/.well-known/openid-configuration';
    await next();
    if (oauth) {
      ctx.path = asked; // logged as asked
    } else if (asked === '/.well-known/openid-configuration' && ctx.body instanceof Object) {
      ctx.body = Object.fromEntries(
        Object.entries(ctx.body).filter(([name]) => !SECOND_SOURCE.includes(name)),
      );
    }
  });
}

function jwtPart(jwt, index) {
  if (typeof jwt !== 'string' || jwt.split('.').length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[index], 'base64url').toString());
  } catch {
    return undefined;
  }
}

function kid(jwt) {
  return jwtPart(jwt, 0)?.kid ?? '-';
}

// RFC 7638 thumbprint of a public JWK (the jkt of a DPoP key).
function thumbprint(jwk) {
  const members = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] };
  const names = members[jwk?.kty];
  if (!names) return '-';
  const canonical = JSON.stringify(Object.fromEntries(names.map((n) => [n, jwk[n]])));
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

// FAPI 2.0 mode: what each request showed of PAR, client authentication and DPoP, so the tests
// can assert on it: ` client_assertion={...} dpop={...} dpop_nonce_sent=1 request_uri=1`.
function fapiDetail(ctx) {
  const parts = [];
  if (ctx.path === '/auth' && ctx.method === 'GET') {
    const names = Object.keys(ctx.query).sort().join(',');
    parts.push(`params=${names} request_uri=${ctx.query.request_uri ? 1 : 0}`);
  }
  const body = ctx.oidc?.body ?? ctx.request.body;
  const assertion = body?.client_assertion;
  if (assertion) {
    const header = jwtPart(assertion, 0) ?? {};
    const claims = jwtPart(assertion, 1) ?? {};
    parts.push(`client_assertion=${JSON.stringify({
      type: body.client_assertion_type,
      alg: header.alg,
      kid: header.kid,
      typ: header.typ,
      iss: claims.iss,
      sub: claims.sub,
      aud: claims.aud,
      lifetime: claims.exp - claims.iat,
      jti: Boolean(claims.jti),
    })}`);
  } else if (body?.client_secret || ctx.headers.authorization?.startsWith('Basic ')) {
    parts.push('client_secret=1');
  }
  const proof = ctx.headers.dpop;
  if (proof) {
    const header = jwtPart(proof, 0) ?? {};
    const claims = jwtPart(proof, 1) ?? {};
    parts.push(`dpop=${JSON.stringify({
      typ: header.typ,
      alg: header.alg,
      jkt: thumbprint(header.jwk),
      htm: claims.htm,
      htu: claims.htu,
      ath: Boolean(claims.ath),
      nonce: Boolean(claims.nonce),
    })}`);
  }
  if (ctx.headers.authorization) {
    parts.push(`auth_scheme=${ctx.headers.authorization.split(' ', 1)[0]}`);
  }
  if (ctx.response.get('dpop-nonce')) parts.push('dpop_nonce_sent=1');
  return parts.length ? ` ${parts.join(' ')}` : '';
}

provider.on('grant.success', (ctx) => {
  const { body } = ctx;
  log(`event=grant.success grant_type=${ctx.oidc.params.grant_type} client=${ctx.oidc.client?.clientId} `
    + `sub=${ctx.oidc.account?.accountId ?? '-'} id_token_kid=${kid(body?.id_token)} `
    + `access_token_kid=${kid(body?.access_token)} scope=${JSON.stringify(body?.scope ?? '')}`
    + (fapi2 ? ` token_type=${body?.token_type} auth_method=${ctx.oidc.client?.clientAuthMethod} `
      + `cnf_jkt=${jwtPart(body?.access_token, 1)?.cnf?.jkt ?? '-'} `
      + `id_token_alg=${jwtPart(body?.id_token, 0)?.alg ?? '-'} `
      + `access_token_alg=${jwtPart(body?.access_token, 0)?.alg ?? '-'}` : ''));
});
// Every access token, opaque (stored: saved) or JWT (not stored: issued), and its DPoP binding.
for (const [name, format] of [['access_token.saved', 'opaque'], ['access_token.issued', 'jwt']]) {
  provider.on(name, (token) => {
    log(`event=access_token.issued format=${format} client=${token.clientId} `
      + `aud=${token.aud ?? '-'} jkt=${token.jkt ?? '-'}`);
  });
}
provider.on('pushed_authorization_request.success', (ctx) => {
  log(`event=pushed_authorization_request.success client=${ctx.oidc.client?.clientId} `
    + `auth_method=${ctx.oidc.client?.clientAuthMethod}`);
});
provider.on('grant.error', (ctx, err) => {
  const detail = err.error_detail ?? err.error_description;
  const description = err.error_description && err.error_description !== detail
    ? ` description=${JSON.stringify(err.error_description)}` : '';
  log(`event=grant.error grant_type=${ctx.oidc.params?.grant_type} error=${err.error} detail=${JSON.stringify(detail)}${description}`);
});
provider.on('refresh_token.consumed', (token) => {
  log(`event=refresh_token.consumed grant=${token.grantId}`);
});
provider.on('backchannel.success', (_ctx, c, accountId, sid) => {
  log(`event=backchannel.success client=${c.clientId} sub=${accountId} sid=${sid}`);
});
provider.on('backchannel.error', (_ctx, err, c) => {
  log(`event=backchannel.error client=${c.clientId} error=${JSON.stringify(err.message)}`);
});
provider.on('end_session.success', () => log('event=end_session.success'));
provider.on('interaction.ended', () => log('event=interaction.ended'));
provider.on('grant.revoked', (ctx, grantId) => log(`event=grant.revoked grant=${grantId} route=${ctx?.oidc?.route}`));
provider.on('interaction.started', (_ctx, prompt) => log(`event=interaction.started prompt=${prompt.name}`));
for (const name of ['authorization.error', 'userinfo.error', 'end_session.error',
  'revocation.error', 'pushed_authorization_request.error', 'jwks.error', 'server_error']) {
  provider.on(name, (_ctx, err) => {
    const detail = err?.error_detail ?? err?.error_description ?? err?.message ?? '';
    const description = err?.error_description && err.error_description !== detail
      ? ` description=${JSON.stringify(err.error_description)}` : '';
    log(`event=${name} error=${err?.error ?? ''} detail=${JSON.stringify(detail)}${description}`);
  });
}

const kids = configuration.jwks.keys.map((k) => k.kid).join(',');
const server = provider.listen(port, '127.0.0.1', () => {
  log(`listening issuer=${issuer} kids=${kids} access_token_ttl=${accessTokenTTL}`
    + (fapi2 ? ` profile=fapi2 dpop_nonce=${dpopNonce ? 1 : 0} client_keys=${clients[0].jwks_uri ?? 'inline'}` : ''));
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  // The state file is written synchronously: nothing is lost by exiting at once.
  process.on(signal, () => {
    server.closeAllConnections();
    process.exit(0);
  });
}
