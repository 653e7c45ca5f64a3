// The Action's run: inputs → builder (src/image) → push → hand-off. Each step
// reports to the job log, the outputs and the job summary; the logic lives in
// the modules it calls.
import * as core from "@actions/core";
import Docker from "dockerode";
import {
  BuildFailure,
  buildPrepared,
  prepareBuild,
  pushImage,
  tail,
  type ImageBuildResult,
  type PreparedBuild,
} from "../../src/image/index.ts";
import { ConfigError } from "../../src/errors.ts";
import { handOff, type HandoffOutcome } from "./handoff.ts";
import { handOffRecorded } from "./recorded.ts";
import { namedSecrets, readSecretsInput, sealedSecretsFor } from "./secrets.ts";
import { buildFailureRequest, sendBuildFailure, type FailedStep } from "./build-failure.ts";
import {
  defaultImage,
  environmentFor,
  environmentTag,
  parseSettings,
  type ActionSettings,
} from "./inputs.ts";

interface Timings {
  buildMs?: number;
  pushMs?: number;
  handoffMs?: number;
}

export async function run(
  env: Record<string, string | undefined> = process.env,
  docker: Docker = new Docker(),
): Promise<void> {
  try {
    await main(env, docker);
  } catch (err) {
    const e = err as Error;
    if (err instanceof ConfigError) {
      // Each mistake in .paas.yml is annotated at its line.
      for (const i of err.issues) {
        core.error(`${i.message}${i.hint ? `; ${i.hint}` : ""}`, {
          title: `${err.file}: ${i.path || "invalid"}`,
          file: err.file,
          startLine: i.line,
          startColumn: i.column,
        });
      }
    }
    if (!(err instanceof BuildFailure)) core.setFailed(e.message);
  }
}

