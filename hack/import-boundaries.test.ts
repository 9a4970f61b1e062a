import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname });

/** The no-restricted-imports messages ESLint gives `text` as if it were the file at `filePath`. */
async function restricted(filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the direction of imports', () => {
  const cases: [string, string, string, RegExp | undefined][] = [
    [
      'refuses the data plane importing the operator',
      'dataplane/gateway/x.ts',
      "import '../../operator/main.ts';",
      /share code only through lib/,
    ],
    [
      'refuses the operator importing the data plane',
      'operator/pipeline/x.ts',
      "import '../../dataplane/processor/main.ts';",
      /share code only through lib/,
    ],
    [
      'refuses the library importing the operator',
      'lib/kube/x.ts',
      "import '../../operator/main.ts';",
      /depends on neither/,
    ],
    [
      'refuses shipped code importing hack/',
      'lib/kafka/x.ts',
      "import '../../hack/local-env/control-client.ts';",
      /hack\/, bench\/ and e2e\/ do not/,
    ],
    [
      'refuses shipped code importing bench/',
      'operator/x.ts',
      "import '../bench/pool.ts';",
      /hack\/, bench\/ and e2e\/ do not/,
    ],
    [
      'refuses shipped code importing a test-only helper',
      'lib/redis/x.ts',
      "import '../kafka/testing/topic-admin-contract.ts';",
      /tests only/,
    ],
    [
      'refuses the API importing the library',
      'crds/x.ts',
      "import '../lib/errors/errors.ts';",
      /depends on nothing of Weir/,
    ],
    [
      'lets the data plane import the library and the API',
      'dataplane/gateway/x.ts',
      "import '../../lib/errors/errors.ts';\nimport '../../crds/pipeline.ts';",
      undefined,
    ],
    [
      'lets a library test use the local environment',
      'lib/kafka/x.test.ts',
      "import '../../hack/local-env/control-client.ts';",
      undefined,
    ],
  ];
  for (const [name, file, text, expected] of cases) {
    it(name, async () => {
      const messages = await restricted(file, text);
      if (expected)
        assert.ok(
          messages.some((m) => expected.test(m)),
          `no matching error for ${file}: ${JSON.stringify(messages)}`,
        );
      else assert.deepEqual(messages, []);
    });
  }
});
