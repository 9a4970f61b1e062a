/** How a Weir client reaches Kafka: its brokers, and SASL and TLS where the cluster asks for them. */
import type { SASLOptions } from 'kafkajs';

/** The SCRAM user a client connects as (a tenant's, in a processor). */
export interface KafkaSasl {
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  username: string;
  password: string;
}

/** Brokers and security of a connection. */
export interface KafkaConnection {
  brokers: string[];
  sasl?: KafkaSasl;
  /** Connect with TLS, verifying the brokers against the system roots. */
  tls?: boolean;
}

/** kafkajs's options for the connection's security. */
export function kafkajsSecurity(connection: Pick<KafkaConnection, 'sasl' | 'tls'>): {
  sasl?: SASLOptions;
  ssl?: boolean;
} {
  const { sasl, tls } = connection;
  const out: { sasl?: SASLOptions; ssl?: boolean } = tls ? { ssl: true } : {};
  if (sasl)
    out.sasl =
      sasl.mechanism === 'SCRAM-SHA-512'
        ? { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password }
        : { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
  return out;
}

/** @platformatic/kafka's options for the connection's security. */
export function platformaticSecurity(connection: Pick<KafkaConnection, 'sasl' | 'tls'>): {
  sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
  tls?: { rejectUnauthorized: true };
} {
  const { sasl, tls } = connection;
  return {
    ...(sasl ? { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } } : {}),
    ...(tls ? { tls: { rejectUnauthorized: true } } : {}),
  };
}
