// A failed build reported by the Action: verified like a hand-off (token,
// repository, commit, the same gate for the environment), then the check fails
// with the error and the comment row says "build failed", at once instead of
// after PAAS_BUILD_TIMEOUT. Changes nothing when already reported, or when the
// commit is superseded or was handed off.
import { bearerToken, HandoffRejected } from "../app/handoff.ts";
import {
  buildFailureRequestSchema,
  type BuildFailureAnswer,
  type BuildFailureBody,
} from "../contract/build-failure.ts";
import { namedEnvironment } from "../core/plan.ts";
import { ConfigError } from "../errors.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { appEnvironmentName } from "../names.ts";
import type { Handoffs, TokenVerifier } from "./accept.ts";
import { parseBody, type Admission, type TokenUses } from "./admission.ts";
import type { Authorization } from "./authorize.ts";
import { buildFailureOutput, failedJobUrl, markBuildFailed } from "../app/build-failure-report.ts";
import type { BuildWait } from "./build-wait.ts";
import { displayApp, PER_ENVIRONMENT, remember, type Clock, type Logger } from "./common.ts";
import type { Reporter } from "./reporter.ts";
import type { ResolvedApp } from "../config/load.ts";

export interface BuildFailedDeps {
  github: Pick<GitHubPort, "branchHead" | "deployments">;
  verifier: TokenVerifier;
  admission: Admission;
  tokens: TokenUses;
  handoffs: Pick<Handoffs, "wasAccepted">;
  report: Reporter;
  wait: BuildWait;
  clock: Clock;
  log: Pick<Logger, "info">;
  githubWebUrl: string;
}

export class BuildFailures {
  readonly #d: BuildFailedDeps;
  /** Build failures already reported, by commit, environment and app. */
  readonly #reported = new Map<string, true>();

  constructor(deps: BuildFailedDeps) {
    this.#d = deps;
  }

  /** Records a failed build on the check and comment. Throws HandoffRejected. */
  async report(authorization: string | undefined, rawBody: unknown): Promise<BuildFailureAnswer> {
    const claims = await this.#d.verifier.verify(bearerToken(authorization));
    const body = parseBody(buildFailureRequestSchema, rawBody);
    const admitted = await this.#d.admission.admit(claims, body);
    const { repo } = admitted;
    const loaded = await admitted.config;
    if (loaded instanceof ConfigError) {
      throw new HandoffRejected(
        "config",
        `.paas.yml at ${body.sha.slice(0, 7)} is invalid: the check already reports its errors`,
      );
    }
    const { app, auth } = await this.#d.admission.authorized(claims, body, loaded, admitted);
    const environment = appEnvironmentName(app.key, auth.env);
    // One use per token, shared with the hand-offs: a hand-off's token cannot report, nor the reverse.
    this.#d.tokens.claim(claims.jti, ["build-failure", environment, app.key, body.sha].join("|"));
    const why = await this.#unchanged(repo, body, { app, auth, environment });
    if (why !== undefined) return { environment, sha: body.sha, recorded: false, message: why };
    const runId = claims.run_id ?? (body.runId !== undefined ? String(body.runId) : undefined);
    const jobUrl = failedJobUrl(this.#d.githubWebUrl, repo, runId, body.jobUrl);
    await this.#record(body, {
      repo,
      app,
      environment,
      jobUrl,
      reportSha: admitted.reportSha,
      pr: admitted.pr,
    });
    this.#d.log.info(
      { repository: body.repository, environment, sha: body.sha, step: body.step },
      "build failure reported",
    );
    return {
      environment,
      sha: body.sha,
      recorded: true,
      message: `the paas check of ${body.sha.slice(0, 7)} now shows the failed ${body.step}`,
    };
  }

  /** Why this report changes nothing; undefined when it is new (then it is marked reported). */
  async #unchanged(
    repo: RepoInfo,
    body: BuildFailureBody,
    a: { app: ResolvedApp; auth: Authorization; environment: string },
  ): Promise<string | undefined> {
    const { app, auth, environment } = a;
    const key = [repo.repositoryId, body.sha, environment, app.key].join("|");
    if (this.#reported.has(key)) return "this failed build was already reported";
    if (this.#d.handoffs.wasAccepted(repo, body.sha, environment, app.key))
      return `${body.sha.slice(0, 7)} was handed off: nothing changed`;
    if (auth.env.kind === "named") {
      const branch = namedEnvironment(auth.config, auth.env.name)?.branch;
      const head = branch ? await this.#d.github.branchHead(repo, branch) : undefined;
      if (head && head !== body.sha)
        return `${body.sha.slice(0, 7)} is superseded by ${head.slice(0, 7)}: nothing changed`;
    }
    // Across restarts: a deployment of this commit means a build of it succeeded.
    const deployed = (await this.#d.github.deployments(repo, PER_ENVIRONMENT, environment)).some(
      (d) => d.payload.sha === body.sha && (d.payload.app ?? "") === app.key,
    );
    if (deployed) return `${body.sha.slice(0, 7)} is already deployed: nothing changed`;
    remember(this.#reported, key, true);
    return undefined;
  }

  async #record(
    body: BuildFailureBody,
    r: {
      repo: RepoInfo;
      app: ResolvedApp;
      environment: string;
      jobUrl: string | undefined;
      reportSha: string;
      pr: number | undefined;
    },
  ): Promise<void> {
    const { repo, app, reportSha, jobUrl } = r;
    // The build reported: its check no longer waits for one.
    this.#d.wait.received(repo, reportSha, app.key);
    const now = this.#d.clock.now().toISOString();
    try {
      await this.#d.report.check(
        { repo, sha: reportSha, appKey: app.key },
        {
          status: "completed",
          conclusion: "failure",
          completedAt: now,
          detailsUrl: jobUrl,
          output: buildFailureOutput(body, jobUrl),
        },
      );
      if (r.pr !== undefined) {
        await this.#d.report.updateComment(repo, r.pr, false, (rows) =>
          markBuildFailed(rows, { app: displayApp(repo, app), sha: reportSha }, jobUrl, now),
        );
      }
    } catch (e) {
      // Not recorded: the Action's retry (or a later report) writes it again.
      this.#reported.delete([repo.repositoryId, body.sha, r.environment, app.key].join("|"));
      throw e;
    }
  }
}
