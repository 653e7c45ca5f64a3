// The onboarding pull request: when the App is installed on a repository
// without .paas.yml, detect the app on the default branch (the detection
// `paas detect` and the Action use, over the files read through the API) and
// open one pull request adding .paas.yml and the workflow.
// Never twice: GitHub holds the record (a pull request from the onboarding
// branch, open or closed, or that branch carrying the App's .paas.yml after a
// crash), so a restart or a second installation event opens nothing new.
// Never over an existing file: files are only added, and GitHub refuses to
// replace a file without its sha.
import { CONFIG_FILE, parseConfig, resolveApps } from "../config/load.ts";
import type { AppConfig } from "../config/schema.ts";
import { detect } from "../detect/index.ts";
import type { FileSource } from "../detect/types.ts";
import { DetectError, PaasError, messageOf } from "../errors.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { ONBOARDING_BRANCH, onboardingFiles, type OnboardingInput } from "./onboarding-files.ts";

export type OnboardingGitHub = Pick<
  GitHubPort,
  | "defaultBranch"
  | "branchHead"
  | "getFile"
  | "listFiles"
  | "createBranch"
  | "addFile"
  | "createPull"
  | "pullsFromBranch"
>;

export interface OnboardingDeps {
  github: OnboardingGitHub;
  log: {
    info(o: Record<string, unknown>, m: string): void;
    warn(o: Record<string, unknown>, m: string): void;
  };
  appUrl: string;
  action: string;
  workflow: string;
}

/** What one repository got: a pull request, or why none. */
export type OnboardingOutcome = "opened" | "configured" | "exists" | "empty";

/** First line of the .paas.yml the App writes: how a resumed onboarding recognises its own branch. */
const HEADER = "# paas configuration of ";

export class Onboarding {
  readonly #d: OnboardingDeps;
  readonly #running = new Set<Promise<unknown>>();
  /** Repositories being onboarded by this process (the same event twice opens one pull request). */
  readonly #busy = new Set<number>();

  constructor(deps: OnboardingDeps) {
    this.#d = deps;
  }

  /** installation.created / installation_repositories.added: onboard each in the background, one at a time. */
  repositoriesAdded(repos: RepoInfo[]): void {
    const p = (async () => {
      for (const r of repos) {
        await this.onboard(r).catch((e: unknown) =>
          this.#d.log.warn({ repository: `${r.owner}/${r.repo}`, err: messageOf(e) }, "onboarding failed"),
        );
      }
    })().finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  /** Resolves when no onboarding runs (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  async onboard(repo: RepoInfo): Promise<OnboardingOutcome> {
    if (this.#busy.has(repo.repositoryId)) return "exists";
    this.#busy.add(repo.repositoryId);
    try {
      return await this.#onboard(repo);
    } finally {
      this.#busy.delete(repo.repositoryId);
    }
  }

  async #onboard(repo: RepoInfo): Promise<OnboardingOutcome> {
    const { github, log } = this.#d;
    const where = { repository: `${repo.owner}/${repo.repo}` };
    const defaultBranch = await github.defaultBranch(repo);
    const head = await github.branchHead(repo, defaultBranch);
    if (!head) return "empty";
    if ((await github.getFile(repo, CONFIG_FILE, head)) !== undefined) return "configured";
    if ((await github.pullsFromBranch(repo, ONBOARDING_BRANCH)).length > 0) return "exists";
    const { paths, truncated } = await github.listFiles(repo, head);
    if (truncated)
      log.warn(where, "onboarding: the repository's file list is truncated; detection sees part of it");
    const files = new Set(paths);
    const input: OnboardingInput = {
      fullName: `${repo.owner}/${repo.repo}`,
      defaultBranch,
      detected: await detectApp(fileSource(files, (p) => github.getFile(repo, p, head))),
      appUrl: this.#d.appUrl,
      action: this.#d.action,
      workflow: this.#d.workflow,
    };
    const workflowPath = `.github/workflows/${this.#d.workflow}`;
    const workflowExists = files.has(workflowPath);
    const out = onboardingFiles(input, { workflowExists });
    if (!(await github.createBranch(repo, ONBOARDING_BRANCH, head))) {
      // The branch exists: only a branch this App started (a crash before the pull request) is resumed.
      const ours = await github.getFile(repo, CONFIG_FILE, ONBOARDING_BRANCH);
      if (!ours?.startsWith(HEADER)) {
        log.warn(
          { ...where, branch: ONBOARDING_BRANCH },
          "onboarding: the branch exists and is not the App's",
        );
        return "exists";
      }
    }
    await github.addFile(repo, {
      branch: ONBOARDING_BRANCH,
      path: CONFIG_FILE,
      content: out.config,
      message: "Add .paas.yml (detected by paas)",
    });
    if (!workflowExists)
      await github.addFile(repo, {
        branch: ONBOARDING_BRANCH,
        path: workflowPath,
        content: out.workflow,
        message: "Add the paas workflow",
      });
    const number = await github.createPull(repo, {
      title: out.title,
      head: ONBOARDING_BRANCH,
      base: defaultBranch,
      body: out.body,
    });
    log.info({ ...where, pr: number }, "onboarding pull request opened");
    return "opened";
  }
}

/** Detection over the default branch: as `paas detect` with no .paas.yml, or python for bare .py files. */
export async function detectApp(source: FileSource): Promise<OnboardingInput["detected"]> {
  const defaults = appConfig(undefined);
  try {
    return { plan: await detect(source, defaults), language: "auto" };
  } catch (e) {
    if (!(e instanceof PaasError)) throw e;
    const key = e instanceof DetectError ? e.key : "language";
    const bare = (await source.list("")).some((n) => n.endsWith(".py"));
    if (e instanceof DetectError && key === "language" && bare) {
      try {
        return { plan: await detect(source, appConfig("language: python\n")), language: "python" };
      } catch (again) {
        if (!(again instanceof PaasError)) throw again;
        return {
          error: again.message,
          key: again instanceof DetectError ? again.key : key,
          language: "python",
        };
      }
    }
    return { error: e.message, key, language: "auto" };
  }
}

function appConfig(text: string | undefined): AppConfig {
  return resolveApps(parseConfig(text))[0]!.config;
}

/** The files of one commit as detection reads them: listed from the tree, read on demand. */
function fileSource(paths: Set<string>, read: (path: string) => Promise<string | undefined>): FileSource {
  return {
    read: (path) => (paths.has(path) ? read(path) : Promise.resolve(undefined)),
    list(dir) {
      const prefix = dir === "" || dir === "." ? "" : `${dir.replace(/\/+$/, "")}/`;
      const names = new Set<string>();
      for (const p of paths) {
        if (!p.startsWith(prefix)) continue;
        const rest = p.slice(prefix.length);
        const slash = rest.indexOf("/");
        names.add(slash === -1 ? rest : rest.slice(0, slash + 1));
      }
      return Promise.resolve([...names].sort());
    },
  };
}
