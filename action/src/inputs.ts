// The Action's inputs and the runner's GITHUB_* context, validated by one zod
// schema. Pure: an environment map in, typed settings (or messages) out.
import { z } from "zod";
import { durationMs, duration } from "../../src/config/schema.ts";
import { githubEnvironment, parseEnvironment } from "../../src/names.ts";
import { BaseImagesError, parseBaseImages } from "../../src/settings/base-images.ts";

const blank = (v: unknown) =>
  typeof v === "string" && v.trim() === "" ? undefined : typeof v === "string" ? v.trim() : v;
const optional = <T extends z.ZodType>(s: T) => z.preprocess(blank, s.optional());
const flag = (def: boolean) =>
  z.preprocess(
    (v) => blank(v) ?? String(def),
    z
      .string()
      .regex(/^(?:true|false|True|False|TRUE|FALSE)$/, "true or false")
      .transform((v) => v.toLowerCase() === "true"),
  );

const registryHost = z
  .string()
  .regex(
    /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/,
    "a registry host such as ghcr.io or registry.example.com:5000",
  );
const imageRepository = z
  .string()
  .regex(
    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/,
    "an image repository without tag such as ghcr.io/owner/app",
  );
/** The shared base-image list (src/settings/base-images.ts). */
const baseImages = z.string().transform((text, ctx) => {
  try {
    return parseBaseImages(text) ?? {};
  } catch (e) {
    if (!(e instanceof BaseImagesError)) throw e;
    ctx.addIssue({ code: "custom", message: e.message });
    return z.NEVER;
  }
});

/** This machine: the only place the hand-off may go over plain http (a test, a local App). */
function isLoopback(hostname: string): boolean {
  // The URL parser has already normalised IPv4 shorthands (127.1) and IPv6 forms ([0:0::1]).
  return hostname === "localhost" || hostname === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

export const actionEnvSchema = z.object({
  INPUT_PATH: optional(
    z
      .string()
      .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "a folder inside the repository"),
  ),
  INPUT_REGISTRY: z.preprocess((v) => blank(v) ?? "ghcr.io", registryHost),
  INPUT_IMAGE: optional(imageRepository),
  INPUT_USERNAME: optional(z.string()),
  INPUT_PASSWORD: optional(z.string()),
  "INPUT_APP-URL": optional(
    z.url({ protocol: /^https?$/, error: "an http(s) URL such as https://paas.example.com" }).refine((u) => {
      const url = URL.parse(u);
      // Not a URL at all: the check above says so already.
      return url === null || url.protocol === "https:" || isLoopback(url.hostname);
    }, "must be https: an http URL would send the deploy token and image unencrypted " + "(http is accepted only for loopback: 127.0.0.0/8, [::1], localhost)"),
  ),
  INPUT_ENVIRONMENT: optional(
    z.string().transform((s, ctx) => {
      try {
        return githubEnvironment(parseEnvironment(s));
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
        return z.NEVER;
      }
    }),
  ),
  INPUT_PUSH: flag(true),
  "INPUT_DRY-RUN": flag(false),
  "INPUT_BASE-IMAGES": optional(baseImages),
  // The commit being built and deployed; a dispatched build of an approved fork PR passes its head sha.
  INPUT_SHA: optional(z.string().regex(/^[0-9a-f]{40}$/, "a 40-character commit sha")),
  // Day two: hand off this recorded image instead of building (the App's release dispatch).
  "INPUT_DEPLOY-IMAGE": optional(
    z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9./_:-]{0,400}@sha256:[a-f0-9]{64}$/,
        "an image pinned by digest (name@sha256:…)",
      ),
  ),
  "INPUT_BUILD-TIMEOUT": z.preprocess((v) => blank(v) ?? "30m", duration.transform(durationMs)),
  GITHUB_REPOSITORY: z.string().regex(/^[\w.-]+\/[\w.-]+$/, "owner/repo"),
  GITHUB_SHA: z.string().regex(/^[0-9a-f]{40}$/, "a 40-character commit sha"),
  GITHUB_REF: z.preprocess(blank, z.string().default("")),
  GITHUB_EVENT_NAME: z.preprocess(blank, z.string().default("push")),
  GITHUB_RUN_ID: optional(z.string().regex(/^[1-9]\d*$/, "a positive number")),
  GITHUB_WORKSPACE: z.preprocess((v) => blank(v) ?? process.cwd(), z.string()),
  GITHUB_SERVER_URL: z.preprocess((v) => blank(v) ?? "https://github.com", z.url()),
  GITHUB_ACTOR: optional(z.string()),
  ACTIONS_ID_TOKEN_REQUEST_URL: optional(z.string()),
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: optional(z.string()),
});

