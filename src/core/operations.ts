// Day-two operations, pure: (an environment's history as GitHub's deployments
// record it, a command) → what to do. Nothing is rebuilt: every operation
// deploys an image some earlier deploy recorded (image, digest, commit, config
// digest in the deployment's payload), so it works after a restart and on any
// replica. Protected environments are never deployed directly: the plan says
// "dispatch", and the deploy workflow runs in the GitHub environment with its
// rules (docs/day-two.md).
import { createHash } from "node:crypto";
import type { DeploySpec } from "./spec.ts";

/** One deployment of an environment, as its payload and statuses record it. */
export interface HistoryEntry {
  /** GitHub deployment id. */
  id: number;
  /** GitHub environment name (`production`, `preview/pr-12`, `staging/api`). */
  environment: string;
  /** The commit the deployment is on (a PR's head for previews). */
  ref: string;
  /** The built commit. */
  sha: string;
  /** `registry/name@sha256:…` */
  image: string;
  digest: string;
  app: string;
  configDigest: string | undefined;
  /** The newest status. */
  state: string | undefined;
  /** It was reported live at least once (a success status). */
  wasLive: boolean;
}

export type OpCommand =
  | { op: "redeploy"; env: string | undefined; clusters?: string[] }
  | { op: "rollback"; env: string | undefined; to: string | undefined; clusters?: string[] }
  | { op: "promote"; from: string; to: string; clusters?: string[] }
  | { op: "destroy"; env: string | undefined }
  | { op: "logs"; env: string | undefined }
  | { op: "help"; problem: string | undefined };

export type OpName = OpCommand["op"];

const ENV_ARG = "[a-z0-9][a-z0-9/-]{0,80}";
const FORMS: readonly [RegExp, (m: RegExpExecArray) => OpCommand][] = [
  [new RegExp(`^redeploy(?:\\s+(${ENV_ARG}))?$`), (m) => ({ op: "redeploy", env: m[1] })],
  [
    new RegExp(`^rollback(?:\\s+(?!to\\s)(${ENV_ARG}))?(?:\\s+to\\s+([0-9a-f]{7,40}|\\d{1,15}))?$`),
    (m) => ({ op: "rollback", env: m[1], to: m[2] }),
  ],
  [
    new RegExp(`^promote\\s+(${ENV_ARG})\\s+to\\s+(${ENV_ARG})$`),
    (m) => ({ op: "promote", from: m[1]!, to: m[2]! }),
  ],
  [new RegExp(`^destroy(?:\\s+(${ENV_ARG}))?$`), (m) => ({ op: "destroy", env: m[1] })],
  [new RegExp(`^logs(?:\\s+(${ENV_ARG}))?$`), (m) => ({ op: "logs", env: m[1] })],
  [/^help$/, () => ({ op: "help", problem: undefined })],
];

/**
 * The command of a comment whose first line starts with `/paas`; undefined for any other comment
 * and for `/paas deploy` (the fork approval, src/app/forks.ts). Anything else after `/paas` is help.
 */
export function parseOpCommand(body: string): OpCommand | undefined {
  const line = body.trim().split(/\r?\n/, 1)[0]!.trim();
  const m = /^\/paas(?:\s+(.*))?$/i.exec(line);
  if (!m) return undefined;
  const rest = (m[1] ?? "").trim().replace(/\s+/g, " ");
  if (/^deploy\b/i.test(rest)) return undefined;
  // `--cluster <name>` (repeatable): only those clusters of a many-cluster environment (docs/clusters.md).
  const clusters: string[] = [];
  const lower = rest
    .toLowerCase()
    .replace(
      /(?:^|\s)--cluster(?:\s+|=)([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)(?=\s|$)/g,
      (_m, name: string) => {
        clusters.push(name);
        return "";
      },
    )
    .trim();
  if (lower === "") return { op: "help", problem: undefined };
  for (const [re, make] of FORMS) {
    const found = re.exec(lower);
    if (!found) continue;
    const command = make(found);
    if (clusters.length === 0) return command;
    if (command.op !== "redeploy" && command.op !== "rollback" && command.op !== "promote")
      return { op: "help", problem: "`--cluster` goes with redeploy, rollback and promote" };
    return { ...command, clusters: [...new Set(clusters)] };
  }
  return { op: "help", problem: `\`/paas ${rest.slice(0, 80).replace(/`/g, "")}\` is not a command` };
}

