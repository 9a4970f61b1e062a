/**
 * Each tenant's slice of PostgreSQL: a LOGIN role and a schema of the same name that the
 * role owns and nobody else may use. The Tenant controller calls it on every reconcile, so
 * every method converges to the desired state and is safe to repeat or run concurrently.
 *
 * The password never reaches the server in the clear: it is sent as a SCRAM-SHA-256
 * verifier computed here (what psql's \password does), so neither a statement log nor an
 * error report can reveal it. Nothing here logs it or its verifier.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { assertTenantName } from '../../crds/tenant.ts';

/** Options for {@link PostgresTenantStore}. */
export interface PostgresTenantStoreOptions {
  /**
   * Admin connection, as a superuser: PostgreSQL 15 lets only a superuser state NOSUPERUSER
   * in ALTER ROLE, read pg_authid, and drop schemas owned by other roles.
   */
  connectionString: string;
  log?: Logger;
}

/** Where a tenant's applications connect to, besides the password. */
export interface PostgresTenant {
  role: string;
  /** The role's only schema and its search_path. */
  schema: string;
  database: string;
}

/** Postgres silently truncates longer identifiers (NAMEDATALEN - 1). */
const MAX_IDENTIFIER = 63;
const SCRAM_ITERATIONS = 4096;
const ROLE_ATTRIBUTES = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';

/** Sessions a tenant's role may hold unless its quota says otherwise. */
export const DEFAULT_CONNECTION_LIMIT = 20;
const pbkdf2Async = promisify(pbkdf2);

/**
 * The tenant's role and schema name: `weir_tenant_<name>` with `-` as `_`. Names that would
 * not fit 62 characters are cut and end in 16 hex digits of a hash, always making exactly
 * 63: the two forms differ in length, so no tenant can pick a name that maps onto another's.
 */
export function postgresTenantName(tenant: string): string {
  assertTenantName(tenant);
  const name = `weir_tenant_${tenant.replaceAll('-', '_')}`;
  if (name.length < MAX_IDENTIFIER) return name;
  const digest = createHash('sha256').update(tenant).digest('hex').slice(0, 16);
  return `${name.slice(0, MAX_IDENTIFIER - 17)}_${digest}`;
}

/** A key for pg_advisory_xact_lock, from a SHA-256 of `name`. */
function lockKey(name: string): string {
  return BigInt.asIntN(
    64,
    BigInt(`0x${createHash('sha256').update(`weir/${name}`).digest('hex').slice(0, 16)}`),
  ).toString();
}

/**
 * Serializes changes to the ACLs of the database and the public schema, which every tenant
 * touches: concurrent GRANTs on one object fail with "tuple concurrently updated".
 */
const SHARED_ACL_LOCK = lockKey('shared-acl');

