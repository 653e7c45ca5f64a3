// Extracts, from GitHub's official OpenAPI description (@octokit/openapi), the
// operations the App calls: parameters and request bodies with every $ref
// inlined, documentation fields dropped. The fake GitHub validates each request
// against this subset so tests don't parse the 13 MB file on every run.
// Run: node test/fakes/github/extract-openapi-subset.ts (rewrites openapi-subset.json)
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Every operation the App (and Probot's auth) may call: method + path template. */
export const OPERATIONS: readonly (readonly [string, string])[] = [
  ["post", "/app/installations/{installation_id}/access_tokens"],
  ["get", "/repos/{owner}/{repo}/installation"],
  ["get", "/repos/{owner}/{repo}"],
  ["get", "/repos/{owner}/{repo}/contents/{path}"],
  ["get", "/repos/{owner}/{repo}/pulls/{pull_number}"],
  ["get", "/repos/{owner}/{repo}/deployments"],
  ["post", "/repos/{owner}/{repo}/deployments"],
  ["post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"],
  ["put", "/repos/{owner}/{repo}/environments/{environment_name}"],
  ["delete", "/repos/{owner}/{repo}/environments/{environment_name}"],
  ["post", "/repos/{owner}/{repo}/check-runs"],
  ["patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"],
  ["get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"],
  ["get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"],
  ["get", "/repos/{owner}/{repo}/collaborators/{username}/permission"],
  // Fork approvals: build the approved head sha through the repository's paas workflow.
  ["post", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"],
  // The reconciler: installations, their repositories, open pull requests, statuses, redeliveries.
  ["get", "/app/installations"],
  ["get", "/installation/repositories"],
  ["get", "/repos/{owner}/{repo}/pulls"],
  ["get", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"],
  ["get", "/repos/{owner}/{repo}/branches/{branch}"],
  ["get", "/repos/{owner}/{repo}/environments"],
  ["get", "/app/hook/deliveries"],
  ["get", "/app/hook/deliveries/{delivery_id}"],
  ["post", "/app/hook/deliveries/{delivery_id}/attempts"],
  // Day two (src/deploy/ops.ts): the reaction that acknowledges a /paas command.
  ["post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"],
  // Onboarding: the default branch's files, a branch with .paas.yml and the workflow, the pull request.
  ["get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"],
  ["post", "/repos/{owner}/{repo}/git/refs"],
  ["put", "/repos/{owner}/{repo}/contents/{path}"],
  ["post", "/repos/{owner}/{repo}/pulls"],
];

/** Webhook payloads the test harness sends, validated like the requests (components.schemas names). */
export const WEBHOOKS: readonly string[] = [
  "webhook-installation-created",
  "webhook-installation-repositories-added",
];

const DROP = new Set([
  "description",
  "example",
  "examples",
  "externalDocs",
  "x-github",
  "summary",
  "tags",
  "title",
]);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function inline(node: Json, root: { [k: string]: Json }, seen: string[] = []): Json {
  if (Array.isArray(node)) return node.map((n) => inline(n, root, seen));
  if (node === null || typeof node !== "object") return node;
  const ref = node["$ref"];
  if (typeof ref === "string") {
    if (seen.includes(ref)) return {}; // recursive schema: accept anything below the cycle
    const target = ref
      .replace(/^#\//, "")
      .split("/")
      .reduce<Json>((o, k) => (o as { [k: string]: Json })[k]!, root);
    return inline(target, root, [...seen, ref]);
  }
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) {
    if (DROP.has(k) && typeof v !== "object") continue;
    if (k === "examples" || k === "example" || k === "externalDocs" || k === "x-github") continue;
    out[k] =
      k === "properties"
        ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, inline(s as Json, root, seen)]))
        : inline(v, root, seen);
  }
  return out;
}

export function extract(spec: { [k: string]: Json }): Json {
  const paths = spec["paths"] as { [k: string]: { [m: string]: { [k: string]: Json } } };
  const operations: Json[] = [];
  for (const [method, path] of OPERATIONS) {
    const op = paths[path]?.[method];
    if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the OpenAPI description`);
    const body = op["requestBody"] as { [k: string]: Json } | undefined;
    const inlinedBody = body ? (inline(body, spec) as { [k: string]: Json }) : undefined;
    operations.push({
      method,
      path,
      operationId: op["operationId"] ?? null,
      parameters: inline(op["parameters"] ?? [], spec),
      requestBody: inlinedBody
        ? {
            required: inlinedBody["required"] ?? false,
            schema: ((inlinedBody["content"] as { [k: string]: { [k: string]: Json } })["application/json"]?.[
              "schema"
            ] ?? {}) as Json,
          }
        : null,
    });
  }
  const schemas = (spec["components"] as { [k: string]: { [k: string]: Json } })["schemas"]!;
  const webhooks: { [k: string]: Json } = {};
  for (const name of WEBHOOKS) {
    if (!schemas[name]) throw new Error(`${name} is not in the OpenAPI description`);
    webhooks[name] = inline(schemas[name], spec);
  }
  return {
    source: "@octokit/openapi api.github.com.json",
    version: spec["info"] ? (spec["info"] as { [k: string]: Json })["version"]! : null,
    operations,
    webhooks,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve("@octokit/openapi/package.json"));
  const spec = JSON.parse(readFileSync(join(pkgDir, "generated", "api.github.com.json"), "utf8")) as {
    [k: string]: Json;
  };
  const out = join(dirname(fileURLToPath(import.meta.url)), "openapi-subset.json");
  // Written as Prettier formats it, so `prettier --check .` stays clean after a regeneration.
  const { format, resolveConfig } = await import("prettier");
  const options = { ...(await resolveConfig(out)), parser: "json" };
  writeFileSync(out, await format(JSON.stringify(extract(spec), null, 2), options));
  console.log(`wrote ${out}`);
}
