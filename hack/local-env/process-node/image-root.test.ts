import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { imageRoot, traversableByOthers } from './image-root.ts';

function repository(mode: number) {
  const parent = mkdtempSync(join(tmpdir(), 'weir-image-'));
  chmodSync(parent, mode);
  const repo = join(parent, 'weir');
  mkdirSync(join(repo, 'node_modules', '.bin'), { recursive: true });
  mkdirSync(join(repo, '.git'));
  writeFileSync(join(repo, 'package.json'), '{}');
  writeFileSync(join(repo, 'node_modules', 'x.js'), 'export {}');
  writeFileSync(join(repo, '.git', 'HEAD'), 'ref');
  symlinkSync('../x.js', join(repo, 'node_modules', '.bin', 'x'));
  const node = join(mkdtempSync(join(tmpdir(), 'weir-node-')), 'root');
  mkdirSync(node);
  chmodSync(join(node, '..'), 0o711);
  return { repo, node };
}

describe('the image the process node runs containers from', () => {
  it('is the repository itself when other users can read it', () => {
    const { repo, node } = repository(0o755);
    assert.equal(traversableByOthers(repo), true);
    assert.deepEqual(imageRoot(repo, node), { dir: repo, staged: false, files: 0 });
  });

  it('is a staged tree of the repository’s files when the repository sits in a private directory', () => {
    const { repo, node } = repository(0o700);
    assert.equal(traversableByOthers(repo), false);
    const image = imageRoot(repo, node);
    assert.equal(image.staged, true);
    assert.equal(readFileSync(join(image.dir, 'node_modules', 'x.js'), 'utf8'), 'export {}');
    assert.equal(readlinkSync(join(image.dir, 'node_modules', '.bin', 'x')), '../x.js', 'links are kept as links');
    assert.equal(statSync(join(image.dir, 'node_modules')).mode & 0o005, 0o005, 'directories are open to every user');
    assert.throws(() => statSync(join(image.dir, '.git')), /ENOENT/, 'the repository history is not part of the image');
    assert.equal(traversableByOthers(image.dir), true);
  });
});
