// Identity of a local checkout for CLI commands: owner/repo from the origin
// remote (or the folder name), and the current commit.
import { execFile } from "node:child_process";
import { basename } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface LocalRepo {
  owner: string;
  repo: string;
  /** Full sha of HEAD, or undefined outside git or before the first commit. */
  sha: string | undefined;
  branch: string | undefined;
  /** Uncommitted changes to tracked files. */
  dirty: boolean;
}

async function git(dir: string, ...argv: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run("git", ["-C", dir, ...argv], { timeout: 10_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** Parses GitHub remotes: https://github.com/o/r(.git), git@github.com:o/r(.git), ssh://… */
export function parseRemote(url: string): { owner: string; repo: string } | undefined {
  const m = /[:/]([^/:]+)\/([^/]+?)(?:\.git)?\/?$/.exec(url.trim());
  return m ? { owner: m[1]!, repo: m[2]! } : undefined;
}

export async function localRepo(dir: string, override?: string): Promise<LocalRepo> {
  const [remote, sha, branch, status] = await Promise.all([
    git(dir, "remote", "get-url", "origin"),
    git(dir, "rev-parse", "--verify", "-q", "HEAD"),
    git(dir, "symbolic-ref", "--short", "-q", "HEAD"),
    git(dir, "status", "--porcelain", "--untracked-files=no"),
  ]);
  const fromOverride = override ? parseRemote(`/${override}`) : undefined;
  const fromRemote = remote ? parseRemote(remote) : undefined;
  const top = (await git(dir, "rev-parse", "--show-toplevel")) ?? dir;
  const id = fromOverride ?? fromRemote ?? { owner: "local", repo: basename(top) };
  return {
    ...id,
    sha: sha && /^[a-f0-9]{40}$/.test(sha) ? sha : undefined,
    branch: branch || undefined,
    dirty: Boolean(status),
  };
}
