// What the onboarding tests share: an example app as a repository without
// paas (no .paas.yml, no workflow), a repository of the harness installation
// holding it, the installation events that make the App onboard it, and the
// files of its onboarding branch, checked out to a folder as a user would.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { ONBOARDING_BRANCH } from "../../src/deploy/onboarding-files.ts";
import { INSTALLATION_ID, OWNER, OWNER_ID, type Harness } from "./app-harness.ts";
import { ROOT } from "./paas-cli.ts";

/** The example's files as a repository without paas: no .paas.yml, no workflow, no build output. */
export async function exampleFiles(name: string): Promise<Record<string, string>> {
  const base = join(ROOT, "examples", name);
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const rel = relative(base, p);
      if (rel === ".paas.yml" || rel === ".github" || rel === "target") continue;
      if (e.isDirectory()) await walk(p);
      else out[rel] = await readFile(p, "utf8");
    }
  };
  await walk(base);
  return out;
}

export interface OnboardingRepo {
  id: number;
  name: string;
  full: string;
}

/** Repositories of the harness installation, and what the App did with them. */
export function onboardingRepos(h: () => Harness, firstId: number) {
  let nextId = firstId;
  return {
    /** A repository whose default branch holds `files`. */
    add(name: string, files: Record<string, string>, defaultBranch = "main"): OnboardingRepo {
      const id = nextId++;
      h().github.addRepository({
        id,
        owner: OWNER,
        ownerId: OWNER_ID,
        name,
        installationId: INSTALLATION_ID,
        defaultBranch,
      });
      const head = id.toString(16).padStart(40, "c");
      for (const [path, text] of Object.entries(files))
        h().github.setFile(`${OWNER}/${name}`, head, path, text);
      h().github.setBranch(`${OWNER}/${name}`, defaultBranch, head);
      return { id, name, full: `${OWNER}/${name}` };
    },
    /** The installation event that adds `repos`, answered, and the onboarding it started, done. */
    async install(
      repos: OnboardingRepo[],
      event: "installation" | "installation_repositories",
    ): Promise<void> {
      assert.equal(await h().webhook(event, h().installationPayload(event, repos)), 200);
      await h().app.onboarding.idle();
    },
    pullsOf(full: string) {
      return [...h().github.pulls].filter(([k]) => k.startsWith(`${full.toLowerCase()}#`)).map(([, p]) => p);
    },
    /** The head commit of the onboarding branch and its files. */
    branch(full: string): { head: string; files: Map<string, string> } {
      const head = h().github.branches.get(`${full.toLowerCase()}:${ONBOARDING_BRANCH}`);
      assert.ok(head, `${full} has the onboarding branch`);
      return { head, files: h().github.repos.get(full.toLowerCase())!.files.get(head)! };
    },
  };
}

/** Writes `files` to a new folder (the caller removes it), as a checkout of the branch. */
export async function checkoutFiles(files: Map<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "paas-onboard-"));
  for (const [path, text] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}
