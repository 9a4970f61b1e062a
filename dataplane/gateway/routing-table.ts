/**
 * What the gateway serves, as a pure function of the Tenants, Pipelines and
 * RateLimitPolicies it watches: for each pipeline its tenant, input topic, partition key,
 * enabled endpoints, schema and the accepted policies that apply to it, with their IP
 * lists, stream limits and connection caps compiled once per change. Every request looks
 * its pipeline up here; the table is rebuilt whenever one of the three kinds changes.
 */
import type { PipelineSpec } from '../../crds/pipeline.ts';
import { topicName } from '../../lib/platform/pipeline-names.ts';
import {
  tenantsByNamespace as liveTenants,
  type PipelineObject,
  type TenantEntry,
  type TenantObject,
} from '../../lib/platform/watched-objects.ts';
import { compileIpFilter, type IpFilter } from '../../lib/ratelimit/ip-filter.ts';
import { acceptPolicies, policiesFor, policyKey, type PolicyObject } from '../../lib/ratelimit/policy-set.ts';
import { strictestStreamLimits, type StreamLimits } from '../../lib/ratelimit/stream-message-limit.ts';

export type { PipelineObject, TenantEntry, TenantObject };

/** The protocols a pipeline can accept events through. */
export type Protocol = 'rest' | 'webSocket' | 'grpc';

/** A policy's cap on concurrent streams, per value of its first rule's key. */
export interface ConnectionCap {
  policy: PolicyObject;
  cap: number;
}

/** One pipeline as requests need it. */
export interface PipelineRoute {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  tenant: TenantEntry;
  /** The input topic, once the Pipeline controller has claimed it; until then events are refused as not ready. */
  topic: string | undefined;
  partitionKey: string | undefined;
  ingestion: Record<Protocol, boolean>;
  schema: PipelineSpec['schema'];
  /** Accepted policies that apply, namespace-wide ones first. */
  policies: PolicyObject[];
  ipFilter: IpFilter;
  streamLimits: StreamLimits;
  connectionCaps: ConnectionCap[];
  /** Whether any applying policy refuses requests when Redis is away. */
  failClosed: boolean;
}

/** Everything the gateway serves at one moment. */
export interface RoutingTable {
  tenantsByNamespace: Map<string, TenantEntry>;
  pipelines: Map<string, PipelineRoute>;
  /** Accepted policies by key, with the generation this table applies. */
  applied: Map<string, number>;
  /** Policies that lost to an older conflicting one, with the policies they lost to. */
  refused: Map<string, string[]>;
  /** IP lists of a policy that failed to compile, by policy key (the API server checks CIDRs, so only by surprise). */
  broken: Map<string, string>;
}

/** Builds the table; objects being deleted are left out. */
export function buildRoutingTable(
  tenants: readonly TenantObject[],
  pipelines: readonly PipelineObject[],
  policies: readonly PolicyObject[],
): RoutingTable {
  const tenantsByNamespace = liveTenants(tenants);
  const broken = new Map<string, string>();
  const usable = policies.filter((p) => {
    try {
      compileIpFilter([p.spec]);
      return true;
    } catch (err) {
      broken.set(policyKey(p), (err as Error).message);
      return false;
    }
  });
  const { accepted, refused } = acceptPolicies(usable);
  const routes = new Map<string, PipelineRoute>();
  for (const p of pipelines) {
    const namespace = p.metadata?.namespace;
    const name = p.metadata?.name;
    const tenant = namespace ? tenantsByNamespace.get(namespace) : undefined;
    if (!namespace || !name || !tenant || p.metadata?.deletionTimestamp) continue;
    const applying = policiesFor(accepted, namespace, name);
    const claimed = p.status?.topics?.find((t) => t.role === 'Input')?.name;
    routes.set(`${namespace}/${name}`, {
      key: `${namespace}/${name}`,
      namespace,
      name,
      tenant,
      // The claim is the controller's: a topic name computed here could point at one it has not made.
      topic: claimed === topicName(namespace, name, 'Input') ? claimed : undefined,
      partitionKey: p.spec.source.partitionKey,
      ingestion: {
        rest: p.spec.source.ingestion.rest,
        webSocket: p.spec.source.ingestion.webSocket,
        grpc: p.spec.source.ingestion.grpc,
      },
      schema: p.spec.schema,
      policies: applying,
      ipFilter: compileIpFilter(applying.map((a) => a.spec)),
      streamLimits: strictestStreamLimits(applying.map((a) => a.spec.streams)),
      connectionCaps: applying
        .filter((a) => a.spec.streams?.maxConnections !== undefined)
        .map((a) => ({ policy: a, cap: a.spec.streams!.maxConnections! })),
      failClosed: applying.some((a) => a.spec.onStoreFailure === 'FailClosed' && a.spec.mode === 'Enforce'),
    });
  }
  return {
    tenantsByNamespace,
    pipelines: routes,
    applied: new Map(accepted.map((a) => [policyKey(a), a.metadata?.generation ?? 0])),
    refused,
    broken,
  };
}
