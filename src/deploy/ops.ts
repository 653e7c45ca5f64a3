// Day-two operations as a use case: who may run them, which environments a
// command names (the default branch's .paas.yml decides), the history read
// back from GitHub, the pure plan (src/core/operations.ts), and then either a
// deploy of a recorded image (the deployer's hook, no rebuild) or, for a
// protected environment, a dispatch of the deploy workflow so GitHub's
// environment rules gate it. ChatOps (ops-chatops.ts) and the check run's
// buttons (ops-buttons.ts) are two front ends of this one.
import { resolveApps, type ResolvedApp } from "../config/load.ts";
import {
  current,
  HELP,
  planPromote,
  planRedeploy,
  planRollback,
  type OpCommand,
  type OpPlan,
  type TargetFacts,
} from "../core/operations.ts";
import { namedEnvironment } from "../core/plan.ts";
import { ConfigError } from "../errors.ts";
import { httpStatus, type GitHubPort, type Permission, type RepoInfo } from "../github/port.ts";
import { appEnvironmentName, parseAppEnvironment, previewPr, type EnvRef } from "../names.ts";
import { effectiveConfig, isProtected } from "./authorize.ts";
import { readHistory } from "./ops-history.ts";
import { DeployRefused, type DayTwoOptions, type KnownImage } from "./resume.ts";
import type { TrustedConfigs } from "./trust-config.ts";
import type { Runtime } from "../runtime/types.ts";
import { LOG_TAIL, logsOutput } from "./ops-logs.ts";

export type OpsGitHub = Pick<
  GitHubPort,
  "permission" | "deployments" | "deploymentStates" | "dispatchWorkflow" | "createCheckRun"
>;

/** What operations ask of the deployer (src/app/deployer.ts). */
export interface OpsDeployer {
  /** Throws DeployRefused (nothing changed) when the image cannot be planned there. */
  deployImage(
    repo: RepoInfo,
    k: KnownImage & { reason: string } & DayTwoOptions,
  ): Promise<{ deploymentId: number }>;
  pullRequestClosed(repo: RepoInfo, pr: number): Promise<void>;
}

export interface OpsDeps {
  github: OpsGitHub;
  deployer: OpsDeployer;
  trusted: Pick<TrustedConfigs, "get">;
  /** Recent log lines of an environment (`/paas logs`). */
  runtime: Pick<Runtime, "logs">;
  /** Web URL of the GitHub server, for links to check runs. */
  githubWebUrl: string;
  /** The release workflow's file name (PAAS_RELEASE_WORKFLOW), dispatched for protected environments. */
  workflow: string;
}

export interface OpRequest {
  login: string;
  command: OpCommand;
  /** The pull request the command was given in, if any: the default environment is its preview. */
  pr: number | undefined;
}

export interface OpResult {
  ok: boolean;
  /** Markdown for the reply (no secrets: names, shas, digests, deployment ids). */
  text: string;
}

/** Write permission operates environments, as it approves fork previews (docs/SECURITY.md). */
export function canOperate(p: Permission): boolean {
  return p === "admin" || p === "maintain" || p === "write";
}

interface Target {
  app: ResolvedApp;
  env: EnvRef;
  environment: string;
  isProtected: boolean;
}

const refuse = (text: string): OpResult => ({ ok: false, text });

export class Operations {
  readonly #d: OpsDeps;

  constructor(deps: OpsDeps) {
    this.#d = deps;
  }

