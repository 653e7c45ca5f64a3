// Runs the bundled Action (action/dist/index.js) the way a runner does: a
// child process with INPUT_* and GITHUB_* variables, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files, and the OIDC request variables pointing at a
// local token endpoint. Also a stand-in for the App's deploy endpoint.
import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type Docker from "dockerode";
import { acceptedAnswer, HANDOFF_PATH, handoffRequestSchema } from "../../src/contract/handoff.ts";
import {
  BUILD_FAILURE_PATH,
  buildFailureAnswerSchema,
  buildFailureRequestSchema,
} from "../../src/contract/build-failure.ts";
import type { TokenServer } from "../support/oidc-token-server.ts";
import { openSealed, SEALING_KEY_PATH, sealingKeyAnswer } from "../../src/contract/sealing.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DIST = path.join(ROOT, "action", "dist", "index.js");

export interface ActionRun {
  code: number;
  stdout: string;
  outputs: Record<string, string>;
  summary: string;
}

export function randomSha(): string {
  return randomBytes(20).toString("hex");
}

/** Copies an example app into a fresh temp workspace. */
export async function workspaceFrom(example: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `paas-action-${example}-`));
  await cp(path.join(ROOT, "examples", example), dir, { recursive: true });
  return dir;
}

export interface RunOptions {
  workspace: string;
  inputs: Record<string, string>;
  sha: string;
  ref?: string;
  eventName?: string;
  /** The OIDC request endpoint the runner gives the job (ACTIONS_ID_TOKEN_REQUEST_*). */
  tokenServer?: Pick<TokenServer, "requestUrl" | "requestToken"> | undefined;
  repository?: string;
}

