import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from './logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, destination };
}

describe('the logger', () => {
  it('writes JSON lines that name the component and the base fields', () => {
    const { lines, destination } = capture();
    createLogger({ component: 'weir-gateway', base: { replica: 'a' }, destination }).info(
      { tenant: 'acme' },
      'accepted',
    );
    assert.equal(lines[0]!.component, 'weir-gateway');
    assert.equal(lines[0]!.replica, 'a');
    assert.equal(lines[0]!.tenant, 'acme');
    assert.equal(lines[0]!.msg, 'accepted');
  });

  it('never writes a password, token or authorization header, at the top or one level down', () => {
    const { lines, destination } = capture();
    const log = createLogger({ component: 'weir-operator', destination });
    log.info(
      {
        password: 'hunter2',
        credentials: { password: 'p4ss', token: 'ey.abc' },
        headers: { authorization: 'Bearer ey.def' },
      },
      'connecting',
    );
    const text = JSON.stringify(lines);
    for (const secret of ['hunter2', 'p4ss', 'ey.abc', 'ey.def'])
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    assert.equal((lines[0]!.credentials as Record<string, unknown>).password, '[redacted]');
  });
});