export interface ActionSettings {
  appPath: string | undefined;
  registry: string;
  /** Explicit image repository, or undefined for the default from registry/owner/repo[-app]. */
  image: string | undefined;
  auth: { username: string; password: string } | undefined;
  appUrl: string | undefined;
  environment: string | undefined;
  push: boolean;
  dryRun: boolean;
  baseImages: { builder?: string; runtime?: string } | undefined;
  buildTimeoutMs: number;
  repository: string;
  owner: string;
  repo: string;
  sha: string;
  /** A recorded image to hand off without building (day two), name@sha256:…. */
  deployImage: string | undefined;
  ref: string;
  eventName: string;
  /** Workflow run id; undefined outside a runner. */
  runId: number | undefined;
  workspace: string;
  serverUrl: string;
  /** The runner can mint OIDC tokens (false for fork pull requests or without `id-token: write`). */
  oidc: boolean;
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

export function parseSettings(env: Record<string, string | undefined>): ActionSettings {
  const r = actionEnvSchema.safeParse(env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const key = String(i.path[0] ?? "");
      const name = key.startsWith("INPUT_") ? `input "${key.slice(6).toLowerCase()}"` : key;
      return `${name}: ${i.message}`;
    });
    throw new InputError(`invalid inputs:\n${lines.join("\n")}`);
  }
  const v = r.data;
  const [owner, repo] = v.GITHUB_REPOSITORY.split("/") as [string, string];
  const username = v.INPUT_USERNAME ?? v.GITHUB_ACTOR;
  const password = v.INPUT_PASSWORD;
  return {
    appPath: v.INPUT_PATH,
    registry: v.INPUT_REGISTRY,
    image: v.INPUT_IMAGE,
    auth: username && password ? { username, password } : undefined,
    appUrl: v["INPUT_APP-URL"]?.replace(/\/+$/, ""),
    environment: v.INPUT_ENVIRONMENT,
    push: v.INPUT_PUSH,
    dryRun: v["INPUT_DRY-RUN"],
    baseImages: v["INPUT_BASE-IMAGES"],
    buildTimeoutMs: v["INPUT_BUILD-TIMEOUT"],
    repository: v.GITHUB_REPOSITORY,
    owner,
    repo,
    sha: v.INPUT_SHA ?? v.GITHUB_SHA,
    deployImage: v["INPUT_DEPLOY-IMAGE"],
    ref: v.GITHUB_REF,
    eventName: v.GITHUB_EVENT_NAME,
    runId: v.GITHUB_RUN_ID === undefined ? undefined : Number(v.GITHUB_RUN_ID),
    workspace: v.GITHUB_WORKSPACE,
    serverUrl: v.GITHUB_SERVER_URL.replace(/\/+$/, ""),
    oidc: Boolean(v.ACTIONS_ID_TOKEN_REQUEST_URL && v.ACTIONS_ID_TOKEN_REQUEST_TOKEN),
  };
}

/** Default image repository: `<registry>/<owner>/<repo>[-<app>]`, lowercase as registries require. */
export function defaultImage(registry: string, owner: string, repo: string, app: string): string {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, "-")
      .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return `${registry}/${clean(owner)}/${clean(app ? `${repo}-${app}` : repo)}`;
}

/**
 * The environment this run deploys: the input, else `preview/pr-<N>` for a
 * pull request, else the `.paas.yml` environment whose branch was pushed.
 */
export function environmentFor(
  settings: Pick<ActionSettings, "environment" | "eventName" | "ref">,
  environments: Record<string, { branch?: string | undefined }>,
): string | undefined {
  if (settings.environment) return settings.environment;
  const pr = /^refs\/pull\/(\d+)\/(?:merge|head)$/.exec(settings.ref);
  if (pr && settings.eventName.startsWith("pull_request"))
    return githubEnvironment({ kind: "preview", pr: Number(pr[1]) });
  const branch = /^refs\/heads\/(.+)$/.exec(settings.ref)?.[1];
  if (!branch) return undefined;
  return Object.entries(environments).find(([, e]) => e.branch === branch)?.[0];
}

/** Image tag for an environment ("preview/pr-12" → "pr-12"). */
export function environmentTag(environment: string): string {
  return environment
    .replace(/^preview\//, "")
    .replace(/[^\w.-]/g, "-")
    .slice(0, 128);
}
