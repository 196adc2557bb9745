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
// INTROSPECTION=1        token introspection (RFC 7662) on, with opaque access tokens (no default
//                        resource); each answer about a live token logs how the client authenticated
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
// CLIENT_AUTH_METHOD     (not with FAPI2) the clients' token_endpoint_auth_method with CLIENT_SECRET:
//                        client_secret_basic (default), client_secret_post or client_secret_jwt
//                        (an HS256 assertion keyed by the secret); request lines then show the
//                        client assertion and `client_auth=METHOD`, the method the provider
//                        authenticated the client with
// JARM=1                JWT Secured Authorization Response Mode (features.jwtResponseModes):
//                        query.jwt, form_post.jwt and jwt advertised and honoured, responses signed
//                        with the ID tokens' key (the clients' authorization_signed_response_alg is
//                        RS256, PS256 under FAPI2); each answer to the app is logged as
//                        `event=jarm.response mode=query|form_post alg=ALG claims=a,b,...`
// JAR=1                 (with FAPI2) signed request objects (RFC 9101, features.requestObjects):
//                        the clients are registered with require_signed_request_object and
//                        request_object_signing_alg CLIENT_AUTH_ALG (default PS256); each request
//                        carrying one logs `event=jar.request path=... status=... form=a,b,...
//                        request_object={alg,typ,kid,iss,aud,client_id,lifetime,jti,claims}`
// RAR=1                 Rich Authorization Requests (RFC 9396, features.richAuthorizationRequests,
//                        stable in oidc-provider 9.13: no ack) with one type, payment_initiation
//                        (instructedAmount {currency, amount}, creditorName, creditorAccount
//                        {iban}); the consent page grants what was asked; each code grant logs
//                        `event=rar.granted details=[...]`
// MTLS=1               mutual TLS (RFC 8705, features.mTLS): served over node's own https server
//                        (MTLS_SERVER_CERT_FILE / MTLS_SERVER_KEY_FILE, PROVIDER_ISSUER https://...),
//                        asking every client for a certificate (requestCert; verified against
//                        MTLS_CA_FILE, an unverified one left to the client auth checks); the
//                        clients authenticate with tls_client_auth (subject DN MTLS_CLIENT_DN, no
//                        secret) and get certificate-bound access tokens; discovery names
//                        mtls_endpoint_aliases on https://localhost:PORT (the same server, another
//                        host name, so the log's `host=` tells which one a client called)
//
// It logs one line per request and per event to stdout (`event=grant.success
// grant_type=refresh_token ...`); the tests count grants from those lines.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';

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
const jarm = env.JARM === '1';
const jar = env.JAR === '1';
const rar = env.RAR === '1';
// RAR=1: the payment consent the sandbox and the demo use (RFC 9396's own example's shape).
const PAYMENT_FIELDS = ['type', 'instructedAmount', 'creditorName', 'creditorAccount'];
function validatePayment(_ctx, detail) {
  const amount = detail.instructedAmount;
  const ok = Object.keys(detail).every((name) => PAYMENT_FIELDS.includes(name))
    && /^[A-Z]{3}$/.test(amount?.currency ?? '') && /^[0-9]{1,12}(\.[0-9]{1,2})?$/.test(amount?.amount ?? '')
    && typeof detail.creditorName === 'string' && detail.creditorName.length > 0
    && /^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$/.test(detail.creditorAccount?.iban ?? '');
  if (!ok) throw new errors.InvalidAuthorizationDetails('a payment_initiation is malformed');
}
// What was asked this time, among what the user consented to (the grant accumulates them).
function grantedDetails(ctx) {
  const asked = JSON.parse(ctx.oidc.params.authorization_details ?? '[]');
  const consented = (ctx.oidc.grant?.rar ?? []).map((detail) => JSON.stringify(detail));
  return asked.filter((detail) => consented.includes(JSON.stringify(detail)));
}
if (jar && !fapi2) {
  console.error('JAR=1 needs FAPI2=1: request objects are signed with the client key');
  process.exit(2);
}
// CLIENT_AUTH_METHOD: how the (non-FAPI) clients use their secret; the provider accepts exactly
// the registered method (oidc-provider refuses a request presenting another).
const clientAuthMethod = env.CLIENT_AUTH_METHOD || '';
const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'];
if (clientAuthMethod && (fapi2 || !SECRET_AUTH_METHODS.includes(clientAuthMethod))) {
  console.error(`CLIENT_AUTH_METHOD=${clientAuthMethod}: one of ${SECRET_AUTH_METHODS}, not with FAPI2`);
  process.exit(2);
}
const secretAuth = clientAuthMethod === 'client_secret_jwt'
  ? { token_endpoint_auth_method: 'client_secret_jwt', token_endpoint_auth_signing_alg: 'HS256' }
  : { token_endpoint_auth_method: clientAuthMethod || 'client_secret_basic' };