export const HELP = [
  "**paas commands** (in a pull request or issue comment; write permission on the repository):",
  "",
  "| Command | What it does |",
  "| --- | --- |",
  "| `/paas redeploy [env]` | Deploys the environment's current image again (no rebuild). |",
  "| `/paas rollback [env] [to <sha\\|deployment id>]` | Deploys the previous successful image, or the one of that commit or deployment. |",
  "| `/paas promote <from> to <to>` | Deploys the image live in `<from>` to `<to>` (no rebuild). |",
  "| `/paas destroy` | Removes this pull request's preview. |",
  "| `/paas logs [env]` | Recent log lines of the environment, secrets masked, in a check run. |",
  "| `… --cluster <name>` | After redeploy, rollback or promote: only that cluster of an environment on many clusters (repeatable). |",
  "| `/paas help` | This table. |",
  "",
  "`env` is `production`, a name from `.paas.yml` environments, or `pr-<number>`; in a pull request the default is its preview, elsewhere `production`. Protected environments (production unless `protected: false`) are deployed by dispatching the deploy workflow, so GitHub's environment rules gate them.",
].join("\n");

/** What an operation does to one environment. */
export type OpPlan =
  | { kind: "deploy"; environment: string; entry: HistoryEntry; summary: string }
  | { kind: "dispatch"; environment: string; entry: HistoryEntry; summary: string }
  | { kind: "refuse"; message: string };

/** The environment's current deploy: the newest one that is live now. */
export function current(history: readonly HistoryEntry[]): HistoryEntry | undefined {
  return newestFirst(history).find((e) => e.state === "success");
}

function newestFirst(history: readonly HistoryEntry[]): HistoryEntry[] {
  return [...history].sort((a, b) => b.id - a.id);
}

function short(e: HistoryEntry): string {
  return `${e.sha.slice(0, 7)} (\`${e.digest.slice(0, 19)}\`, deployment ${e.id})`;
}

function deployOrDispatch(
  environment: string,
  isProtected: boolean,
  entry: HistoryEntry,
  summary: string,
): OpPlan {
  return isProtected
    ? {
        kind: "dispatch",
        environment,
        entry,
        summary: `${summary}: ${environment} is protected, so the deploy workflow was dispatched with this image; it runs in the GitHub environment "${environment}" with its protection rules`,
      }
    : { kind: "deploy", environment, entry, summary };
}

export interface TargetFacts {
  environment: string;
  history: readonly HistoryEntry[];
  isProtected: boolean;
}

export function planRedeploy(t: TargetFacts): OpPlan {
  const now = current(t.history);
  if (!now) return { kind: "refuse", message: `nothing is live in ${t.environment} to redeploy` };
  return deployOrDispatch(t.environment, t.isProtected, now, `redeploying ${short(now)} to ${t.environment}`);
}

/**
 * Rollback: `to` names a commit (a prefix of 7 or more hex digits) or a deployment id; without it,
 * the newest deploy that was live before the current one with another image.
 */
export function planRollback(t: TargetFacts, to: string | undefined): OpPlan {
  const now = current(t.history);
  const older = newestFirst(t.history).filter((e) => e.wasLive);
  let target: HistoryEntry | undefined;
  if (to === undefined) {
    if (!now) return { kind: "refuse", message: `nothing is live in ${t.environment} to roll back from` };
    target = older.find((e) => e.id < now.id && e.image !== now.image);
    if (!target)
      return {
        kind: "refuse",
        message: `${t.environment} has no earlier successful deploy with another image to roll back to`,
      };
  } else {
    target = /^\d+$/.test(to) ? older.find((e) => String(e.id) === to) : undefined;
    target ??= older.find((e) => e.sha.startsWith(to) || e.ref.startsWith(to));
    if (!target)
      return {
        kind: "refuse",
        message: `no successful deploy of ${t.environment} matches \`${to}\`: name a deployed commit (7+ hex digits) or a deployment id`,
      };
  }
  if (now && target.image === now.image)
    return { kind: "refuse", message: `${short(target)} is already live in ${t.environment}` };
  return deployOrDispatch(
    t.environment,
    t.isProtected,
    target,
    `rolling ${t.environment} back to ${short(target)}`,
  );
}

/** Promote: the image live in `from` into `to` (same app), no rebuild. */
export function planPromote(from: TargetFacts, to: TargetFacts): OpPlan {
  if (from.environment === to.environment)
    return { kind: "refuse", message: `promote needs two different environments` };
  const live = current(from.history);
  if (!live) return { kind: "refuse", message: `nothing is live in ${from.environment} to promote` };
  const there = current(to.history);
  if (there && there.image === live.image)
    return { kind: "refuse", message: `${short(live)} is already live in ${to.environment}` };
  return deployOrDispatch(
    to.environment,
    to.isProtected,
    live,
    `promoting ${short(live)} from ${from.environment} to ${to.environment}`,
  );
}

/**
 * The config digest a deployment records: sha256 of what the deploy ran with besides its image
 * and commit (ports, command, env, secret names, resources, scale, health check, hostnames), so
 * the history tells a config change from a new image.
 */
export function specConfigDigest(spec: DeploySpec): string {
  // Placement (clusters, waves) says where a version runs, not what it runs with.
  const { image: _i, digest: _d, sha: _s, env, placement: _p, ...rest } = spec;
  const { PAAS_COMMIT_SHA: _c, ...ownEnv } = env;
  const canonical = JSON.stringify({ ...rest, env: ownEnv }, (_k, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}