  async run(repo: RepoInfo, req: OpRequest): Promise<OpResult> {
    const c = req.command;
    if (c.op === "help")
      return { ok: c.problem === undefined, text: (c.problem ? `${c.problem}.\n\n` : "") + HELP };
    const permission = await this.#d.github.permission(repo, req.login);
    if (!canOperate(permission))
      return refuse(
        `@${req.login} has ${permission} permission on ${repo.owner}/${repo.repo}: \`/paas ${c.op}\` needs write permission. Nothing was changed.`,
      );
    const apps = await this.#apps(repo);
    if (typeof apps === "string") return refuse(apps);
    if (c.op === "promote") return this.#promote(repo, apps, c);
    const targets = this.#targets(apps, c.env, req.pr);
    if (typeof targets === "string") return refuse(targets);
    if (c.op === "destroy") return this.#destroy(repo, targets);
    if (c.op === "logs") return this.#logs(repo, targets);
    const lines: string[] = [];
    let ok = true;
    for (const t of targets) {
      const facts = await this.#facts(repo, t);
      const plan = c.op === "redeploy" ? planRedeploy(facts) : planRollback(facts, c.to);
      const line = await this.#execute(repo, plan, `${c.op} requested by @${req.login}`, c.clusters);
      ok &&= line.ok;
      lines.push(line.text);
    }
    return { ok, text: lines.join("\n") };
  }

