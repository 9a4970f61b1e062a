/**
 * Field types shared by the Weir kinds: durations, JSON pointers, CIDRs, quantities,
 * endpoints, Secret references and Kubernetes conditions.
 */
import { z } from 'zod';
import { DURATION_PATTERN, JSON_POINTER_PATTERN, listMap, validated } from './cel.ts';

/** A duration such as `500ms`, `30s`, `5m` or `1h30m`. */
export const Duration = validated(z.string().max(32), {
  rule: `self.matches('${DURATION_PATTERN}')`,
  message: 'must be a duration such as 500ms, 30s, 5m or 1h30m',
});

/**
 * A duration between `min` and `max`, both inclusive: every duration of the API has bounds
 * that keep the platform safe (a window of a year, a retry delay of a microsecond or a
 * retention of a decade would each exhaust something).
 */
export function boundedDuration(min: string, max: string) {
  return validated(
    z.string().max(32),
    {
      rule: `self.matches('${DURATION_PATTERN}')`,
      message: 'must be a duration such as 500ms, 30s, 5m or 1h30m',
    },
    {
      rule: `!self.matches('${DURATION_PATTERN}') || (duration(self) >= duration('${min}') && duration(self) <= duration('${max}'))`,
      message: `must be between ${min} and ${max}`,
    },
  );
}

/** A JSON pointer (RFC 6901) to a field of an event, such as `/user/id`. */
export const JsonPointer = validated(z.string().min(2).max(256), {
  rule: `self.matches('${JSON_POINTER_PATTERN}')`,
  message: "must be a JSON pointer (RFC 6901) to a field, such as /user/id; '~' must be escaped as ~0 or ~1",
});

/** An IPv4 or IPv6 network in CIDR notation. */
export const Cidr = validated(z.string().max(64), {
  rule: 'isCIDR(self)',
  message: 'must be a network in CIDR notation, such as 10.0.0.0/8 or 2001:db8::/32',
});

/** A Kubernetes resource quantity such as `500m`, `2` or `4Gi`. */
export const Quantity = validated(z.string().max(32), {
  rule: 'isQuantity(self)',
  message: 'must be a Kubernetes quantity such as 500m, 2 or 4Gi',
});

/** `host:port`, with the host a DNS name, an IPv4 address or a bracketed IPv6 address. */
export const HostPort = validated(z.string().max(261), {
  rule: "self.matches('^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\\\\[[0-9A-Fa-f:.]+\\\\]):[0-9]{1,5}$') && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535",
  message: 'must be host:port, such as kafka-0.kafka:9092 or [::1]:6379',
});

/** An http or https URL. */
export const HttpUrl = validated(z.string().max(2048), {
  rule: "isURL(self) && url(self).getScheme() in ['http', 'https']",
  message: 'must be an http or https URL',
});

/** A name that is a DNS label (RFC 1123), as namespaces are. */
export const DnsLabel = validated(z.string().min(1).max(63), {
  rule: "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
  message: 'must be a DNS label: lower-case letters, digits and -, starting and ending with a letter or digit',
});

/** A lower-case identifier usable as a SQL column or table name and as a metric label. */
export const Identifier = validated(z.string().min(1).max(63), {
  rule: "self.matches('^[a-z_][a-z0-9_]*$')",
  message: 'must be a lower-case identifier: letters, digits and _, not starting with a digit',
});

/** A reference to one key of a Secret in a namespace. */
export const SecretKeyRef = z.object({
  namespace: DnsLabel.describe('Namespace of the Secret.'),
  name: z.string().min(1).max(253).describe('Name of the Secret.'),
  key: z.string().min(1).max(253).describe('Key within the Secret.'),
});

/** A reference to a whole Secret whose keys a consumer knows (for example username and password). */
export const SecretRef = z.object({
  namespace: DnsLabel.describe('Namespace of the Secret.'),
  name: z.string().min(1).max(253).describe('Name of the Secret.'),
});

/** A reference to one key of a ConfigMap in the resource's own namespace. */
export const ConfigMapKeyRef = z.object({
  name: z.string().min(1).max(253).describe('Name of the ConfigMap, in the same namespace.'),
  key: z.string().min(1).max(253).describe('Key within the ConfigMap.'),
});

/** The Kubernetes condition shape (metav1.Condition). */
export const Condition = z.object({
  type: z.string().min(1).max(316).describe('Type of condition in CamelCase, such as Ready.'),
  status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
  reason: z.string().max(1024).optional().describe('Machine-readable CamelCase reason for the last transition.'),
  message: z.string().max(32768).optional().describe('Human-readable explanation of the last transition.'),
  lastTransitionTime: z.string().max(64).optional().describe('When the status last changed (RFC 3339).'),
  observedGeneration: z.int().min(0).optional().describe('The metadata.generation the condition was computed from.'),
});

/** The conditions list of a status. */
export const Conditions = listMap(
  z.array(Condition).max(32).describe('Current state of the resource as Kubernetes conditions; Ready summarises them.'),
  'type',
);
