import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignTasks, type MemberOwnership, type TaskMode } from './consumer-task-assigner.ts';

const CASES: {
  name: string;
  mode: TaskMode;
  partitions: number;
  members: MemberOwnership[];
  want: Record<string, number[]>;
}[] = [
  {
    name: 'gives a lone member every partition',
    mode: 'partitioned',
    partitions: 3,
    members: [{ memberId: 'a', owned: [] }],
    want: { a: [0, 1, 2] },
  },
  {
    name: 'spreads partitions evenly, the extra one to the first member by id',
    mode: 'partitioned',
    partitions: 5,
    members: [
      { memberId: 'b', owned: [] },
      { memberId: 'a', owned: [] },
    ],
    want: { a: [0, 1, 2], b: [3, 4] },
  },
  {
    name: 'lets members keep what they owned when a member joins, moving only what balance needs',
    mode: 'partitioned',
    partitions: 6,
    members: [
      { memberId: 'a', owned: [0, 1, 2] },
      { memberId: 'b', owned: [3, 4, 5] },
      { memberId: 'c', owned: [] },
    ],
    want: { a: [0, 1], b: [3, 4], c: [2, 5] },
  },
  {
    name: 'hands a departed member partitions to those that remain',
    mode: 'partitioned',
    partitions: 4,
    members: [{ memberId: 'a', owned: [0, 1] }],
    want: { a: [0, 1, 2, 3] },
  },
  {
    name: 'ignores partitions a member claims twice or that no longer exist',
    mode: 'partitioned',
    partitions: 2,
    members: [
      { memberId: 'a', owned: [1, 5] },
      { memberId: 'b', owned: [1] },
    ],
    want: { a: [1], b: [0] },
  },
  {
    name: 'in single mode gives every partition to the member that had them, the others stand by',
    mode: 'single',
    partitions: 3,
    members: [
      { memberId: 'a', owned: [] },
      { memberId: 'b', owned: [0, 1, 2] },
    ],
    want: { a: [], b: [0, 1, 2] },
  },
  {
    name: 'in single mode with no previous owner picks the lowest member id',
    mode: 'single',
    partitions: 2,
    members: [
      { memberId: 'z', owned: [] },
      { memberId: 'm', owned: [] },
    ],
    want: { m: [0, 1], z: [] },
  },
];

describe('the task assigner', () => {
  for (const c of CASES)
    it(c.name, () => assert.deepEqual(Object.fromEntries(assignTasks(c.members, c.partitions, c.mode)), c.want));

  it('assigns every partition exactly once, for any number of members', () => {
    for (let members = 1; members <= 7; members++)
      for (const partitions of [1, 6, 12]) {
        const result = assignTasks(
          Array.from({ length: members }, (_, i) => ({ memberId: `m${i}`, owned: [(i * 5) % partitions] })),
          partitions,
          'partitioned',
        );
        const all = [...result.values()].flat().sort((a, b) => a - b);
        assert.deepEqual(
          all,
          Array.from({ length: partitions }, (_, p) => p),
          `${members} members, ${partitions} partitions`,
        );
        const sizes = [...result.values()].map((p) => p.length);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes}`);
      }
  });
});
