/**
 * PostgresTenantStore against a real PostgreSQL 15: run under
 * `node hack/local-env/cli.ts run --with postgres -- node --test <this file>`.
 * Tenants connect with their own role and password, as their applications would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { PostgresTenantStore, postgresTenantName } from './postgres-tenant-store.ts';

const adminUrl = process.env.WEIR_POSTGRES_URL ?? '';
const run = randomBytes(3).toString('hex');
const password = () => randomBytes(24).toString('base64url');

function urlFor(role: string, pass: string): string {
  const url = new URL(adminUrl);
  url.username = role;
  url.password = pass;
  return url.toString();
}

/** A session logged in as `role`, ended when the test ends. */
async function connectAs(t: TestContext, role: string, pass: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlFor(role, pass) });
  // A session ended by the server reports an error on the client; the tests look at the queries instead.
  client.on('error', () => undefined);
  await client.connect();
  t.after(() => client.end().catch(() => undefined));
  return client;
}

/** Whether `role` can log in with `pass`. */
async function canLogIn(role: string, pass: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: urlFor(role, pass) });
  try {
    await client.connect();
    return true;
  } catch (err) {
    assert.equal((err as { code?: string }).code, '28P01', (err as Error).message);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const insufficientPrivilege = { code: '42501' };

// Without its real server this test fails rather than skips: a skip would read as a pass.
assert.ok(adminUrl !== '', 'WEIR_POSTGRES_URL is not set: run under hack/local-env/cli.ts run');

describe('PostgresTenantStore', () => {
  let store: PostgresTenantStore;
  let admin: pg.Client;
  const a = { tenant: `a-${run}`, password: password() };
  const b = { tenant: `b-${run}`, password: password() };
  const roleA = postgresTenantName(a.tenant);
  const roleB = postgresTenantName(b.tenant);

  before(async () => {
    store = new PostgresTenantStore({ connectionString: adminUrl });
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await store.ensureTenant(a);
    await store.ensureTenant(b);
  });
  after(async () => {
    await store.close();
    await admin.end();
  });

  it('names the role and schema after the tenant, with - as _', async () => {
    assert.deepEqual(await store.ensureTenant(a), {
      role: `weir_tenant_a_${run}`,
      schema: `weir_tenant_a_${run}`,
      database: 'postgres',
    });
  });

  it("lets a tenant's role create and use tables in its own schema, which is its search_path", async (t) => {
    const client = await connectAs(t, roleA, a.password);
    assert.deepEqual((await client.query('SELECT current_user AS "user", current_schema() AS schema')).rows, [
      { user: roleA, schema: roleA },
    ]);
    await client.query('CREATE TABLE events (id int PRIMARY KEY, body text)');
    await client.query("INSERT INTO events VALUES (1, 'hello')");
    assert.deepEqual((await client.query('SELECT body FROM events')).rows, [{ body: 'hello' }]);
    const owner = await admin.query("SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'events'", [
      roleA,
    ]);
    assert.deepEqual(owner.rows, [{ tableowner: roleA }]);
  });

  it("refuses a tenant's role another tenant's schema: its tables, creating there, and its role", async (t) => {
    const clientB = await connectAs(t, roleB, b.password);
    await clientB.query("CREATE TABLE secrets AS SELECT 'b-only' AS value");
    const clientA = await connectAs(t, roleA, a.password);
    await assert.rejects(clientA.query(`SELECT * FROM ${roleB}.secrets`), insufficientPrivilege);
    await assert.rejects(clientA.query(`CREATE TABLE ${roleB}.planted (id int)`), insufficientPrivilege);
    await assert.rejects(clientA.query(`SET ROLE ${roleB}`), insufficientPrivilege);
    assert.deepEqual((await clientB.query('SELECT value FROM secrets')).rows, [{ value: 'b-only' }]);
  });

  it("refuses a tenant's role creating in the public schema or creating schemas of its own", async (t) => {
    const client = await connectAs(t, roleA, a.password);
    await assert.rejects(client.query('CREATE TABLE public.planted (id int)'), insufficientPrivilege);
    await assert.rejects(client.query('CREATE SCHEMA planted'), insufficientPrivilege);
  });

  it('changes nothing when ensureTenant runs again with the same password', async (t) => {
    const live = await connectAs(t, roleA, a.password);
    await live.query('CREATE TABLE IF NOT EXISTS kept (id int)');
    const verifier = async () =>
      (await admin.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [roleA])).rows[0]
        .rolpassword as string;
    const before = await verifier();
    await store.ensureTenant(a);
    await store.ensureTenant(a);
    // A fresh verifier has a fresh salt, so an unchanged one shows the password was not rewritten.
    assert.equal(await verifier(), before);
    assert.deepEqual((await live.query('SELECT count(*)::int AS n FROM kept')).rows, [{ n: 0 }]);
    assert.ok(await canLogIn(roleA, a.password));
  });

  it('rotates the password: the new one logs in and the old one is refused', async () => {
    const tenant = `rotate-${run}`;
    const first = password();
    const second = password();
    const { role } = await store.ensureTenant({ tenant, password: first });
    assert.ok(await canLogIn(role, first));
    await store.ensureTenant({ tenant, password: second });
    assert.ok(await canLogIn(role, second));
    assert.equal(await canLogIn(role, first), false);
  });

  it('serializes concurrent ensureTenant calls for the same tenant', async () => {
    const tenant = { tenant: `race-${run}`, password: password() };
    const results = await Promise.all(Array.from({ length: 6 }, () => store.ensureTenant(tenant)));
    assert.equal(new Set(results.map((r) => r.role)).size, 1);
    assert.ok(await canLogIn(results[0]!.role, tenant.password));
  });

  it('provisions many tenants at once although they all grant on the same database and public schema', async () => {
    // Two stores, as two operator replicas during a handover would be, each with its own pool.
    const other = new PostgresTenantStore({ connectionString: adminUrl });
    try {
      const tenants = Array.from({ length: 12 }, (_, i) => ({ tenant: `many-${i}-${run}`, password: password() }));
      await Promise.all(tenants.map((tenant, i) => (i % 2 ? store : other).ensureTenant(tenant)));
      const { rows } = await admin.query(
        'SELECT count(*)::int AS n FROM pg_roles r, pg_namespace n WHERE r.rolname = ANY($1) AND n.nspname = r.rolname AND n.nspowner = r.oid',
        [tenants.map((t) => postgresTenantName(t.tenant))],
      );
      assert.deepEqual(rows, [{ n: tenants.length }]);
    } finally {
      await other.close();
    }
  });

  it('leaves nothing behind when a statement of a new tenant fails, and succeeds on the next call', async () => {
    const tenant = { tenant: `atomic-${run}`, password: password() };
    const role = postgresTenantName(tenant.tenant);
    // An event trigger refuses the tenant's schema after its role has been created in the same transaction.
    await admin.query(`CREATE FUNCTION weir_it_refuse_${run}() RETURNS event_trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands() WHERE object_identity = '${role}') THEN
          RAISE EXCEPTION 'schema refused by the test';
        END IF;
      END $$`);
    await admin.query(
      `CREATE EVENT TRIGGER weir_it_refuse_${run} ON ddl_command_end WHEN TAG IN ('CREATE SCHEMA') EXECUTE FUNCTION weir_it_refuse_${run}()`,
    );
    try {
      await assert.rejects(store.ensureTenant(tenant), /schema refused by the test/);
      const { rows } = await admin.query(
        'SELECT (SELECT count(*) FROM pg_roles WHERE rolname = $1)::int AS roles, (SELECT count(*) FROM pg_namespace WHERE nspname = $1)::int AS schemas',
        [role],
      );
      assert.deepEqual(rows, [{ roles: 0, schemas: 0 }], 'the role created before the failing statement was committed');
    } finally {
      await admin.query(`DROP EVENT TRIGGER weir_it_refuse_${run}`);
      await admin.query(`DROP FUNCTION weir_it_refuse_${run}()`);
    }
    // The pool's connection was rolled back and is usable again.
    for (let i = 0; i < 12; i++) await store.ensureTenant(tenant);
    assert.ok(await canLogIn(role, tenant.password));
  });

  it('puts back the role attributes and grants that someone changed by hand', async () => {
    await admin.query(`ALTER ROLE ${roleA} CREATEDB CREATEROLE`);
    await admin.query(`GRANT USAGE, CREATE ON SCHEMA ${roleA} TO PUBLIC`);
    await admin.query('GRANT CREATE ON SCHEMA public TO PUBLIC');
    await admin.query(`ALTER SCHEMA ${roleA} OWNER TO postgres`);
    await store.ensureTenant(a);
    const { rows } = await admin.query(
      `SELECT r.rolcreatedb, r.rolcreaterole, n.nspowner::regrole::text AS owner,
              has_schema_privilege('public', n.oid, 'USAGE') AS "publicUsage",
              has_schema_privilege('public', 'public', 'CREATE') AS "publicCreate"
         FROM pg_roles r, pg_namespace n WHERE r.rolname = $1 AND n.nspname = $1`,
      [roleA],
    );
    assert.deepEqual(rows, [
      { rolcreatedb: false, rolcreaterole: false, owner: roleA, publicUsage: false, publicCreate: false },
    ]);
  });

  it('takes over a schema of its name that existed before the role, and puts it in order', async (t) => {
    const tenant = { tenant: `early-${run}`, password: password() };
    const name = postgresTenantName(tenant.tenant);
    await admin.query(`CREATE SCHEMA ${name}`);
    await admin.query(`GRANT USAGE ON SCHEMA ${name} TO PUBLIC`);
    await store.ensureTenant(tenant);
    const { rows } = await admin.query(
      "SELECT n.nspowner::regrole::text AS owner, has_schema_privilege('public', n.oid, 'USAGE') AS \"publicUsage\" FROM pg_namespace n WHERE n.nspname = $1",
      [name],
    );
    assert.deepEqual(rows, [{ owner: name, publicUsage: false }]);
    const client = await connectAs(t, name, tenant.password);
    await client.query('CREATE TABLE mine (id int)');
  });

  it('grants CONNECT to the tenant where PUBLIC may not connect to the database', async (t) => {
    const database = `weir_noconnect_${run}`;
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.query(`REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC`);
    const url = new URL(adminUrl);
    url.pathname = `/${database}`;
    const closed = new PostgresTenantStore({ connectionString: url.toString() });
    t.after(async () => {
      await closed.close();
      await admin.query(`DROP DATABASE ${database} WITH (FORCE)`);
    });
    const tenant = { tenant: `noconnect-${run}`, password: password() };
    const { role } = await closed.ensureTenant(tenant);
    const tenantUrl = new URL(urlFor(role, tenant.password));
    tenantUrl.pathname = `/${database}`;
    const session = new pg.Client({ connectionString: tenantUrl.toString() });
    await session.connect();
    assert.deepEqual((await session.query('SELECT current_schema() AS s')).rows, [{ s: role }]);
    await session.end();
    // And in the database where PUBLIC may connect, no grant was needed.
    const { rows } = await admin.query(
      'SELECT count(*)::int AS n FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = current_database() AND a.grantee = $1::regrole',
      [roleA],
    );
    assert.deepEqual(rows, [{ n: 0 }]);
    await closed.dropTenant(tenant.tenant);
  });

  it("drops the schema with its tables and the role on dropTenant, ending the role's live sessions", async (t) => {
    const tenant = { tenant: `gone-${run}`, password: password() };
    const { role, schema } = await store.ensureTenant(tenant);
    const live = await connectAs(t, role, tenant.password);
    await live.query('CREATE TABLE doomed (id int)');
    assert.deepEqual(await store.dropTenant(tenant.tenant), { existed: true });
    await assert.rejects(live.query('SELECT 1'));
    const { rows } = await admin.query(
      'SELECT (SELECT count(*)::int FROM pg_roles WHERE rolname = $1) AS roles, (SELECT count(*)::int FROM pg_namespace WHERE nspname = $1) AS schemas',
      [schema],
    );
    assert.deepEqual(rows, [{ roles: 0, schemas: 0 }]);
    assert.equal(await canLogIn(role, tenant.password), false);
    assert.deepEqual(await store.dropTenant(tenant.tenant), { existed: false });
  });

  it('gives the longest tenant names distinct roles that Postgres does not truncate', async () => {
    const stem = `long-${run}-`.padEnd(55, 'x');
    const [first, second] = [`${stem}1`, `${stem}2`];
    assert.equal(first.length, 56);
    const names = [postgresTenantName(first), postgresTenantName(second)];
    assert.notEqual(names[0], names[1]);
    assert.deepEqual(
      names.map((n) => n.length),
      [63, 63],
    );
    // Up to 50 characters a name is used as is, and comes out shorter than any shortened one.
    assert.equal(postgresTenantName('x'.repeat(50)), `weir_tenant_${'x'.repeat(50)}`);
    const created = await store.ensureTenant({ tenant: first, password: 'p' });
    const { rows } = await admin.query('SELECT rolname FROM pg_roles WHERE rolname = $1', [names[0]]);
    assert.deepEqual([created.role, rows[0]?.rolname], [names[0], names[0]]);
  });

  it('logs what it did but never the password', async () => {
    const lines: string[] = [];
    const logged = new PostgresTenantStore({
      connectionString: adminUrl,
      log: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }),
    });
    const tenant = `logged-${run}`;
    const secrets = [password(), password()];
    try {
      for (const secret of secrets) await logged.ensureTenant({ tenant, password: secret });
      await logged.dropTenant(tenant);
    } finally {
      await logged.close();
    }
    const output = lines.join('');
    assert.match(output, /set postgres tenant password/);
    assert.doesNotMatch(output, /SCRAM-SHA-256/);
    for (const secret of secrets) assert.ok(!output.includes(secret));
  });

  it('rejects a bad tenant name or password before sending any query', async () => {
    // Nothing listens on port 1: a query sent would fail with a connection error instead.
    const offline = new PostgresTenantStore({ connectionString: 'postgres://weir:x@127.0.0.1:1/weir' });
    try {
      const bad = [
        '',
        'A',
        '-a',
        'a-',
        'a_b',
        'a.b',
        'a b',
        'a\n',
        'a"; DROP ROLE postgres; --',
        "a'",
        'a'.repeat(57),
        'ä',
      ];
      for (const tenant of bad) {
        await assert.rejects(offline.ensureTenant({ tenant, password: 'p' }), {
          name: 'TypeError',
          message: /invalid tenant name/,
        });
        await assert.rejects(offline.dropTenant(tenant), { name: 'TypeError', message: /invalid tenant name/ });
      }
      for (const pass of ['', 'with space', "quote'd\u00e9", 'x'.repeat(1025)]) {
        await assert.rejects(offline.ensureTenant({ tenant: 'ok', password: pass }), {
          name: 'TypeError',
          message: /password/,
        });
      }
    } finally {
      await offline.close();
    }
  });

  it('measures the round trip of a query in milliseconds', async () => {
    const ms = await store.ping();
    assert.ok(ms > 0 && ms < 5_000, `ping took ${ms}ms`);
  });
});