const extraAuthMethods = clientAuthMethod && clientAuthMethod !== 'client_secret_basic'
  ? [clientAuthMethod] : [];
function clientAuthDetail(ctx) {
  if (!clientAuthMethod) return '';
  const method = ctx.oidc?.client?.clientAuthMethod;
  return `${fapiDetail(ctx)}${method ? ` client_auth=${method}` : ''}`;
}
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
  // The key leaves the generation job as PEM text and is exported from a KeyObject of its
  // own. Exporting the job's own KeyObject as a JWK deadlocked Node 20 twice on CI: a garbage
  // collection during the export ran the finished job's destructor, which waits on the lock
  // the export holds (gdb: ExportJWKRsaKey -> GC -> ~KeyGenJob -> uv_mutex_lock).
  const { privateKey } = crypto.generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { ...crypto.createPrivateKey(privateKey).export({ format: 'jwk' }), kid, alg, use: 'sig' };
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
    ...(jarm ? { authorization_signed_response_alg: signingAlg } : {}),
    ...(rar ? { authorization_details_types: ['payment_initiation'] } : {}),
    ...(jar ? {
      require_signed_request_object: true,
      request_object_signing_alg: env.CLIENT_AUTH_ALG || 'PS256',
    } : {}),
  };
  if (!fapi2) {
    return { ...common, client_secret: secret, ...secretAuth };
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
  clientAuthMethods: fapi2 ? ['private_key_jwt'] : ['client_secret_basic', 'private_key_jwt', ...extraAuthMethods],
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
    jwtResponseModes: { enabled: jarm },
    requestObjects: { enabled: jar, requireSignedRequestObject: jar },
    ...(rar ? {
      richAuthorizationRequests: {
        enabled: true,
        types: { payment_initiation: { validate: validatePayment } },
        authorizationDetailsForGrantSource: async (ctx) => grantedDetails(ctx),
        authorizationDetailsForAccessToken: async (_ctx, _token, source) => source?.rar,
        authorizationDetailsForIntrospection: async (_ctx, token) => token.rar,
      },
    } : {}),
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

// INTROSPECTION=1: token introspection (RFC 7662) on, and no default resource, so that access
// tokens are the provider's own opaque ones (as with USERINFO_TOKENS=1), which it introspects.
// A client may introspect its own tokens; each answer about a live token logs
// `introspection client=ID auth=basic|post|jwt token_client=ID` (how the client authenticated).
if (env.INTROSPECTION === '1') {
  configuration.features.introspection = {
    enabled: true,
    allowedPolicy: async (ctx, client, token) => {
      const body = ctx.oidc?.body ?? {};
      let auth = 'none';
      if (ctx.headers.authorization?.startsWith('Basic ')) auth = 'basic';
      else if (body.client_assertion) auth = 'jwt';
      else if (body.client_secret) auth = 'post';
      log(`introspection client=${client.clientId} auth=${auth} token_client=${token.clientId}`);
      return token.clientId === client.clientId;
    },
  };
  configuration.features.resourceIndicators.defaultResource = () => undefined;
}

// MTLS=1: the clients authenticate with their certificate, tokens are bound to it (RFC 8705).
const mtls = env.MTLS === '1';
if (mtls) {
  const dn = required('MTLS_CLIENT_DN');
  for (const c of clients) {
    delete c.client_secret;
    Object.assign(c, {
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: dn,
      tls_client_certificate_bound_access_tokens: true,
    });
  }
  configuration.clientAuthMethods = ['tls_client_auth', 'self_signed_tls_client_auth'];
  const peer = (ctx) => {
    const raw = ctx.socket.getPeerCertificate?.()?.raw;
    return raw ? new crypto.X509Certificate(raw) : undefined;
  };
  configuration.features.mTLS = {
    enabled: true,
    certificateBoundAccessTokens: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    getCertificate: (ctx) => peer(ctx)?.toString(),
    certificateAuthorized: (ctx) => ctx.socket.authorized === true,
    // RFC 4514 text lists the RDNs last first; node's subject has them one a line, first first.
    certificateSubjectMatches: (ctx, property, expected) => property === 'tls_client_auth_subject_dn'
      && peer(ctx)?.subject.split('\n').reverse().join(',') === expected,
  };
  const alias = issuer.replace('://127.0.0.1:', '://localhost:');
  configuration.discovery = {
    ...configuration.discovery,
    mtls_endpoint_aliases: {
      token_endpoint: `${alias}/token`,
      revocation_endpoint: `${alias}/token/revocation`,
      userinfo_endpoint: `${alias}/me`,
    },
  };
}
function mtlsServer() {
  return https.createServer({
    cert: fs.readFileSync(required('MTLS_SERVER_CERT_FILE')),
    key: fs.readFileSync(required('MTLS_SERVER_KEY_FILE')),
    ca: fs.readFileSync(required('MTLS_CA_FILE')),
    requestCert: true,
    rejectUnauthorized: false, // self_signed_tls_client_auth: checked against the client's JWKS
  }, provider.callback());
}

const provider = new Provider(issuer, configuration);
if (mtls) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method === 'POST') {
      const cert = ctx.socket.getPeerCertificate?.();
      log(`event=mtls.request path=${ctx.path} host=${ctx.host.split(':')[0]} status=${ctx.status} `
        + `cert=${cert?.raw ? 1 : 0} authorized=${ctx.socket.authorized ? 1 : 0} `
        + `client_auth=${ctx.oidc?.client?.clientAuthMethod ?? '-'}`);
    }
  });
  provider.on('grant.success', (ctx) => {
    const claims = jwtPart(ctx.body?.access_token, 1) ?? {};
    log(`event=mtls.grant grant_type=${ctx.oidc.params.grant_type} token_type=${ctx.body?.token_type} `
      + `cnf_x5t=${claims.cnf?.['x5t#S256'] ?? '-'}`);
  });
}