  async #promote(
    repo: RepoInfo,
    apps: ResolvedApp[],
    { from, to, clusters }: { from: string; to: string; clusters?: string[] | undefined },
  ): Promise<OpResult> {
    const sources = this.#targets(apps, from, undefined);
    if (typeof sources === "string") return refuse(sources);
    const lines: string[] = [];
    let ok = true;
    for (const s of sources) {
      const dest = this.#targets([s.app], to, undefined);
      if (typeof dest === "string") return refuse(dest);
      const plan = planPromote(await this.#facts(repo, s), await this.#facts(repo, dest[0]!));
      const line = await this.#execute(repo, plan, `promoted from ${s.environment}`, clusters);
      ok &&= line.ok;
      lines.push(line.text);
    }
    return { ok, text: lines.join("\n") };
  }

  /** Recent lines of each environment in a check run on its live commit; the reply links to it. */
  async #logs(repo: RepoInfo, targets: Target[]): Promise<OpResult> {
    const lines: string[] = [];
    let ok = true;
    for (const t of targets) {
      const live = current((await this.#facts(repo, t)).history);
      if (!live) {
        ok = false;
        lines.push(`Not done: nothing is live in ${t.environment}.`);
        continue;
      }
      const streams = await this.#d.runtime.logs(
        { owner: repo.owner, repo: repo.repo, app: t.app.key, environment: t.env },
        { tail: LOG_TAIL },
      );
      const id = await this.#d.github.createCheckRun(
        repo,
        live.ref,
        `paas logs: ${t.environment}`.slice(0, 100),
        {
          status: "completed",
          conclusion: "neutral",
          completedAt: new Date().toISOString(),
          output: logsOutput(t.environment, streams),
        },
      );
      lines.push(
        `Recent logs of ${t.environment} (secrets masked): [paas logs: ${t.environment}](${this.#d.githubWebUrl}/${repo.owner}/${repo.repo}/runs/${id})`,
      );
    }
    return { ok, text: lines.join("\n") };
  }

  async #destroy(repo: RepoInfo, targets: Target[]): Promise<OpResult> {
    const env = targets[0]!.env;
    if (env.kind !== "preview")
      return refuse(`\`/paas destroy\` removes previews only; ${targets[0]!.environment} is not one`);
    await this.#d.deployer.pullRequestClosed(repo, env.pr);
    return {
      ok: true,
      text: `Removed the preview of #${env.pr}. A new push to the pull request deploys it again.`,
    };
  }

  async #execute(
    repo: RepoInfo,
    plan: OpPlan,
    note: string,
    clusters: string[] | undefined,
  ): Promise<OpResult> {
    if (plan.kind === "refuse") return refuse(`Not done: ${plan.message}.`);
    if (plan.kind === "deploy") {
      const preview = parseAppEnvironment(plan.environment)?.environment.kind === "preview";
      let done: { deploymentId: number };
      try {
        done = await this.#d.deployer.deployImage(repo, {
          environment: plan.environment,
          sha: plan.entry.sha,
          image: plan.entry.image,
          reason: note,
          // A preview's check and comment row live on the PR head its deploy reported to.
          reportSha: preview ? plan.entry.ref : undefined,
          pinned: true,
          notice: `\n\nDay two: ${note}${clusters ? ` (clusters ${clusters.join(", ")} only)` : ""}.`,
          clusters,
        });
      } catch (e) {
        if (e instanceof DeployRefused) return refuse(`Not done: ${e.message}.`);
        throw e;
      }
      return {
        ok: true,
        text: `${capital(plan.summary)}: deployment ${done.deploymentId} (health-gated; the \`paas\` check shows its progress).`,
      };
    }
    const inputs = { environment: plan.environment, image: plan.entry.image, sha: plan.entry.sha };
    try {
      await this.#d.github.dispatchWorkflow(repo, this.#d.workflow, await this.#trustedBranch(repo), inputs);
    } catch (e) {
      const status = httpStatus(e);
      if (status === 404 || status === 422)
        return refuse(
          `Not done: ${plan.environment} is protected and the deploy workflow \`.github/workflows/${this.#d.workflow}\` cannot be dispatched with an image (HTTP ${status}): give it a \`workflow_dispatch\` trigger with the inputs \`environment\`, \`image\` and \`sha\` (docs/day-two.md).`,
        );
      throw e;
    }
    return { ok: true, text: `${capital(plan.summary)}.` };
  }

  async #trustedBranch(repo: RepoInfo): Promise<string> {
    return (await this.#d.trusted.get(repo)).defaultBranch;
  }

  async #facts(repo: RepoInfo, t: Target): Promise<TargetFacts> {
    return {
      environment: t.environment,
      history: await readHistory(this.#d.github, repo, t.environment),
      isProtected: t.isProtected,
    };
  }

  /** The apps of the default branch's .paas.yml with its authority applied, or why none. */
  async #apps(repo: RepoInfo): Promise<ResolvedApp[] | string> {
    const trusted = await this.#d.trusted.get(repo);
    if (trusted.loaded instanceof ConfigError)
      return `.paas.yml on the default branch ${trusted.defaultBranch} is invalid: fix it there first. Nothing was changed.`;
    return resolveApps(trusted.loaded).map((a) => ({
      ...a,
      config: effectiveConfig(a.config, a.config, trusted.defaultBranch),
    }));
  }

  /** The environments an argument names (every app's, unless it names one), or why it names none. */
  #targets(apps: ResolvedApp[], arg: string | undefined, pr: number | undefined): Target[] | string {
    let env: EnvRef;
    let only: string | undefined;
    if (arg === undefined)
      env = pr !== undefined ? { kind: "preview", pr } : { kind: "named", name: "production" };
    else {
      const parsed = parseAppEnvironment(arg);
      const preview = previewPr(arg);
      if (parsed) {
        env = parsed.environment;
        only = parsed.app || undefined;
      } else if (preview !== undefined) env = { kind: "preview", pr: preview };
      else
        return `\`${arg.slice(0, 80)}\` is not an environment: use production, a name from .paas.yml environments, or pr-<number>`;
    }
    const chosen = only === undefined ? apps : apps.filter((a) => a.key === only);
    if (chosen.length === 0) return `no app \`${only ?? ""}\` in the default branch's .paas.yml`;
    const out: Target[] = [];
    for (const app of chosen) {
      const entry = env.kind === "named" ? namedEnvironment(app.config, env.name) : undefined;
      if (env.kind === "named" && !entry)
        return `${env.name} is not an environment of the default branch's .paas.yml (defined: ${Object.keys(app.config.environments).join(", ") || "none"})`;
      out.push({
        app,
        env,
        environment: appEnvironmentName(app.key, env),
        isProtected: env.kind === "named" && entry !== undefined && isProtected(env.name, entry),
      });
    }
    return out;
  }
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
