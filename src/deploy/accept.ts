// The hand-off use case: a verified request (admission.ts) for a commit whose
// .paas.yml plans, under the preview ceiling, becomes exactly one GitHub
// deployment and one queued job, however often the Action retries and across
// restarts (GitHub's deployments record the hand-off). Refusals are
// HandoffRejected; the check run says why where the author looks.
import { bearerToken, HandoffRejected, type ActionsClaims } from "../app/handoff.ts";
import { previewCeilingError } from "../app/preview-limit.ts";
import { errorOutput } from "../app/report.ts";
import type { ResolvedApp } from "../config/load.ts";
import { handoffRequestSchema, type HandoffBody } from "../contract/handoff.ts";
import { planDeploy, PlanError, type PlatformSettings } from "../core/plan.ts";
import type { DeploySpec } from "../core/spec.ts";
import { ConfigError } from "../errors.ts";
import { TERMINAL_STATES, type GitHubPort, type RepoInfo } from "../github/port.ts";
import type { Runtime } from "../runtime/types.ts";
import { appEnvironmentName } from "../names.ts";
import { parseBody, replayed, type Admission, type TokenUses } from "./admission.ts";
import { checkImage, DEFAULT_IMAGE_PREFIXES, pendingNotice } from "./authorize.ts";
import type { BuildWait } from "./build-wait.ts";
import { createDeployment, newJob, remember, runUrl, type Clock, type Logger } from "./common.ts";
import type { DeployQueue } from "./queue.ts";
import type { Reporter } from "./reporter.ts";
import type { Resumer } from "./resume.ts";
import { admitSecrets, type DeliveredSecrets, type SealingKeyPair } from "./handoff-secrets.ts";

export interface TokenVerifier {
  verify(token: string): Promise<ActionsClaims>;
}

/** The answer to an accepted hand-off. */
export interface Accepted {
  deploymentId: number;
  environment: string;
  url: string;
  sha: string;
  /** True when the same hand-off was already accepted (nothing new was created). */
  duplicate: boolean;
}

export interface HandoffDeps {
  github: Pick<GitHubPort, "deploymentsOfCommit" | "latestDeploymentState" | "createDeployment">;
  verifier: TokenVerifier;
  admission: Admission;
  tokens: TokenUses;
  report: Reporter;
  wait: BuildWait;
  queue: DeployQueue;
  resumer: Resumer;
  runtime: Pick<Runtime, "list">;
  platform: PlatformSettings;
  clock: Clock;
  log: Pick<Logger, "info">;
  githubWebUrl: string;
  maxPreviews?: number | undefined;
  imagePrefixes?: readonly string[] | undefined;
  /** The App's sealing key: hand-offs may carry GitHub Environment secrets sealed to it. */
  sealing?: SealingKeyPair | undefined;
}

/** What one accepted hand-off is: the parts #accept needs to create its deployment and job. */
interface Acceptance {
  repo: RepoInfo;
  spec: DeploySpec;
  app: ResolvedApp;
  environment: string;
  reportSha: string;
  claims: ActionsClaims;
  body: HandoffBody;
  /** When the request arrived: the "verify and plan" phase. */
  since: number;
  /** Authority changes of this commit that take effect after merge. */
  notice: string;
  /** Day two: a recorded image dispatched again (admission.ts): one deploy per token, pinned. */
  recorded: boolean;
  /** The GitHub Environment secrets delivered with the hand-off (handoff-secrets.ts). */
  secrets: Record<string, string> | undefined;
}

export class Handoffs {
  readonly #d: HandoffDeps;
  /** Hand-offs by idempotency key; pending ones too, so concurrent duplicates share one deployment. */
  readonly #accepted = new Map<string, Promise<Accepted>>();

  constructor(deps: HandoffDeps) {
    this.#d = deps;
  }

