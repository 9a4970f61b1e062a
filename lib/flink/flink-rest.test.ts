import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rootCause } from './flink-rest.ts';

describe('rootCause', () => {
  const cases: { name: string; errors: string[]; want: string }[] = [
    {
      name: 'takes the message of the last Caused by line, without its exception class',
      errors: [
        'Internal server error.',
        "<Exception on server side:\norg.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to fetchResults.\n\tat org.apache.Foo(Foo.java:1)\nCaused by: org.apache.flink.table.gateway.service.utils.SqlExecutionException: Failed to execute the operation x.\nCaused by: org.apache.flink.table.api.ValidationException: Object 't' not found\n\tat org.apache.Bar(Bar.java:2)",
      ],
      want: "Object 't' not found",
    },
    {
      name: 'takes the first line of a stack without causes',
      errors: ['org.apache.flink.runtime.rest.NotFoundException: Job 00ff not found\n\tat org.apache.Foo(Foo.java:1)'],
      want: 'Job 00ff not found',
    },
    {
      name: 'keeps a plain message as it is',
      errors: ['Job could not be found.'],
      want: 'Job could not be found.',
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(rootCause(c.errors), c.want));

  it('cuts a very long message', () => {
    assert.ok(rootCause(['x'.repeat(5000)]).length <= 2001);
  });
});
