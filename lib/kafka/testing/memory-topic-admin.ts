/** An in-memory {@link TopicAdmin} for unit tests: topics in a map, every request recorded, and a switch that takes "Kafka" down. */
import { kafkaRefused, kafkaUnavailable, type TopicAdmin, type TopicSpec, type TopicState } from '../topic-admin.ts';

export class MemoryTopicAdmin implements TopicAdmin {
  readonly topics = new Map<string, TopicState>();
  /** Every request, as `describe a,b`, `create a`, `delete a`, `partitions a 6`, `config a retention.ms=1`. */
  readonly requests: string[] = [];
  /** While true every request fails as an unreachable broker does. */
  down = false;
  /** Kafka error codes the next requests are refused with, one each. */
  readonly refusals: string[] = [];

  async describe(names: string[]): Promise<Map<string, TopicState>> {
    this.#request(`describe ${names.join(',')}`);
    return new Map(names.filter((n) => this.topics.has(n)).map((n) => [n, structuredClone(this.topics.get(n)!)]));
  }

  async create(specs: TopicSpec[]): Promise<void> {
    this.#request(`create ${specs.map((s) => s.name).join(',')}`);
    for (const s of specs) {
      if (!this.topics.has(s.name))
        this.topics.set(s.name, {
          name: s.name,
          partitions: s.partitions,
          replicationFactor: s.replicationFactor,
          config: { ...s.config },
        });
    }
  }

  async increasePartitions(name: string, total: number): Promise<void> {
    this.#request(`partitions ${name} ${total}`);
    const topic = this.topics.get(name);
    if (topic) topic.partitions = Math.max(topic.partitions, total);
  }

  async alterConfig(name: string, config: Record<string, string>): Promise<void> {
    this.#request(
      `config ${name} ${Object.entries(config)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`,
    );
    const topic = this.topics.get(name);
    if (topic) Object.assign(topic.config, config);
  }

  async deleteTopics(names: string[]): Promise<void> {
    this.#request(`delete ${names.join(',')}`);
    for (const n of names) this.topics.delete(n);
  }

  async ping(): Promise<number> {
    this.#request('ping');
    return 0;
  }

  async close(): Promise<void> {}

  #request(what: string): void {
    this.requests.push(what);
    if (this.down) throw kafkaUnavailable(`${what}: Kafka at 127.0.0.1:9092 is unreachable: connection refused`);
    const kafkaCode = this.refusals.shift();
    if (kafkaCode) throw kafkaRefused(`${what}: ${kafkaCode}`, { kafkaCode, topic: what.split(' ')[1] ?? '' });
  }
}
