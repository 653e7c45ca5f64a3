// The `paas` check run's buttons (GitHub's requested_action, at most 3): a
// successful deploy offers Redeploy and Rollback, plus Destroy preview on a
// preview or Promote to production on another environment. A click names the
// check run and its commit; the environment is the one the App deployed that
// commit's app to (its newest deployment), and the clicking user's permission
// is checked like a comment's (src/deploy/ops.ts). The answer is a check run
// of its own on the same commit, named after the operation.
import type { OpCommand } from "../core/operations.ts";
import type { CheckRunAction, GitHubPort, RepoInfo } from "../github/port.ts";
import { appEnvironmentName, appOfCheck, parseAppEnvironment, type EnvRef } from "../names.ts";
import type { OpsRunner } from "./ops-chatops.ts";

export type ButtonsGitHub = Pick<GitHubPort, "deploymentsOfCommit" | "createCheckRun">;

const PROMOTE = "promote:";

/** The buttons of a live environment: what a click on each does is `buttonCommand`. */
export function checkActions(env: EnvRef, environments: readonly string[]): CheckRunAction[] {
  const out: CheckRunAction[] = [
    { label: "Redeploy", description: "Deploy this image again (no rebuild)", identifier: "redeploy" },
    rollbackAction(),
  ];
  if (env.kind === "preview")
    out.push({
      label: "Destroy",
      description: "Remove this pull request's preview",
      identifier: "destroy",
    });
  else if (env.name !== "production" && environments.includes("production"))
    out.push({
      label: "Promote",
      description: "Deploy this image to production",
      identifier: `${PROMOTE}production`,
    });
  return out;
}

function rollbackAction(): CheckRunAction {
  return { label: "Rollback", description: "Deploy the previous successful image", identifier: "rollback" };
}

/**
 * A rollout over many clusters that failed after some took the new version: put those back on
 * the version the environment serves (the live deployment's image, as `/paas redeploy` does;
 * clusters already on it are verified, not deployed again).
 */
export function restoreAction(): CheckRunAction {
  return {
    label: "Roll back clusters",
    description: "Changed clusters back to the live one",
    identifier: RESTORE,
  };
}

const RESTORE = "restore";

/** The command a button's identifier stands for, in the environment the check deployed. */
export function buttonCommand(identifier: string, environment: string): OpCommand | undefined {
  if (identifier === "redeploy" || identifier === RESTORE) return { op: "redeploy", env: environment };
  if (identifier === "rollback") return { op: "rollback", env: environment, to: undefined };
  if (identifier === "destroy") return { op: "destroy", env: environment };
  if (identifier.startsWith(PROMOTE)) {
    const parsed = parseAppEnvironment(environment);
    const to = identifier.slice(PROMOTE.length);
    if (!parsed || !/^[a-z][a-z0-9-]{0,18}$/.test(to)) return undefined;
    return {
      op: "promote",
      from: environment,
      to: appEnvironmentName(parsed.app, { kind: "named", name: to }),
    };
  }
  return undefined;
}

export interface ButtonClick {
  headSha: string;
  checkName: string;
  identifier: string;
  login: string;
}

export class CheckButtons {
  readonly #github: ButtonsGitHub;
  readonly #ops: OpsRunner;

  constructor(github: ButtonsGitHub, ops: OpsRunner) {
    this.#github = github;
    this.#ops = ops;
  }

  async clicked(repo: RepoInfo, click: ButtonClick): Promise<void> {
    const appKey = appOfCheck(click.checkName);
    if (appKey === undefined) return;
    // The environment this commit's app was deployed to last (GitHub's record, any replica).
    const deployed = (await this.#github.deploymentsOfCommit(repo, click.headSha)).find(
      (d) => (typeof d.payload.app === "string" ? d.payload.app : "") === appKey,
    );
    const command = deployed ? buttonCommand(click.identifier, deployed.environment) : undefined;
    const env = deployed ? parseAppEnvironment(deployed.environment)?.environment : undefined;
    const result = command
      ? await this.#ops.run(repo, {
          login: click.login,
          command,
          pr: env?.kind === "preview" ? env.pr : undefined,
        })
      : { ok: false, text: "This check run has no deployment of this App to operate on." };
    const op = command?.op ?? "operation";
    await this.#github.createCheckRun(repo, click.headSha, `${click.checkName}: ${op}`, {
      status: "completed",
      conclusion: result.ok ? "success" : "neutral",
      completedAt: new Date().toISOString(),
      output: {
        title: result.ok ? `${op} started by @${click.login}` : `${op} not done`,
        summary: result.text,
      },
    });
  }
}