async function scramKeys(
  password: string,
  salt: Buffer,
  iterations: number,
): Promise<{ storedKey: Buffer; serverKey: Buffer }> {
  const salted = await pbkdf2Async(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

/** A SCRAM-SHA-256 verifier in the form pg_authid.rolpassword stores (RFC 5803). */
async function scramVerifier(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { storedKey, serverKey } = await scramKeys(password, salt, SCRAM_ITERATIONS);
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Whether a stored verifier was made from `password`. */
async function verifierMatches(verifier: string | null, password: string): Promise<boolean> {
  const parts = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier ?? '');
  if (!parts) return false;
  const { storedKey, serverKey } = await scramKeys(password, Buffer.from(parts[2]!, 'base64'), Number(parts[1]));
  const expected = Buffer.concat([storedKey, serverKey]);
  const actual = Buffer.concat([Buffer.from(parts[3]!, 'base64'), Buffer.from(parts[4]!, 'base64')]);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** What ensureTenant finds before it changes anything. */
interface TenantState {
  database: string;
  exists: boolean;
  canReadVerifiers: boolean;
  publicCanCreate: boolean;
  /** Whether the role may connect to the database, through PUBLIC or its own grant. */
  canConnect: boolean;
  /** Whether the schema is owned by the role with nothing granted to PUBLIC; null when there is no schema. */
  schemaInOrder: boolean | null;
}

/** Manages tenants' roles and schemas in one database through an admin connection pool. */
export class PostgresTenantStore {
  #pool: pg.Pool;
  #log: Logger;

  constructor(options: PostgresTenantStoreOptions) {
    this.#log = (options.log ?? pino({ enabled: false })).child({ adapter: 'postgres-tenant-store' });
    // Enough for the operator's concurrent reconciles to create tenants side by side when
    // they arrive in bulk, few against a server's default of 100 connections.
    // Bounded waits everywhere: a Postgres that hangs, or a tenant's schema locked by a
    // long transaction, fails this tenant's reconcile (which retries) instead of holding the
    // connections every other tenant needs.
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: 10,
      application_name: 'weir-operator',
      connectionTimeoutMillis: 10_000,
      statement_timeout: 30_000,
      lock_timeout: 5_000,
      idle_in_transaction_session_timeout: 60_000,
    });
    // An idle connection that breaks must not crash the operator; the pool replaces it.
    this.#pool.on('error', (err) => this.#log.warn({ err: { message: err.message } }, 'postgres connection error'));
  }

  /**
   * Creates or updates the tenant's role and schema. The password is written only when
   * it changed, if the admin may read pg_authid (a superuser), and on every call otherwise.
   */
  async ensureTenant({
    tenant,
    password,
    connectionLimit = DEFAULT_CONNECTION_LIMIT,
  }: {
    tenant: string;
    password: string;
    /** Concurrent sessions the role may hold. */
    connectionLimit?: number;
  }): Promise<PostgresTenant> {
    if (!Number.isInteger(connectionLimit) || connectionLimit < 1)
      throw new TypeError('the connection limit must be a positive integer');
    const name = postgresTenantName(tenant);
    // Printable ASCII only: SASLprep leaves it alone, so every client library derives the same keys.
    if (typeof password !== 'string' || !/^[\x21-\x7e]{1,1024}$/.test(password)) {
      throw new TypeError('the password must be 1 to 1024 printable ASCII characters without spaces');
    }
    const log = this.#log.child({ tenant, role: name });
    return this.#batchedTransaction(async (run, client) => {
      const ident = (value: string) => client.escapeIdentifier(value);
      const literal = (value: string) => client.escapeLiteral(value);
      // The lock and everything a new tenant's statements depend on, in the round trip that
      // opens the transaction, so that what is already in order is not written again.
      const results = await run([
        `SELECT pg_advisory_xact_lock('${lockKey(`tenant/${name}`)}'::bigint)`,
        `SELECT current_database() AS database,
                EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${literal(name)}) AS "exists",
                has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS "canReadVerifiers",
                to_regnamespace('public') IS NOT NULL AND has_schema_privilege('public', 'public', 'CREATE') AS "publicCanCreate",
                has_database_privilege('public', current_database(), 'CONNECT')
                  OR COALESCE((SELECT has_database_privilege(r.oid, current_database(), 'CONNECT') FROM pg_catalog.pg_roles r WHERE r.rolname = ${literal(name)}), false) AS "canConnect",
                (SELECT COALESCE(n.nspowner = r.oid, false) AND NOT has_schema_privilege('public', n.oid, 'USAGE') AND NOT has_schema_privilege('public', n.oid, 'CREATE')
                   FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_roles r ON r.rolname = ${literal(name)} WHERE n.nspname = ${literal(name)}) AS "schemaInOrder"`,
      ]);
      const state = results.at(-1)!.rows[0] as TenantState;
      const role = ident(name);
      const schema = role;
      // What to write goes out with the COMMIT, in one more round trip.
      const writes: string[] = [];
      let passwordChanged = true;
      if (!state.exists) {
        writes.push(
          `CREATE ROLE ${role} ${ROLE_ATTRIBUTES} CONNECTION LIMIT ${connectionLimit} PASSWORD ${literal(await scramVerifier(password))}`,
        );
      } else {
        writes.push(`ALTER ROLE ${role} ${ROLE_ATTRIBUTES} CONNECTION LIMIT ${connectionLimit}`);
        if (state.canReadVerifiers) {
          const [stored] = await run([`SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = ${literal(name)}`]);
          passwordChanged = !(await verifierMatches(
            (stored!.rows[0] as { rolpassword: string | null } | undefined)?.rolpassword ?? null,
            password,
          ));
        }
        if (passwordChanged) writes.push(`ALTER ROLE ${role} PASSWORD ${literal(await scramVerifier(password))}`);
      }
      // The role owns its schema, so it can create there; nobody else gets anything on it. A
      // schema made here has no grants to PUBLIC; one found otherwise is put back in order.
      if (state.schemaInOrder === null) {
        writes.push(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`);
      } else if (!state.schemaInOrder) {
        writes.push(`ALTER SCHEMA ${schema} OWNER TO ${role}`, `REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`);
      }
      writes.push(`ALTER ROLE ${role} SET search_path TO ${schema}`);
      // The database and the public schema are shared by every tenant: changes to their ACLs
      // are serialized, and made only when needed, so that new tenants do not queue here.
      if (state.publicCanCreate || !state.canConnect) {
        writes.push(`SELECT pg_advisory_xact_lock('${SHARED_ACL_LOCK}'::bigint)`);
        // PostgreSQL 15 no longer lets PUBLIC create in public; older clusters and hand edits might.
        if (state.publicCanCreate) writes.push('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
        // Where CONNECT was revoked from PUBLIC, the tenant gets its own.
        if (!state.canConnect) writes.push(`GRANT CONNECT ON DATABASE ${ident(state.database)} TO ${role}`);
      }
      const done = () => {
        if (!state.exists) log.info('created postgres tenant');
        else if (passwordChanged) log.info('set postgres tenant password');
        else log.debug('postgres tenant up to date');
      };
      return { writes, result: { role: name, schema: name, database: state.database }, done };
    });
  }

  /**
   * Makes the tenant's role NOLOGIN and ends its sessions, keeping the role and schema:
   * what a deleted Tenant gets first, whatever its deletion policy. Resolves with whether
   * the role existed.
   */
  async disableLogin(tenant: string): Promise<boolean> {
    const name = postgresTenantName(tenant);
    const existed = await this.#transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(`tenant/${name}`)]);
      const { rowCount } = await client.query('SELECT FROM pg_catalog.pg_roles WHERE rolname = $1', [name]);
      if (rowCount) await client.query(`ALTER ROLE ${client.escapeIdentifier(name)} NOLOGIN`);
      return rowCount === 1;
    });
    // Committed before the sessions end, so that none can log in again between the two.
    const ended = await this.#pool.query(
      'SELECT pg_terminate_backend(pid, 10000) FROM pg_catalog.pg_stat_activity WHERE usename = $1',
      [name],
    );
    this.#log.info({ tenant, role: name, existed, sessionsEnded: ended.rowCount }, 'disabled postgres login');
    return existed;
  }

  /**
   * Drops the tenant's schema with everything in it and its role, after ending the role's
   * sessions. Does nothing for a tenant that is already gone.
   */
  async dropTenant(tenant: string): Promise<{ existed: boolean }> {
    const name = postgresTenantName(tenant);
    const lock = lockKey(`tenant/${name}`);
    // NOLOGIN must be committed before the sessions are ended, or a client could log in again between the two.
    const existed = await this.#transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lock]);
      const { rowCount } = await client.query('SELECT FROM pg_catalog.pg_roles WHERE rolname = $1', [name]);
      if (rowCount) await client.query(`ALTER ROLE ${client.escapeIdentifier(name)} NOLOGIN`);
      return rowCount === 1;
    });
    // Waits up to 10s for each backend to exit, so that the DROPs below do not queue behind its locks.
    // In the select list, not the WHERE clause, where Postgres could call it before filtering by user.
    const ended = await this.#pool.query(
      'SELECT pg_terminate_backend(pid, 10000) FROM pg_catalog.pg_stat_activity WHERE usename = $1',
      [name],
    );
    await this.#transaction(async (client) => {
      const role = client.escapeIdentifier(name);
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lock]);
      await client.query(`DROP SCHEMA IF EXISTS ${role} CASCADE`);
      const { rowCount } = await client.query('SELECT FROM pg_catalog.pg_roles WHERE rolname = $1', [name]);
      if (!rowCount) return;
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [SHARED_ACL_LOCK]);
      // Drops whatever else the role owns here (a renamed schema) and revokes its grants, CONNECT included.
      await client.query(`DROP OWNED BY ${role} CASCADE`);
      await client.query(`DROP ROLE ${role}`);
    });
    this.#log.info({ tenant, role: name, existed, sessionsEnded: ended.rowCount }, 'dropped postgres tenant');
    return { existed };
  }

  /** Round-trip time of a trivial query, in milliseconds. */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.#pool.query('SELECT 1');
    return performance.now() - started;
  }

  /** Closes every connection of the pool. */
  async close(): Promise<void> {
    await this.#pool.end();
  }

  /**
   * Runs `work` in a transaction on one pooled connection, in as few round trips as it can.
   * `run` sends its statements as one simple query, the first call opening the transaction;
   * the `writes` that `work` returns go out with the COMMIT, and `done` runs once they are
   * committed. The simple query protocol has no parameters: values go in as escaped
   * literals. A failed statement stops the rest of its query; the transaction is rolled back.
   */
  async #batchedTransaction<T>(
    work: (
      run: (statements: string[]) => Promise<pg.QueryResult[]>,
      client: pg.PoolClient,
    ) => Promise<{ writes: string[]; result: T; done: () => void }>,
  ): Promise<T> {
    let opened = false;
    return this.#transaction(
      async (client) => {
        const run = async (statements: string[]): Promise<pg.QueryResult[]> => {
          const batch = opened ? statements : ['BEGIN', ...statements];
          opened = true;
          const results = [await client.query(batch.join(';\n'))].flat() as pg.QueryResult[];
          return results.slice(results.length - statements.length);
        };
        const { writes, result, done } = await work(run, client);
        await client.query([...(opened ? [] : ['BEGIN']), ...writes, 'COMMIT'].join(';\n'));
        done();
        return result;
      },
      { begin: false },
    );
  }

  /** Runs `work` in a transaction on one pooled connection; rolls back if it throws. */
  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>, { begin = true } = {}): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    // A connection that breaks while checked out (Postgres shut down between two statements)
    // emits 'error' on the client, which the pool listens for only while the client is idle.
    const onError = (err: Error) => {
      broken = err;
      this.#log.warn({ err: { message: err.message } }, 'postgres connection error');
    };
    client.on('error', onError);
    try {
      if (begin) await client.query('BEGIN');
      const result = await work(client);
      if (begin) await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw err;
    } finally {
      // A connection that broke or could not roll back is discarded rather than handed to the next caller.
      client.off('error', onError);
      client.release(broken);
    }
  }
}