async function main(env: Record<string, string | undefined>, docker: Docker): Promise<void> {
  // First: every secret value is masked before anything can print it.
  const secrets = readSecretsInput(env.INPUT_SECRETS);
  const s = parseSettings(env);
  if (s.auth) core.setSecret(s.auth.password);
  // Day two: a recorded image for a protected environment, nothing to build (recorded.ts).
  if (s.deployImage) return handOffRecorded(s, s.deployImage, secrets);
  const prepared = await prepareBuild({ root: s.workspace, app: s.appPath, baseImages: s.baseImages });
  const { plan } = prepared;
  const appKey = prepared.app.key;
  const repository = s.image ?? defaultImage(s.registry, s.owner, s.repo, appKey);
  const environment = environmentFor(s, prepared.app.config.environments);

  core.setOutput("language", plan.language);
  core.setOutput("start-command", plan.start ?? "");
  core.setOutput("image", repository);
  core.info(
    `Detected ${plan.language}${plan.version ? ` ${plan.version}` : ""} in ${prepared.app.path}: ${plan.reasons.join("; ")}`,
  );
  core.startGroup(
    prepared.dockerfile.path ? `Dockerfile (${prepared.dockerfile.path})` : "Generated Dockerfile",
  );
  core.info(prepared.dockerfile.text);
  core.endGroup();

  const summary = core.summary.addHeading(`paas: ${prepared.app.key || s.repo}`, 2);
  addPlan(summary, prepared);

  if (s.dryRun) {
    core.info(JSON.stringify({ plan, image: repository, environment: environment ?? null }, null, 2));
    summary.addRaw("Dry run: nothing was built.", true);
    addDockerfile(summary, prepared);
    await summary.write();
    return;
  }

  const short = s.sha.slice(0, 7);
  const tags = [`sha-${short}`, ...(environment ? [environmentTag(environment)] : [])];
  const timings: Timings = {};
  const cacheTags = environment
    ? [environmentTag(environment), `${environmentTag(environment)}-build-cache`]
    : [];
  let built: ImageBuildResult;
  core.startGroup(`docker build ${repository}:${tags[0]}`);
  try {
    built = await buildPrepared(docker, prepared, {
      tags: tags.map((t) => `${repository}:${t}`),
      sha: s.sha,
      sourceUrl: `${s.serverUrl}/${s.repository}`,
      timeoutMs: s.buildTimeoutMs,
      onLine: (line) => core.info(line),
      // The environment's previous image and builder stage carry BuildKit's inline
      // cache: a fresh runner with no local layers reuses their unchanged steps.
      cacheFrom: cacheTags.map((t) => `${repository}:${t}`),
      registryAuth: s.auth,
      builderCacheTag: cacheTags[1] && s.push ? `${repository}:${cacheTags[1]}` : undefined,
    });
  } catch (err) {
    core.endGroup();
    if (err instanceof BuildFailure) {
      await reportBuildFailure(err, summary, prepared);
      await tellApp(s, environment, { app: appKey, step: "build", annotation: err.annotation, log: err.log });
    }
    throw err;
  }
  core.endGroup();
  timings.buildMs = built.durationMs;
  core.info(
    `Built ${built.imageId.slice(0, 19)} with ${builderName(built)} (${mb(built.size)}, ${built.cacheHits}/${built.steps} steps from cache) in ${seconds(built.durationMs)}`,
  );

  if (s.appUrl && !s.oidc) {
    const msg =
      "No OIDC token is available to this workflow (a pull request from a fork, or no `permissions: id-token: write`): " +
      "the image was built but not pushed or deployed. The preview waits for a maintainer's approval.";
    core.notice(msg);
    summary.addRaw(msg, true);
    addBuild(summary, built, timings, undefined, undefined);
    await summary.write();
    return;
  }
  if (!s.push) {
    const msg = "push is false: the image was built and kept on the runner; nothing is deployed.";
    core.info(msg);
    summary.addRaw(msg, true);
    addBuild(summary, built, timings, undefined, undefined);
    await summary.write();
    return;
  }

  if (!s.auth) core.warning(`no username/password inputs: pushing to ${s.registry} without credentials`);
  let pushedRef: string | undefined;
  let answer: HandoffOutcome | undefined;
  try {
    const pushStarted = Date.now();
    core.startGroup(`docker push ${repository}`);
    let pushed: Awaited<ReturnType<typeof pushImage>>;
    // The push's last lines, for the App if it fails.
    const pushLog: string[] = [];
    try {
      pushed = await pushImage(docker, {
        repository,
        tags,
        auth: s.auth,
        onLine: (line) => {
          core.info(line);
          if (pushLog.push(line) > 200) pushLog.shift();
        },
      });
    } catch (err) {
      core.endGroup();
      const message = (err as Error).message;
      await tellApp(s, environment, {
        app: appKey,
        step: "push",
        annotation: {
          file: undefined,
          line: undefined,
          column: undefined,
          title: "docker push failed",
          message,
        },
        log: pushLog,
      });
      throw err;
    }
    core.endGroup();
    timings.pushMs = Date.now() - pushStarted;
    pushedRef = pushed.ref;
    if (built.builderCache) {
      // Only a cache: a refusal here costs the next runner its warm start, not this deploy.
      try {
        await pushImage(docker, { repository, tags: [cacheTags[1]!], auth: s.auth });
        core.info(`Pushed the build cache ${built.builderCache}`);
      } catch (err) {
        core.warning(`the build cache ${built.builderCache} was not pushed: ${(err as Error).message}`);
      }
    }
    core.setOutput("digest", pushed.digest);
    core.setOutput("image-ref", pushed.ref);
    core.info(`Pushed ${pushed.ref}`);

    if (!s.appUrl) {
      summary.addRaw("No app-url input: the image is pushed; set app-url to deploy it.", true);
    } else if (!environment) {
      const msg = `No environment deploys ${s.ref || "this ref"} (none in .paas.yml has this branch): the image is pushed, nothing is deployed.`;
      core.notice(msg);
      summary.addRaw(msg, true);
    } else {
      const started = Date.now();
      const token = await core.getIDToken(s.appUrl);
      const sealed = await sealedSecretsFor({
        appUrl: s.appUrl,
        token,
        available: secrets,
        names: namedSecrets(prepared.app.config),
        target: { environment, app: appKey, sha: s.sha },
      });
      answer = await handOff(
        s.appUrl,
        {
          repository: s.repository,
          sha: s.sha,
          ref: s.ref,
          environment,
          image: repository,
          digest: pushed.digest,
          app: appKey,
          runId: s.runId,
          ...(sealed ? { secrets: sealed } : {}),
        },
        token,
        {
          onRetry: (n, reason, delay) =>
            core.warning(`hand-off attempt ${n} failed (${reason}); retrying in ${seconds(delay)}`),
        },
      );
      timings.handoffMs = Date.now() - started;
      core.info(
        `The App accepted the deployment${answer.deploymentId ? ` ${answer.deploymentId}` : ""} to ${environment}` +
          `${answer.url ? `: ${answer.url}` : ""}${answer.message ? ` (${answer.message})` : ""}`,
      );
      if (answer.url) core.setOutput("preview-url", answer.url);
    }
  } catch (err) {
    // The build worked: the summary still reports it, with what failed after it.
    summary.addRaw(`**Failed:** ${escapeMd((err as Error).message)}`, true);
    addBuild(summary, built, timings, pushedRef, answer);
    await summary.write();
    throw err;
  }
  addBuild(summary, built, timings, pushedRef, answer);
  await summary.write();
}