export async function runAction(o: RunOptions): Promise<ActionRun> {
  const files = await mkdtemp(path.join(tmpdir(), "paas-runner-"));
  const outputFile = path.join(files, "output");
  const summaryFile = path.join(files, "summary");
  await writeFile(outputFile, "");
  await writeFile(summaryFile, "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    GITHUB_ACTIONS: "true",
    CI: "true",
    GITHUB_REPOSITORY: o.repository ?? "octo-org/hello-app",
    GITHUB_REPOSITORY_OWNER: (o.repository ?? "octo-org/hello-app").split("/")[0]!,
    GITHUB_SHA: o.sha,
    GITHUB_REF: o.ref ?? "refs/heads/main",
    GITHUB_EVENT_NAME: o.eventName ?? "push",
    GITHUB_RUN_ID: "4242",
    GITHUB_ACTOR: "octocat",
    GITHUB_WORKSPACE: o.workspace,
    GITHUB_SERVER_URL: "https://github.com",
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: files,
  };
  if (process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
  if (o.tokenServer) {
    env.ACTIONS_ID_TOKEN_REQUEST_URL = o.tokenServer.requestUrl;
    env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = o.tokenServer.requestToken;
  }
  for (const [k, v] of Object.entries(o.inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(process.execPath, [DIST], { cwd: o.workspace, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  const outputs = parseOutputs(await readFile(outputFile, "utf8"));
  const summary = await readFile(summaryFile, "utf8");
  await rm(files, { recursive: true, force: true });
  return { code, stdout, outputs, summary };
}

/** GITHUB_OUTPUT uses heredoc blocks: `name<<DELIM\nvalue\nDELIM`. */
function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (m) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
      out[m[1]!] = value.join("\n");
    } else if (lines[i]!.includes("=")) {
      const [k, ...v] = lines[i]!.split("=");
      out[k!] = v.join("=");
    }
  }
  return out;
}

export interface StandInApp {
  url: string;
  /** Accepted hand-offs with the verified token claims. */
  received: {
    body: Record<string, unknown>;
    claims: Record<string, unknown>;
    /** The sealed secrets, opened with the App's key for this hand-off (as the App does). */
    opened?: Record<string, string>;
  }[];
  /** Build-failure reports (POST /paas/v1/build-failures) with the verified token claims. */
  failures: { body: Record<string, unknown>; claims: Record<string, unknown> }[];
  /** Status codes to answer before accepting (e.g. [503] for one failure). */
  failFirst: number[];
  close(): Promise<void>;
}

/** The App's `POST /paas/v1/deployments`, verifying the OIDC token like the real App does (issuer, audience, signature). */
export async function startStandInApp(tokens: TokenServer): Promise<StandInApp> {
  const received: StandInApp["received"] = [];
  const failures: StandInApp["failures"] = [];
  const sealing = generateKeyPairSync("x25519").privateKey;
  const published = sealingKeyAnswer(sealing);
  let url = "";
  const state: StandInApp = {
    url: "",
    received,
    failures,
    failFirst: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const send = (status: number, json: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
      if (req.method === "GET" && req.url === SEALING_KEY_PATH) return send(200, published);
      if (req.method !== "POST" || (req.url !== HANDOFF_PATH && req.url !== BUILD_FAILURE_PATH))
        return send(404, { message: "not found" });
      const fail = state.failFirst.shift();
      if (fail) return send(fail, { message: "temporarily unavailable" });
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (!token) return send(401, { message: "missing token" });
      let claims: Record<string, unknown>;
      try {
        claims = await tokens.verify(token, url);
      } catch (e) {
        return send(401, { message: `bad token: ${(e as Error).message}` });
      }
      const parsed = JSON.parse(body) as Record<string, unknown>;
      if (req.url === BUILD_FAILURE_PATH) {
        const report = buildFailureRequestSchema.safeParse(parsed);
        if (!report.success)
          return send(400, { message: report.error.issues.map((i) => i.message).join("; ") });
        failures.push({ body: parsed, claims });
        return send(
          200,
          buildFailureAnswerSchema.parse({
            environment: report.data.environment ?? "",
            sha: report.data.sha,
            recorded: true,
            message: "the paas check now shows the failed build",
          }),
        );
      }
      // The App's own request schema: the contract between the two sides.
      const valid = handoffRequestSchema.safeParse(parsed);
      if (!valid.success) return send(400, { message: valid.error.issues.map((i) => i.message).join("; ") });
      let opened: Record<string, string> | undefined;
      if (valid.data.secrets) {
        try {
          const binding = {
            repositoryId: String(claims.repository_id),
            environment: valid.data.environment ?? "",
            app: valid.data.app,
            sha: valid.data.sha,
            jti: String(claims.jti),
          };
          opened = Object.fromEntries(
            openSealed(valid.data.secrets, { kid: published.kid, privateKey: sealing }, binding),
          );
        } catch (e) {
          return send(422, { message: (e as Error).message });
        }
      }
      received.push({ body: parsed, claims, ...(opened ? { opened } : {}) });
      const env = String(parsed.environment);
      const host = env.startsWith("preview/") ? `${env.slice(8)}-hello.paas.test` : "hello.paas.test";
      const answer = acceptedAnswer({
        deploymentId: 1000 + received.length,
        environment: env,
        url: `https://${host}`,
        sha: valid.data.sha,
        duplicate: false,
      });
      return send(202, answer);
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.url = url;
  return state;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    req.on("data", (d: Buffer) => (s += d.toString()));
    req.on("end", () => resolve(s));
    req.on("error", reject);
  });
}

/** Runs an image, returns what GET / answers, and removes the container. */
export async function answerOf(
  docker: Docker,
  image: string,
  pathName = "/",
): Promise<{ status: number; body: string }> {
  const container = await docker.createContainer({
    Image: image,
    ExposedPorts: { "8080/tcp": {} },
    HostConfig: { PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
  });
  try {
    await container.start();
    const info = await container.inspect();
    const port = info.NetworkSettings.Ports["8080/tcp"]?.[0]?.HostPort;
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${pathName}`);
        return { status: res.status, body: (await res.text()).trim() };
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await container.remove({ force: true });
  }
}

/** True when `file` exists in the image's filesystem (checked without running it). */
export async function imageHasFile(docker: Docker, image: string, file: string): Promise<boolean> {
  const container = await docker.createContainer({ Image: image, Cmd: ["true"] });
  try {
    const archive = await container.getArchive({ path: file });
    // An unread archive would hold the engine connection open.
    (archive as unknown as { destroy(): void }).destroy();
    return true;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return false;
    throw e;
  } finally {
    await container.remove({ force: true });
  }
}

/** Removes the test's tags but keeps the parent layers: they are the build cache of the next run. */
export async function untag(docker: Docker, refs: string[]): Promise<void> {
  for (const ref of refs) {
    await docker
      .getImage(ref)
      .remove({ noprune: true })
      .catch(() => undefined);
  }
}

/** Local tags under a repository (`repo:tag`). */
export async function tagsOf(docker: Docker, repository: string): Promise<string[]> {
  const images = await docker.listImages({ filters: JSON.stringify({ reference: [`${repository}:*`] }) });
  return images.flatMap((i) => i.RepoTags ?? []).filter((t) => t.startsWith(`${repository}:`));
}

/** GitHub workflow-command annotations (`::error file=…,line=…::message`) printed by the run. */
export function annotations(
  stdout: string,
): { level: string; props: Record<string, string>; message: string }[] {
  const out: { level: string; props: Record<string, string>; message: string }[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^::(error|warning|notice)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!m) continue;
    const props: Record<string, string> = {};
    for (const kv of (m[2] ?? "").split(",").filter(Boolean)) {
      const i = kv.indexOf("=");
      props[kv.slice(0, i)] = decodeURIComponent(
        kv
          .slice(i + 1)
          .replace(/%2C/g, ",")
          .replace(/%3A/g, ":"),
      );
    }
    out.push({
      level: m[1]!,
      props,
      message: m[3]!.replace(/%0A/g, "\n").replace(/%0D/g, "\r").replace(/%25/g, "%"),
    });
  }
  return out;
}
