// The checks a hand-off and a build-failure report share before either acts:
// the token against the body, the installation and repository ids, a fork
// approval, the commit (a PR's head or merge commit, else the workflow's own),
// the app the request names and the authorization gate (authorize.ts) under
// the default branch's .paas.yml. Each refusal is a HandoffRejected naming its
// check; nothing here writes to GitHub.
import type { z } from "zod";
import type { ForkGate } from "../app/forks.ts";
import { checkClaims, HandoffRejected, pullRequestOf, type ActionsClaims } from "../app/handoff.ts";
import { resolveApps, type LoadedConfig, type ResolvedApp } from "../config/load.ts";
import type { HandoffTarget } from "../contract/handoff.ts";
import { ConfigError } from "../errors.ts";
import type { DeploymentRecord, GitHubPort, RepoInfo } from "../github/port.ts";
import { authorize, type Authorization } from "./authorize.ts";
import { remember, type Clock } from "./common.ts";
import type { CommitConfigs } from "./configs.ts";
import type { RecentPulls } from "./pulls.ts";
import { trustedApp, type TrustedConfig, type TrustedConfigs } from "./trust-config.ts";

/** Newest deployments of a repository searched for a preview's recorded image (day two). */
const RECORDED_LOOKBACK = 100;

/** The GitHub calls admission makes. */
export type AdmissionGitHub = Pick<
  GitHubPort,
  "findInstallation" | "repository" | "getPull" | "deploymentsOfCommit" | "deployments"
>;

export interface AdmissionDeps {
  github: AdmissionGitHub;
  clock: Clock;
  configs: CommitConfigs;
  trusted: TrustedConfigs;
  forks?: ForkGate | undefined;
  /** Remembers the pull request read here for the pipeline's newest-wins check (pulls.ts). */
  pulls?: Pick<RecentPulls, "getPull"> | undefined;
}

/** What admission learned: the repository, its PR if any, the commit reported on, and both configs (read in parallel). */
export interface Admitted {
  repo: RepoInfo;
  config: Promise<LoadedConfig | ConfigError>;
  trusted: Promise<TrustedConfig>;
  forkPr: number | undefined;
  pr: number | undefined;
  reportSha: string;
  /** Day two: a dispatched run handing off an image the App recorded for another commit (recordedImage). */
  recorded: boolean;
}

const CACHE_TTL_MS = 5 * 60_000;

export class Admission {
  readonly #d: AdmissionDeps;
  /** Installed repositories learned from signed webhooks or looked up, for a few minutes. */
  readonly #repos = new Map<string, RepoInfo & { expires: number }>();

  constructor(deps: AdmissionDeps) {
    this.#d = deps;
  }