  /** Verifies a hand-off and starts the deploy. Throws HandoffRejected (with HTTP status and the failed check). */
  async handoff(authorization: string | undefined, rawBody: unknown): Promise<Accepted> {
    const since = this.#d.clock.now().getTime();
    const claims = await this.#d.verifier.verify(bearerToken(authorization));
    const body = parseBody(handoffRequestSchema, rawBody);
    const admitted = await this.#d.admission.admit(claims, body, () => {
      const prefixes = this.#d.imagePrefixes ?? DEFAULT_IMAGE_PREFIXES;
      const badImage = checkImage(body.image, body.repository, prefixes);
      if (badImage) throw new HandoffRejected(badImage.check, badImage.message);
    });
    const { repo, reportSha } = admitted;
    const loaded = await admitted.config;
    if (loaded instanceof ConfigError) {
      // The check is completed with the config's errors: no "build not received" over them.
      this.#d.wait.received(repo, reportSha, body.app);
      await this.#d.report.failConfig({ repo, sha: reportSha, appKey: body.app }, loaded);
      throw new HandoffRejected(
        "config",
        `.paas.yml at ${body.sha.slice(0, 7)} is invalid; see the check run annotations. Nothing was deployed.`,
      );
    }
    const { app, auth } = await this.#d.admission.authorized(claims, body, loaded, admitted);
    // Authorized: its check no longer waits for a build (a refused hand-off leaves the timer running).
    this.#d.wait.received(repo, reportSha, body.app);
    const effective: ResolvedApp = { ...app, config: auth.config };
    const spec = await this.#plan({ repo, reportSha, app: effective, body, env: auth.env });
    const environment = appEnvironmentName(app.key, auth.env);
    const delivered = await this.#secrets({ repo, reportSha, app, claims, body, spec });
    const notice = pendingNotice(auth.pending) + ignoredNotice(delivered?.ignored ?? [], environment);
    const secrets = delivered?.values;
    const recorded = admitted.recorded;
    const a = {
      ...{ repo, spec, app: effective, environment, reportSha, claims, body, since, notice },
      ...{ secrets, recorded },
    };
    return this.#once(a);
  }

  /** The hand-off's sealed secrets, admitted; a refusal fails the check with the reason. */
  async #secrets(p: {
    repo: RepoInfo;
    reportSha: string;
    app: ResolvedApp;
    claims: ActionsClaims;
    body: HandoffBody;
    spec: DeploySpec;
  }): Promise<DeliveredSecrets | undefined> {
    const { claims, body, spec } = p;
    try {
      const env = spec.target.environment;
      return admitSecrets({ claims, body, env, allowed: spec.secrets, key: this.#d.sealing });
    } catch (e) {
      if (!(e instanceof HandoffRejected)) throw e;
      const ref = { repo: p.repo, sha: p.reportSha, appKey: p.app.key };
      await this.#d.report.completeCheck(ref, "failure", errorOutput("Secrets refused", e.message));
      throw e;
    }
  }

  /** The last hand-off accepted in this process for a commit and app (a re-run deploys it again). */
  async lastAccepted(repo: RepoInfo, sha: string, appKey: string): Promise<Accepted | undefined> {
    const last = [...this.#accepted.entries()]
      .reverse()
      .find(
        ([k]) => k.startsWith(`${repo.repositoryId}|`) && k.includes(`|${sha}|`) && k.endsWith(`|${appKey}`),
      );
    return last ? await last[1].catch(() => undefined) : undefined;
  }

  /** Whether this process accepted a hand-off of the commit for the environment and app. */
  wasAccepted(repo: RepoInfo, sha: string, environment: string, appKey: string): boolean {
    return this.#accepted.has(idempotencyKey(repo, sha, environment, appKey));
  }

  /** The spec, under the preview ceiling; a refusal fails the check with the reason. */
  async #plan(p: {
    repo: RepoInfo;
    reportSha: string;
    app: ResolvedApp;
    body: HandoffBody;
    env: DeploySpec["target"]["environment"];
  }): Promise<DeploySpec> {
    const { repo, reportSha, app, body, env } = p;
    const ref = { repo, sha: reportSha, appKey: app.key };
    const { runtime, maxPreviews } = this.#d;
    const overCeiling =
      env.kind === "preview"
        ? await previewCeilingError(runtime, repo.repositoryId, env.pr, maxPreviews)
        : undefined;
    if (overCeiling) {
      await this.#d.report.completeCheck(ref, "failure", errorOutput("Too many previews", overCeiling));
      throw new HandoffRejected("previews", overCeiling);
    }
    const target = { owner: repo.owner, repo: repo.repo, app: app.key, environment: env };
    try {
      const input = { target, repositoryId: repo.repositoryId, config: app.config, image: body.image };
      return planDeploy({ ...input, sha: body.sha }, this.#d.platform);
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      await this.#d.report.completeCheck(ref, "failure", errorOutput("Cannot deploy", e.message));
      throw new HandoffRejected("plan", e.message);
    }
  }

  /** One use per token, one deployment per hand-off: a retry gets the first answer. */
  async #once(a: Acceptance): Promise<Accepted> {
    const { repo, claims, body, environment } = a;
    // The same hand-off again is a retry, anything else with its jti a replay. Recorded
    // before any await, so a concurrent replay is caught here; forgotten if this one fails.
    const fresh = this.#d.tokens.claim(
      claims.jti,
      [environment, a.app.key, a.spec.image, body.sha].join("|"),
    );
    // Without the digest: a second image for the same commit and environment is not a new deploy.
    // A recorded image dispatched again (day two) is a new deploy of the same commit, once per token.
    const idem =
      idempotencyKey(repo, body.sha, environment, a.app.key) + (a.recorded ? `|${claims.jti}` : "");
    const seen = this.#accepted.get(idem);
    if (seen) return { ...(await seen), duplicate: true };
    const accepting = this.#accept(a);
    remember(this.#accepted, idem, accepting);
    // A failed creation (or a replay found in GitHub) must not block a retry of the same hand-off.
    accepting.catch(() => {
      this.#accepted.delete(idem);
      if (fresh) this.#d.tokens.release(claims.jti);
    });
    return accepting;
  }

  async #accept(a: Acceptance): Promise<Accepted> {
    const { repo, spec, app, environment, reportSha, claims, body } = a;
    const { github } = this.#d;
    // One read for both rules across restarts: the deployments of this commit record their
    // token's jti (one use per token), and those of this environment the hand-off (exactly once).
    // A deployment records the hand-off's commit (payload.sha) on the commit it reports to
    // (reportSha, the pull request's head for its merge commit), so its commit's list holds it.
    const ofCommit = await github.deploymentsOfCommit(repo, reportSha);
    const byToken = ofCommit.find((d) => d.payload.jti === claims.jti);
    if (
      byToken &&
      (byToken.environment !== environment ||
        byToken.payload.image !== spec.image ||
        (byToken.payload.app ?? "") !== app.key)
    )
      throw replayed();
    // Exactly once across restarts: GitHub's deployments carry the hand-off (sha, app); not the
    // digest, so another image for the same commit is not a second deploy.
    // A failed one may be retried on purpose; any other is this hand-off again.
    // A recorded image dispatched again (day two) is only "the same" as this token's own deployment.
    const same = a.recorded
      ? byToken
      : ofCommit.find(
          (d) =>
            d.environment === environment && d.payload.sha === spec.sha && (d.payload.app ?? "") === app.key,
        );
    const sameState = same ? await github.latestDeploymentState(repo, same.id) : undefined;
    if (same && sameState !== "failure" && sameState !== "error") {
      if (!TERMINAL_STATES.has(sameState ?? "") && !this.#d.queue.isRunning(same.id))
        await this.#d.resumer.resume(repo, { ...same, environment, sha: reportSha });
      return { deploymentId: same.id, environment, url: spec.url, sha: body.sha, duplicate: true };
    }
    const deploymentId = await createDeployment(github, repo, {
      spec,
      environment,
      reportSha,
      jti: claims.jti,
      pinned: a.recorded,
    });
    // The signed claim wins over the body's run id.
    const runId = claims.run_id ?? (body.runId !== undefined ? String(body.runId) : undefined);
    const fields = { seq: this.#d.queue.nextSeq(), repo, spec, app, environment, deploymentId, reportSha };
    const job = {
      ...fields,
      runUrl: runUrl(this.#d.githubWebUrl, repo, runId),
      since: a.since,
      notice: a.notice,
      pinned: a.recorded,
      secrets: a.secrets,
    };
    this.#d.queue.enqueue(newJob(job, this.#d.clock.now().getTime()));
    this.#d.log.info(
      // Names only: never a value.
      {
        repository: body.repository,
        environment,
        sha: body.sha,
        deploymentId,
        secrets: Object.keys(a.secrets ?? {}),
      },
      "hand-off accepted",
    );
    return { deploymentId, environment, url: spec.url, sha: body.sha, duplicate: false };
  }
}

/** The check run's note for secrets the job sent that the default branch does not give this environment. */
function ignoredNotice(ignored: readonly string[], environment: string): string {
  if (ignored.length === 0) return "";
  return (
    `\n\n**Secrets not passed to the app:** ${ignored.map((n) => `\`${n}\``).join(", ")} ` +
    `came from the GitHub environment but the default branch's \`.paas.yml\` does not name ` +
    `${ignored.length > 1 ? "them" : "it"} for ${environment}.`
  );
}

/** One hand-off per commit, environment and app. */
export function idempotencyKey(repo: RepoInfo, sha: string, environment: string, appKey: string): string {
  return [repo.repositoryId, sha, environment, appKey].join("|");
}