provider.use(async (ctx, next) => {
  await next();
  log(`${ctx.method} ${ctx.path} ${ctx.status}${fapi2 ? fapiDetail(ctx) : ''}${clientAuthDetail(ctx)}`);
});

// JARM=1: log what each JWT-secured authorization response sent to the app carried (the JWT's
// alg and claim names, never its values), from the redirect's query or the form_post page.
// RAR=1: what each code grant's token response granted (RFC 9396 7).
if (rar) {
  provider.on('grant.success', (ctx) => {
    const details = ctx.body?.authorization_details;
    if (details) log(`event=rar.granted details=${JSON.stringify(details)}`);
  });
}

// JAR=1: log each request object the provider received (pushed or by value): its header and
// claims but the signature, the names of its authorization parameters, and the form's names.
if (jar) {
  provider.use(async (ctx, next) => {
    await next();
    const form = ctx.oidc?.body ?? {};
    const token = form.request ?? ctx.query?.request;
    if (!token) return;
    const header = jwtPart(token, 0) ?? {};
    const claims = jwtPart(token, 1) ?? {};
    const own = ['iss', 'aud', 'client_id', 'exp', 'nbf', 'iat', 'jti'];
    log(`event=jar.request path=${ctx.path} status=${ctx.status} `
      + `form=${Object.keys(form.request ? form : ctx.query).sort().join(',')} `
      + `request_object=${JSON.stringify({
        alg: header.alg,
        typ: header.typ,
        kid: header.kid,
        iss: claims.iss,
        aud: claims.aud,
        client_id: claims.client_id,
        lifetime: claims.exp - claims.nbf,
        jti: Boolean(claims.jti),
        claims: Object.keys(claims).filter((name) => !own.includes(name)).sort(),
      })}`);
  });
}

if (jarm) {
  provider.use(async (ctx, next) => {
    await next();
    const location = ctx.response.get('location');
    const inQuery = location ? new URL(location, issuer).searchParams.get('response') : null;
    const inForm = typeof ctx.body === 'string'
      ? /name="response" value="([^"]+)"/.exec(ctx.body)?.[1] : null;
    const token = inQuery ?? inForm;
    if (!token) return;
    const claims = Object.keys(jwtPart(token, 1) ?? {}).sort().join(',');
    log(`event=jarm.response mode=${inQuery ? 'query' : 'form_post'} alg=${jwtPart(token, 0)?.alg ?? '-'} claims=${claims}`);
  });
}

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
const server = (mtls ? mtlsServer() : provider).listen(port, '127.0.0.1', () => {
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
