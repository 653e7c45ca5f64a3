// Identity of a local checkout for CLI commands: owner/repo from the origin
// remote (or the folder name), and the current commit.
import { execFile } from "node:child_process";
import { basename } from "node:path";
import { promisify } from "node:util";
import { resolveApps } from "../config/load.ts";
import { PaasError } from "../errors.ts";
import type { EnvRef, Target } from "../names.ts";
import { loadConfigAt } from "./io.ts";

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

/**
 * The targets a command over one environment acts on (destroy, logs): each app of the folder's
 * `.paas.yml`, or only the one `app` (--app) names, under this checkout's owner/repo.
 */
export async function localTargets(
  dir: string,
  cwd: string,
  environment: EnvRef,
  app: string | undefined,
): Promise<{ repo: LocalRepo; targets: Target[] }> {
  const loaded = await loadConfigAt(dir, cwd);
  const keys = resolveApps(loaded).map((a) => a.key);
  const chosen = keys.filter((k) => app === undefined || k === app);
  if (chosen.length === 0)
    throw new PaasError(
      "no_such_app",
      `no app "${app}" under apps in ${loaded.file}; pass --app with one of: ${keys.join(", ")}`,
    );
  const repo = await localRepo(dir);
  return { repo, targets: chosen.map((a) => ({ owner: repo.owner, repo: repo.repo, app: a, environment })) };
}
