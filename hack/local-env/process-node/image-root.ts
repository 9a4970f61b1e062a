/**
 * The files of Weir's image as the process node's containers see them. A container runs as
 * its pod's non-root user, which cannot read a repository inside a private directory (a
 * clone under /root, or in a `mktemp -d` directory: mode 0700). Then the node stages the
 * image the way a container runtime unpacks one: a tree of hard links to the repository's
 * files (symbolic links copied as they are) in a directory every user can traverse. Hard
 * links cost no copying, and the files keep their own modes.
 */
import { linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';

/** What the image leaves out of the repository. */
const LEFT_OUT = new Set(['.git', '.scratch']);

/** Whether every directory from the root down to `dir` lets other users through, and `dir` lets them list it. */
export function traversableByOthers(dir: string): boolean {
  const { root } = parse(dir);
  for (let d = dir; ; d = dirname(d)) {
    const mode = lstatSync(d).mode;
    if ((mode & 0o001) === 0) return false;
    if (d === dir && (mode & 0o004) === 0) return false;
    if (d === root) return true;
  }
}

/** Copies the tree at `from` to `to` as hard links, directories readable and traversable by all. */
export function linkTree(from: string, to: string): number {
  let files = 0;
  mkdirSync(to, { recursive: true, mode: 0o755 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (LEFT_OUT.has(entry.name)) continue;
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) files += linkTree(source, target);
    else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else if (entry.isFile()) {
      try {
        linkSync(source, target);
      } catch {
        // Another file system (or one without hard links): a copy does as well.
        copyFileSync(source, target);
      }
      files++;
    }
  }
  return files;
}

/**
 * The directory containers run from: the repository itself when other users can read it,
 * otherwise a staged tree under `nodeRoot`, made anew.
 */
export function imageRoot(repoRoot: string, nodeRoot: string): { dir: string; staged: boolean; files: number } {
  if (traversableByOthers(repoRoot)) return { dir: repoRoot, staged: false, files: 0 };
  const dir = join(nodeRoot, 'image');
  rmSync(dir, { recursive: true, force: true });
  const files = linkTree(repoRoot, dir);
  return { dir, staged: true, files };
}
