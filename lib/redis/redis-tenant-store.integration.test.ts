/**
 * RedisTenantStore against a real redis-server: run under
 * `node hack/local-env/cli.ts run --with redis -- node --test <this file>`.
 * Tenants connect with their own credentials, as their applications would.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisTenantStore } from './redis-tenant-store.ts';

const url = process.env.WEIR_REDIS_URL ?? '';
/** Where tenants connect: the server without the admin's credentials from the URL. */
const server = url ? { host: new URL(url).hostname, port: Number(new URL(url).port) } : { host: '127.0.0.1', port: 0 };
const run = randomBytes(3).toString('hex');
const password = () => randomBytes(24).toString('base64url');

/** A connection logged in as `user`; it never reconnects, so a kicked client stays kicked. */
async function connectAs(t: TestContext, user: string, pass: string): Promise<Redis> {
  const client = new Redis({
    ...server,
    username: user,
    password: pass,
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  t.after(() => client.disconnect());
  await client.connect();
  assert.equal(await client.call('ACL', 'WHOAMI'), user);
  return client;
}

/** Whether `user` can log in with `pass`, on a fresh connection. */
async function canLogIn(user: string, pass: string): Promise<boolean> {
  const client = new Redis({
    ...server,
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.call('AUTH', user, pass);
    return true;
  } catch (err) {
    assert.match((err as Error).message, /WRONGPASS/);
    return false;
  } finally {
    client.disconnect();
  }
}

// Without its real server this test fails rather than skips: a skip would read as a pass.
assert.ok(url !== '', 'WEIR_REDIS_URL is not set: run under hack/local-env/cli.ts run');

describe('RedisTenantStore', () => {
  let store: RedisTenantStore;
  let admin: Redis;
  const a = { tenant: `a-${run}`, password: password() };
  const b = { tenant: `b-${run}`, password: password() };
  const aKey = `tenant:${a.tenant}:greeting`;
  const bKey = `tenant:${b.tenant}:secret`;

  before(async () => {
    store = new RedisTenantStore({ url });
    admin = new Redis(url);
    await store.ensureUser(a);
    await store.ensureUser(b);
    await admin.set(bKey, 'b-only');
  });
  after(async () => {
    await store.close();
    admin.disconnect();
  });

  it('names the user and key prefix after the tenant', async () => {
    assert.deepEqual(await store.ensureUser(a), { user: `weir-tenant-${a.tenant}`, keyPrefix: `tenant:${a.tenant}:` });
  });

  it('lets a tenant read and write its own keys and publish on its own channels', async (t) => {
    const client = await connectAs(t, `weir-tenant-${a.tenant}`, a.password);
    await client.set(aKey, 'hello');
    assert.equal(await client.get(aKey), 'hello');
    assert.equal(await client.hset(`tenant:${a.tenant}:h`, 'f', 'v'), 1);
    assert.equal(await client.publish(`tenant:${a.tenant}:events`, 'x'), 0);
  });

  it("answers NOPERM when a tenant reads, writes or subscribes to another tenant's keys and channels", async (t) => {
    const client = await connectAs(t, `weir-tenant-${a.tenant}`, a.password);
    await assert.rejects(client.get(bKey), /NOPERM/);
    await assert.rejects(client.set(bKey, 'stolen'), /NOPERM/);
    await assert.rejects(client.rename(aKey, bKey), /NOPERM/);
    await assert.rejects(client.publish(`tenant:${b.tenant}:events`, 'x'), /NOPERM/);
    await assert.rejects(client.call('PSUBSCRIBE', 'tenant:*'), /NOPERM/);
    // A prefix that merely starts with the tenant's name belongs to someone else.
    await assert.rejects(client.get(`tenant:${a.tenant}-other:k`), /NOPERM/);
    assert.equal(await admin.get(bKey), 'b-only');
  });

  const crossTenant: [string, string[]][] = [
    ['KEYS, which lists every key', ['KEYS', '*']],
    [
      'SCAN, which walks the whole keyspace even with a MATCH on its own prefix',
      ['SCAN', '0', 'MATCH', `tenant:${a.tenant}:*`],
    ],
    ["RANDOMKEY, which returns any tenant's key name", ['RANDOMKEY']],
    ['DBSIZE, which counts every key', ['DBSIZE']],
    ['FLUSHALL, which would wipe every tenant', ['FLUSHALL']],
    ['FLUSHDB, which would wipe every tenant', ['FLUSHDB']],
    ["SWAPDB, which would swap every tenant's data away", ['SWAPDB', '0', '1']],
    ['SELECT, which leaves the database deleteUser cleans', ['SELECT', '1']],
    ['COPY into another database', ['COPY', aKey, `tenant:${a.tenant}:copy`, 'DB', '1']],
    ['CONFIG GET, which reveals the server configuration', ['CONFIG', 'GET', '*']],
    ['CONFIG SET, which changes the server', ['CONFIG', 'SET', 'maxmemory', '1']],
    ['ACL SETUSER on itself, which would widen its own rules', ['ACL', 'SETUSER', `weir-tenant-${a.tenant}`, '~*']],
    ["ACL LIST, which shows every user's rules", ['ACL', 'LIST']],
    ['INFO, which describes the keyspace and clients', ['INFO', 'keyspace']],
    ["CLIENT LIST, which shows other tenants' connections", ['CLIENT', 'LIST']],
    ['CLIENT KILL, which could disconnect other tenants', ['CLIENT', 'KILL', 'USER', `weir-tenant-${b.tenant}`]],
    [
      "CLIENT TRACKING BCAST, which would push the names of another tenant's keys",
      ['CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', `tenant:${b.tenant}:`],
    ],
    ["PUBSUB CHANNELS, which lists every tenant's channels", ['PUBSUB', 'CHANNELS']],
    ['MIGRATE, which copies keys to another server', ['MIGRATE', '127.0.0.1', '1', aKey, '0', '1000']],
    [
      'SORT with BY, which reads keys named by a pattern',
      ['SORT', `tenant:${a.tenant}:list`, 'BY', `tenant:${b.tenant}:*`],
    ],
    ["SLOWLOG GET, which shows other tenants' commands with their arguments", ['SLOWLOG', 'GET']],
    ['MODULE LIST, which is server administration', ['MODULE', 'LIST']],
    ["SCRIPT FLUSH, which empties every tenant's script cache", ['SCRIPT', 'FLUSH']],
    ["SCRIPT KILL, which could stop another tenant's script", ['SCRIPT', 'KILL']],
    ["FUNCTION LIST, which reads every tenant's functions", ['FUNCTION', 'LIST']],
    ["FUNCTION FLUSH, which deletes every tenant's functions", ['FUNCTION', 'FLUSH']],
    ['MEMORY STATS, which describes the whole server', ['MEMORY', 'STATS']],
    ["EVAL that declares another tenant's key", ['EVAL', "return redis.call('GET', KEYS[1])", '1', bKey]],
  ];
  for (const [what, command] of crossTenant) {
    it(`refuses a tenant ${what}`, async (t) => {
      const client = await connectAs(t, `weir-tenant-${a.tenant}`, a.password);
      await assert.rejects(client.call(command[0]!, ...command.slice(1)), /NOPERM/);
      assert.equal(await admin.get(bKey), 'b-only');
    });
  }

  it("runs EVAL with the tenant's permissions: a script reaches its own keys but not another tenant's", async (t) => {
    const client = await connectAs(t, `weir-tenant-${a.tenant}`, a.password);
    await client.set(aKey, 'mine');
    assert.equal(await client.eval("return redis.call('GET', KEYS[1])", 1, aKey), 'mine');
    // A key the script did not declare is checked when the script calls it.
    await assert.rejects(client.eval(`return redis.call('GET', '${bKey}')`, 0), /can't access/);
    await assert.rejects(client.eval(`return redis.call('SET', '${bKey}', 'stolen')`, 0), /can't access/);
    await assert.rejects(client.eval("return redis.call('SCAN', '0')", 0), /can't run this command/);
    assert.equal(await admin.get(bKey), 'b-only');
  });

  it('changes nothing when ensureUser is called again with the same password', async (t) => {
    const user = `weir-tenant-${a.tenant}`;
    const live = await connectAs(t, user, a.password);
    const before = await admin.call('ACL', 'GETUSER', user);
    await store.ensureUser(a);
    await store.ensureUser(a);
    assert.deepEqual(await admin.call('ACL', 'GETUSER', user), before);
    assert.equal(await live.ping(), 'PONG');
    assert.ok(await canLogIn(user, a.password));
  });

  it('rotates the password: the new one logs in and the old one is refused', async () => {
    const tenant = `rotate-${run}`;
    const first = password();
    const second = password();
    const { user } = await store.ensureUser({ tenant, password: first });
    assert.ok(await canLogIn(user, first));
    await store.ensureUser({ tenant, password: second });
    assert.ok(await canLogIn(user, second));
    assert.equal(await canLogIn(user, first), false);
  });

  it('puts back the rules of a user that someone widened by hand', async (t) => {
    const tenant = `drift-${run}`;
    const pass = password();
    const { user } = await store.ensureUser({ tenant, password: pass });
    await admin.call('ACL', 'SETUSER', user, '~*', '+@all');
    const client = await connectAs(t, user, pass);
    assert.equal(await client.get(bKey), 'b-only');
    await store.ensureUser({ tenant, password: pass });
    await assert.rejects(client.get(bKey), /NOPERM/);
  });

  it('removes the user on deleteUser, disconnects its live connection and keeps its keys', async (t) => {
    const tenant = `gone-${run}`;
    const pass = password();
    const { user } = await store.ensureUser({ tenant, password: pass });
    const client = await connectAs(t, user, pass);
    await client.set(`tenant:${tenant}:k`, 'v');
    const closed = once(client, 'close');
    assert.deepEqual(await store.deleteUser(tenant), { userExisted: true, connectionsKilled: 1, keysDeleted: 0 });
    await closed;
    assert.equal(await admin.call('ACL', 'GETUSER', user), null);
    assert.equal(await canLogIn(user, pass), false);
    assert.equal(await admin.get(`tenant:${tenant}:k`), 'v');
  });

  it("deletes exactly the tenant's keys when deleteKeys is set, across many SCAN pages", async () => {
    const tenant = `keys-${run}`;
    await store.ensureUser({ tenant, password: password() });
    const pipeline = admin.pipeline();
    for (let i = 0; i < 2500; i++) pipeline.set(`tenant:${tenant}:k${i}`, 'v');
    pipeline.set(`tenant:${tenant}-neighbour:k`, 'kept');
    await pipeline.exec();
    const result = await store.deleteUser(tenant, { deleteKeys: true });
    assert.deepEqual(result, { userExisted: true, connectionsKilled: 0, keysDeleted: 2500 });
    assert.deepEqual(await admin.keys(`tenant:${tenant}:*`), []);
    assert.equal(await admin.get(`tenant:${tenant}-neighbour:k`), 'kept');
    assert.equal(await admin.get(bKey), 'b-only');
  });

  it('does nothing when asked to delete a user that does not exist', async () => {
    assert.deepEqual(await store.deleteUser(`never-${run}`), {
      userExisted: false,
      connectionsKilled: 0,
      keysDeleted: 0,
    });
  });

  it('logs what it did but never the password or its hash', async () => {
    const lines: string[] = [];
    const logged = new RedisTenantStore({
      url,
      log: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }),
    });
    const tenant = `logged-${run}`;
    const secrets = [password(), password()];
    try {
      for (const secret of secrets) await logged.ensureUser({ tenant, password: secret });
      await logged.deleteUser(tenant, { deleteKeys: true });
    } finally {
      await logged.close();
    }
    const output = lines.join('');
    assert.match(output, new RegExp(`"tenant":"${tenant}"`));
    for (const secret of secrets) {
      assert.ok(!output.includes(secret));
      assert.ok(!output.includes(createHash('sha256').update(secret).digest('hex')));
    }
  });

  it('rejects a bad tenant name before sending any command', async () => {
    // Nothing listens on port 1: a command sent would fail with a connection error instead.
    const offline = new RedisTenantStore({ url: 'redis://127.0.0.1:1' });
    try {
      const bad = ['', 'A', '-a', 'a-', 'a_b', 'a:b', 'a*', 'a b', 'a\n', '*', 'a'.repeat(57), 'ä'];
      for (const tenant of bad) {
        await assert.rejects(offline.ensureUser({ tenant, password: 'p' }), {
          name: 'TypeError',
          message: /invalid tenant name/,
        });
        await assert.rejects(offline.deleteUser(tenant, { deleteKeys: true }), {
          name: 'TypeError',
          message: /invalid tenant name/,
        });
      }
      await assert.rejects(offline.ensureUser({ tenant: 'ok', password: '' }), { name: 'TypeError' });
    } finally {
      await offline.close();
    }
  });

  it('measures the round trip of a PING in milliseconds', async () => {
    const ms = await store.ping();
    assert.ok(ms > 0 && ms < 5_000, `ping took ${ms}ms`);
  });
});