  noteRepository(r: RepoInfo): void {
    remember(this.#repos, r.owner.toLowerCase() + "/" + r.repo.toLowerCase(), {
      ...r,
      expires: this.#d.clock.now().getTime() + CACHE_TTL_MS,
    });
  }

  forgetInstallation(installationId: number): void {
    for (const [k, v] of this.#repos) if (v.installationId === installationId) this.#repos.delete(k);
  }

  forgetRepository(repositoryId: number): void {
    for (const [k, v] of this.#repos) if (v.repositoryId === repositoryId) this.#repos.delete(k);
  }

  /** The checks up to the commit's config; `early` runs the caller's own body checks once the repository is known installed. */
  async admit(
    claims: ActionsClaims,
    body: HandoffTarget & { configBlob?: string | undefined },
    early?: () => void,
  ): Promise<Admitted> {
    checkClaims(claims, body);
    const repo = await this.#installedRepository(body.repository, claims);
    early?.();
    // Read both .paas.yml files while the commit is checked: all are reads of this repository.
    // A pull request's merge commit usually has its head's file, read by the webhook (configs.ts).
    const config = this.#d.configs.get(repo, body.sha, body.configBlob);
    config.catch(() => undefined);
    const trusted = this.#d.trusted.get(repo);
    trusted.catch(() => undefined);
    // A dispatched build of an approved fork PR (forks.ts): bound to that PR's approved head sha.
    const forkPr = await this.#d.forks?.approvedDispatch(repo, claims, body);
    const pr = forkPr ?? pullRequestOf(claims);
    const recorded =
      pr === undefined && body.sha !== claims.sha && (await this.#recordedImage(repo, claims, body));
    const reportSha =
      pr === undefined
        ? recorded
          ? body.sha
          : workflowCommit(claims, body)
        : await this.#pullCommit(repo, pr, body, forkPr);
    return { repo, config, trusted, forkPr, pr, reportSha, recorded };
  }

  /**
   * Day two (docs/day-two.md): a workflow_dispatch run may hand off another commit than its own
   * only to deploy an image this App already deployed for that commit (GitHub's deployments
   * record it): the release workflow of a rollback or promotion into a protected environment,
   * whose job GitHub gated. The environment rules are authorize.ts's, as for any hand-off.
   */
  async #recordedImage(repo: RepoInfo, claims: ActionsClaims, body: HandoffTarget): Promise<boolean> {
    const image = (body as { image?: unknown }).image;
    if (claims.event_name !== "workflow_dispatch" || typeof image !== "string") return false;
    const recorded = (d: DeploymentRecord) => d.payload.image === image && d.payload.sha === body.sha;
    if ((await this.#d.github.deploymentsOfCommit(repo, body.sha)).some(recorded)) return true;
    // A preview's deployment is recorded under its pull request's head while its image was built
    // from the merge commit (payload.sha): promoting it finds it among the repository's newest.
    return (await this.#d.github.deployments(repo, RECORDED_LOOKBACK)).some(recorded);
  }

  /** The app the request names, and the gate's answer (authorize.ts) for it under the default branch's config. */
  async authorized(
    claims: ActionsClaims,
    body: HandoffTarget,
    loaded: LoadedConfig,
    admitted: Pick<Admitted, "trusted" | "forkPr">,
  ): Promise<{ app: ResolvedApp; auth: Authorization }> {
    const app = resolveApps(loaded).find((a) => a.key === body.app);
    if (!app) {
      throw new HandoffRejected(
        "app",
        body.app
          ? `app "${body.app}" is not defined under apps in .paas.yml`
          : "this repository's .paas.yml defines apps: name one in the hand-off's app field",
      );
    }
    const authority = await admitted.trusted;
    if (authority.loaded instanceof ConfigError) {
      throw new HandoffRejected(
        "default_branch_config",
        `.paas.yml on the default branch ${authority.defaultBranch.slice(0, 100)} is invalid: fix it there (environments, their branches, domains and secrets are read from it). Nothing was deployed.`,
      );
    }
    const auth = authorize({
      claims,
      body,
      defaultBranch: authority.defaultBranch,
      trusted: trustedApp(authority, app.key),
      deployed: app,
      forkPr: admitted.forkPr,
    });
    if (!auth.ok) throw new HandoffRejected(auth.check, auth.message);
    return { app, auth };
  }

  /** A pull request's hand-off: the PR is open, not a fork's (unless approved), and the commit its head or merge commit. */
  async #pullCommit(
    repo: RepoInfo,
    pr: number,
    body: HandoffTarget,
    forkPr: number | undefined,
  ): Promise<string> {
    const pull = await (this.#d.pulls ?? this.#d.github).getPull(repo, pr);
    if (!pull) throw new HandoffRejected("sha", `pull request #${pr} does not exist in ${body.repository}`);
    if (pull.state !== "open")
      throw new HandoffRejected(
        "pull_request",
        `pull request #${pr} is closed: previews deploy only open pull requests`,
      );
    // A fork's PR deploys only through an approval, even if its pull_request run got a token.
    if (forkPr === undefined && pull.headRepoId !== pull.baseRepoId)
      throw new HandoffRejected(
        "approval",
        `pull request #${pr} comes from a fork: a user with write permission must approve it with /paas deploy`,
      );
    if (body.sha !== pull.headSha && body.sha !== pull.mergeSha) {
      throw new HandoffRejected(
        "sha",
        `${body.sha.slice(0, 12)} is neither the head nor the merge commit of pull request #${pr}; push again to deploy the current head`,
      );
    }
    return pull.headSha;
  }

  async #installedRepository(fullName: string, claims: ActionsClaims): Promise<RepoInfo> {
    const key = fullName.toLowerCase();
    let info = this.#repos.get(key);
    if (!info || info.expires < this.#d.clock.now().getTime()) {
      info = await this.#lookUp(fullName);
      remember(this.#repos, key, info);
    }
    if (String(info.ownerId) !== claims.repository_owner_id) {
      throw new HandoffRejected(
        "installation",
        `the token's repository owner is not the owner of ${fullName} known to this App's installation`,
      );
    }
    if (String(info.repositoryId) !== claims.repository_id) {
      throw new HandoffRejected("repository", `the token's repository_id is not the id of ${fullName}`);
    }
    return info;
  }

  async #lookUp(fullName: string): Promise<RepoInfo & { expires: number }> {
    const [owner, name] = fullName.split("/") as [string, string];
    const inst = await this.#d.github.findInstallation(owner, name);
    if (!inst)
      throw new HandoffRejected(
        "installation",
        `the App is not installed on ${fullName}; install it on this repository`,
      );
    const partial = { owner, repo: name, installationId: inst.installationId };
    // The same read names the default branch: the trusted config need not read it again.
    const { repositoryId, defaultBranch } = await this.#d.github.repository(partial);
    this.#d.trusted.noteDefaultBranch(repositoryId, defaultBranch);
    return {
      ...partial,
      ownerId: inst.ownerId,
      repositoryId,
      expires: this.#d.clock.now().getTime() + CACHE_TTL_MS,
    };
  }
}

/** Without a pull request the body's commit is the one the workflow ran on. */
function workflowCommit(claims: ActionsClaims, body: HandoffTarget): string {
  if (body.sha !== claims.sha) {
    throw new HandoffRejected(
      "sha",
      `the body's sha ${body.sha.slice(0, 12)} is not the commit the workflow ran on (${claims.sha.slice(0, 12)})`,
    );
  }
  return body.sha;
}

/**
 * One use per OIDC token (jti -> what it did) in this process, shared by the hand-off and the
 * build-failure report: a token cannot do two different things. GitHub's deployments hold
 * the uses across restarts.
 */
export class TokenUses {
  readonly #uses = new Map<string, string>();

  /** Records the use; the same use again is a retry (returns false), another one a replay (throws). */
  claim(jti: string, use: string): boolean {
    const used = this.#uses.get(jti);
    if (used !== undefined && used !== use) throw replayed();
    if (used !== undefined) return false;
    remember(this.#uses, jti, use);
    return true;
  }

  /** Forgets a use that failed, so its retry is not a replay. */
  release(jti: string): void {
    this.#uses.delete(jti);
  }
}

export function replayed(): HandoffRejected {
  return new HandoffRejected(
    "replay",
    "this token was already used for another hand-off: each OIDC token deploys once; request a new token",
  );
}

/** A request body as its contract schema reads it; else a 400 refusal naming the first wrong field. */
export function parseBody<T>(schema: z.ZodType<T>, rawBody: unknown): T {
  const parsed = schema.safeParse(rawBody);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  throw new HandoffRejected(
    "body",
    `invalid request body: ${first?.path.join(".") || "(root)"} must be ${first?.message ?? "valid"}`,
  );
}
