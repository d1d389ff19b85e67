#!/usr/bin/env node
// An independent re-implementation of the dApp-side builder of `@sigil-oss/connect` (contract 04, §6),
// for generating `sigil://v1/request?d=` links in tests. Node 20 builtins and WebCrypto only.
//
// Usage:
//   node connect_builder.mjs '<spec JSON>'     (or the spec on stdin)
//   node connect_builder.mjs keygen            prints a fresh private P-256 JWK
//
// Spec: {
//   "request": {...},                 // used as is, unless "create" is given
//   "create": "transfer",             // optional: run createXRequest for this type: checks the origin, sets
//                                     // `type`, and sets `nonce`/`exp` (replacing any in "request") from:
//   "nonce": "...", "exp": 123, "ttl": 300, "now": 1700000000,   // optional, for "create"
//   "callback": "https://...",        // optional
//   "redirect_uri": "https://...",    // optional, added to the envelope (not covered by the proof)
//   "sign": {"issuer": "demo.app", "key_id": "k1", "include_public_jwk": true, "private_jwk": {...}},
//   "legacy_cb": false                // add &cb= (includeLegacyCallbackParam)
// }
// Output: {"uri", "envelope", "canonical", "payload_hash"} (canonical/payload_hash are null unsigned).

import { randomUUID, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';

const { subtle } = webcrypto;

function assertHttpsOrigin(origin) {
  const url = new URL(origin);
  if (url.protocol !== 'https:') throw new Error('dapp.origin must use https');
}

function isAllowedCallbackUrl(value) {
  try {
    const url = new URL(value);
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1');
  } catch {
    return false;
  }
}

function createRequest(type, request, options = {}) {
  assertHttpsOrigin(request.dapp.origin);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const ttl = options.ttlSeconds ?? 300;
  if (!(ttl > 0)) throw new Error('ttlSeconds must be positive');
  return {
    ...request,
    type,
    nonce: options.nonce ?? randomUUID().replaceAll('-', ''),
    exp: options.exp ?? now + ttl,
  };
}

export const createTransferRequest = (req, o) => createRequest('transfer', req, o);
export const createScCallRequest = (req, o) => createRequest('sc_call', req, o);
export const createSignMessageRequest = (req, o) => createRequest('sign_message', req, o);
export const createVerifyMessageRequest = (req, o) => createRequest('verify_message', req, o);
export const createConnectRequest = (req, o) => createRequest('connect', req, o);

export function createEnvelope(request, { callback, proof } = {}) {
  if (callback != null && !isAllowedCallbackUrl(callback)) throw new Error('callback not allowed');
  const envelope = { request, callback: callback ?? null };
  if (proof !== undefined) envelope.proof = proof;
  return envelope;
}

// Keys sorted with localeCompare, as the connect library does.
export function canonicalize(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
  const keys = Object.keys(value).sort((a, b) => a.localeCompare(b));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(value[k])}`).join(',')}}`;
}

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');

export function serializeSignedRequestPayload(envelope) {
  return canonicalize({ request: envelope.request, callback: envelope.callback ?? null });
}

export async function hashSignedRequestPayload(envelope) {
  const canonical = serializeSignedRequestPayload(envelope);
  return b64url(await subtle.digest('SHA-256', new TextEncoder().encode(canonical)));
}

export async function signEnvelope(envelope, { issuer, keyId, privateJwk, includePublicJwk, publicJwk }) {
  const canonical = serializeSignedRequestPayload(envelope);
  const key = await subtle.importKey('jwk', privateJwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const signature = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, new TextEncoder().encode(canonical));
  const proof = {
    version: 1,
    algorithm: 'ES256',
    issuer,
    ...(keyId !== undefined ? { key_id: keyId } : {}),
    payload_hash: await hashSignedRequestPayload(envelope),
    signature: b64url(new Uint8Array(signature)),
  };
  if (includePublicJwk) {
    const { d, key_ops, ...rest } = publicJwk ?? privateJwk;
    proof.public_jwk = rest;
  }
  return { ...envelope, proof };
}

export function encodeEnvelope(envelope) {
  return b64url(new TextEncoder().encode(JSON.stringify(envelope)));
}

export function buildSigilUrl(envelope, { includeLegacyCallbackParam } = {}) {
  const params = new URLSearchParams({ d: encodeEnvelope(envelope) });
  if (includeLegacyCallbackParam && envelope.callback) params.set('cb', envelope.callback);
  return `sigil://v1/request?${params.toString()}`;
}

async function keygen() {
  const pair = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  return subtle.exportKey('jwk', pair.privateKey);
}

async function main() {
  const arg = process.argv[2];
  if (arg === 'keygen') {
    console.log(JSON.stringify(await keygen()));
    return;
  }
  const spec = JSON.parse(arg ?? readFileSync(0, 'utf8'));
  let request = spec.request;
  if (spec.create) {
    request = createRequest(spec.create, request, {
      nonce: spec.nonce,
      exp: spec.exp,
      ttlSeconds: spec.ttl,
      now: spec.now,
    });
  }
  let envelope = createEnvelope(request, { callback: spec.callback });
  let canonical = null;
  let hash = null;
  if (spec.sign) {
    envelope = await signEnvelope(envelope, {
      issuer: spec.sign.issuer,
      keyId: spec.sign.key_id,
      privateJwk: spec.sign.private_jwk,
      includePublicJwk: spec.sign.include_public_jwk,
    });
    canonical = serializeSignedRequestPayload(envelope);
    hash = envelope.proof.payload_hash;
  }
  if (spec.redirect_uri !== undefined) envelope.redirect_uri = spec.redirect_uri;
  const uri = buildSigilUrl(envelope, { includeLegacyCallbackParam: spec.legacy_cb === true });
  console.log(JSON.stringify({ uri, envelope, canonical, payload_hash: hash }));
}

await main();