async function reportBuildFailure(
  err: BuildFailure,
  summary: typeof core.summary,
  prepared: PreparedBuild,
): Promise<void> {
  const a = err.annotation;
  core.error(a.message, {
    title: a.title,
    ...(a.file ? { file: a.file } : {}),
    ...(a.line !== undefined ? { startLine: a.line } : {}),
    ...(a.column !== undefined ? { startColumn: a.column } : {}),
  });
  core.setFailed(err.message);
  summary
    .addRaw(
      `**Build failed**${a.file ? ` at \`${a.file}${a.line !== undefined ? `:${a.line}` : ""}\`` : ""}: ${escapeMd(a.title)}`,
      true,
    )
    .addCodeBlock(tail(err.log, 50).join("\n"), "text");
  addDockerfile(summary, prepared);
  await summary.write();
}

/**
 * Tells the App that the build or push failed, so the `paas` check fails now rather than
 * after the App's build timeout. Only where a hand-off would have gone (app-url, an OIDC
 * token, an environment); a report that cannot be sent is a warning, never the job's error.
 */
async function tellApp(
  s: ActionSettings,
  environment: string | undefined,
  f: Pick<FailedStep, "app" | "step" | "annotation" | "log">,
): Promise<void> {
  if (!s.appUrl || !s.oidc || !environment) return;
  try {
    const token = await core.getIDToken(s.appUrl);
    const request = buildFailureRequest({
      ...f,
      repository: s.repository,
      sha: s.sha,
      ref: s.ref,
      environment,
      runId: s.runId,
      jobUrl: s.runId === undefined ? undefined : `${s.serverUrl}/${s.repository}/actions/runs/${s.runId}`,
      secrets: [token, ...(s.auth ? [s.auth.password] : [])],
    });
    const message = await sendBuildFailure(s.appUrl, request, token, {
      attempts: 3,
      onRetry: (n, reason, delay) =>
        core.warning(`build-failure report attempt ${n} failed (${reason}); retrying in ${seconds(delay)}`),
    });
    core.info(`Reported the failed ${f.step} to the App: ${message}`);
  } catch (err) {
    core.warning(
      `the failed ${f.step} was not reported to the App (${(err as Error).message}); its paas check fails when the App's build timeout passes`,
    );
  }
}

function addPlan(summary: typeof core.summary, p: PreparedBuild): void {
  summary.addTable([
    [
      { data: "app", header: true },
      { data: "language", header: true },
      { data: "start", header: true },
      { data: "port", header: true },
      { data: "Dockerfile", header: true },
    ],
    [
      escapeMd(p.app.path),
      `${p.plan.language}${p.plan.version ? ` ${escapeMd(p.plan.version)}` : ""}`,
      p.plan.start ? `<code>${escapeMd(p.plan.start)}</code>` : "image CMD",
      String(p.plan.port),
      p.dockerfile.path ? escapeMd(p.dockerfile.path) : "generated",
    ],
  ]);
  if (p.plan.reasons.length > 0) summary.addList(p.plan.reasons.map(escapeMd));
}

function addDockerfile(summary: typeof core.summary, p: PreparedBuild): void {
  summary.addDetails(
    p.dockerfile.path ?? "Generated Dockerfile",
    `\n\n\`\`\`dockerfile\n${p.dockerfile.text}\`\`\`\n\n`,
  );
}

function addBuild(
  summary: typeof core.summary,
  built: ImageBuildResult,
  t: Timings,
  ref: string | undefined,
  answer: HandoffOutcome | undefined,
): void {
  const rows: [string, string][] = [
    ["image", ref ? `<code>${escapeMd(ref)}</code>` : `<code>${built.imageId.slice(0, 19)}</code> (local)`],
    ["size", mb(built.size)],
    ["builder", builderName(built)],
    [
      "layer cache",
      `${built.cacheHits} of ${built.steps} steps` +
        (built.cacheFrom.length > 0
          ? ` (seeded from <code>${built.cacheFrom.map(escapeMd).join(", ")}</code>)`
          : ""),
    ],
    [
      "context",
      `${built.context.files} files, ${mb(built.context.bytes)} (${built.context.ignored} ignored)`,
    ],
    ["build", seconds(t.buildMs ?? 0)],
  ];
  if (t.pushMs !== undefined) rows.push(["push", seconds(t.pushMs)]);
  if (t.handoffMs !== undefined) rows.push(["hand-off", seconds(t.handoffMs)]);
  if (answer?.deploymentId) rows.push(["deployment", escapeMd(answer.deploymentId)]);
  if (answer?.url) rows.push(["preview", `<a href="${escapeAttr(answer.url)}">${escapeMd(answer.url)}</a>`]);
  summary.addTable([
    [
      { data: "", header: true },
      { data: "", header: true },
    ],
    ...rows,
  ]);
}

function builderName(built: ImageBuildResult): string {
  return built.builder === "buildkit"
    ? "BuildKit (cache mounts, inline cache)"
    : "legacy builder (the engine has no BuildKit)";
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function escapeMd(s: string): string {
  return s
    .replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!)
    .replace(/([\\`*_[\]|])/g, "\\$1");
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
