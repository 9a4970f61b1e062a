import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bearerFromAuthorization,
  bearerFromSubprotocols,
  bearerFromUpgrade,
  MAX_TOKEN_LENGTH,
} from './bearer-token.ts';

describe('finding the bearer token', () => {
  const cases: [string, () => unknown, unknown][] = [
    ['takes the token of a Bearer header', () => bearerFromAuthorization('Bearer a.b.c'), { token: 'a.b.c' }],
    ['reads the scheme case-insensitively', () => bearerFromAuthorization('bearer a.b.c'), { token: 'a.b.c' }],
    ['reports a missing header as missing', () => bearerFromAuthorization(undefined), { missing: true }],
    [
      'refuses another scheme',
      () => bearerFromAuthorization('Basic dXNlcjpwYXNz'),
      { malformed: 'the Authorization header must be "Bearer <token>"' },
    ],
    ['refuses an empty token', () => bearerFromAuthorization('Bearer '), { malformed: 'the bearer token is empty' }],
    [
      'refuses characters a JWT cannot have',
      () => bearerFromAuthorization('Bearer a.b.c<script>'),
      { malformed: 'the bearer token has characters a JWT cannot have' },
    ],
    [
      'refuses a token of absurd length',
      () => bearerFromAuthorization(`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`),
      { malformed: `the bearer token is longer than ${MAX_TOKEN_LENGTH} bytes` },
    ],
    [
      'refuses two Authorization headers',
      () => bearerFromAuthorization(['Bearer a', 'Bearer b']),
      { malformed: 'more than one Authorization header' },
    ],
    [
      'takes the token of a weir.bearer subprotocol among others',
      () => bearerFromSubprotocols('weir.v1, weir.bearer.x.y.z'),
      { token: 'x.y.z' },
    ],
    ['reports subprotocols without one as missing', () => bearerFromSubprotocols('weir.v1'), { missing: true }],
    [
      'refuses a token in both places of an upgrade',
      () => bearerFromUpgrade('Bearer a.b.c', 'weir.bearer.d.e.f'),
      { malformed: 'a token in both the Authorization header and a subprotocol' },
    ],
    ["takes an upgrade's header token", () => bearerFromUpgrade('Bearer a.b.c', 'weir.v1'), { token: 'a.b.c' }],
    [
      "takes an upgrade's subprotocol token",
      () => bearerFromUpgrade(undefined, 'weir.bearer.d.e.f'),
      { token: 'd.e.f' },
    ],
  ];
  for (const [name, run, expected] of cases) it(name, () => assert.deepEqual(run(), expected));
});
