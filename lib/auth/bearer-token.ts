/**
 * Where a data-plane request carries its token: `Authorization: Bearer <jwt>` for REST,
 * gRPC metadata and WebSocket upgrades from programs, and the WebSocket subprotocol
 * `weir.bearer.<jwt>` for browsers, which cannot set headers on an upgrade. Tokens in
 * query strings are not accepted: they end up in access logs and proxies' histories.
 */

/** The subprotocol prefix a browser puts its token behind. */
export const BEARER_SUBPROTOCOL_PREFIX = 'weir.bearer.';

/** The subprotocol a gateway answers with when a client authenticated through one. */
export const WEIR_SUBPROTOCOL = 'weir.v1';

/** Longest token accepted; real ones are a few kilobytes at most. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** What was found: a token, nothing, or something malformed (with the reason). */
export type BearerResult = { token: string } | { missing: true } | { malformed: string };

const TOKEN_CHARS = /^[A-Za-z0-9\-_.~+/]+=*$/;

function check(token: string): BearerResult {
  if (token.length === 0) return { malformed: 'the bearer token is empty' };
  if (token.length > MAX_TOKEN_LENGTH)
    return { malformed: `the bearer token is longer than ${MAX_TOKEN_LENGTH} bytes` };
  if (!TOKEN_CHARS.test(token)) return { malformed: 'the bearer token has characters a JWT cannot have' };
  return { token };
}

/** The token of an `Authorization` header value (RFC 6750: the scheme is case-insensitive). */
export function bearerFromAuthorization(header: string | string[] | undefined): BearerResult {
  if (header === undefined) return { missing: true };
  if (Array.isArray(header)) {
    if (header.length !== 1) return { malformed: 'more than one Authorization header' };
    header = header[0]!;
  }
  const match = /^Bearer[ ]+(\S*)\s*$/i.exec(header);
  if (!match) return { malformed: 'the Authorization header must be "Bearer <token>"' };
  return check(match[1]!);
}

/** The token among WebSocket subprotocols (`Sec-WebSocket-Protocol`, comma-separated). */
export function bearerFromSubprotocols(header: string | undefined): BearerResult {
  if (!header) return { missing: true };
  const found = header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (found.length === 0) return { missing: true };
  if (found.length > 1) return { malformed: 'more than one weir.bearer subprotocol' };
  return check(found[0]!.slice(BEARER_SUBPROTOCOL_PREFIX.length));
}

/** The header's token if it has one, else the subprotocol's; both present is refused as ambiguous. */
export function bearerFromUpgrade(authorization: string | undefined, subprotocols: string | undefined): BearerResult {
  const fromHeader = bearerFromAuthorization(authorization);
  const fromProtocol = bearerFromSubprotocols(subprotocols);
  if ('missing' in fromHeader) return fromProtocol;
  if (!('missing' in fromProtocol)) return { malformed: 'a token in both the Authorization header and a subprotocol' };
  return fromHeader;
}
