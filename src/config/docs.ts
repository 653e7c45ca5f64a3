// JSON Schema and the Markdown configuration reference, both derived from the
// zod schema so they cannot drift from what the code accepts.
import { z } from "zod";
import { paasConfigSchema } from "./schema.ts";
import { processEntry } from "./workloads.ts";

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  [k: string]: unknown;
};

export function jsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(paasConfigSchema, {
    io: "input",
    unrepresentable: "any",
    override: (ctx) => {
      // A worker is its command, or the object with it (workloads.ts).
      if (ctx.zodSchema !== processEntry) return;
      const long = { ...ctx.jsonSchema };
      for (const k of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Record<string, unknown>)[k];
      ctx.jsonSchema.anyOf = [
        { type: "string", minLength: 1, maxLength: 4096, description: "The command (short form)." },
        long,
      ];
    },
  }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: "https://github.com/paas-dev/paas/schema/paas.schema.json",
    title: ".paas.yml",
    ...schema,
  };
}

export function configurationDoc(): string {
  const schema = jsonSchema() as JsonSchema;
  const out: string[] = [
    "# Configuration reference: `.paas.yml`",
    "",
    "<!-- Generated from src/config/schema.ts by `npm run gen`. Do not edit by hand. -->",
    "",
    "Put `.paas.yml` at the root of the repository. Every key is optional: a missing file means all",
    "defaults (language detected, port 8080, production deployed from `main`, previews on).",
    "Unknown keys are errors. `paas validate` checks the file and prints each mistake as",
    "`.paas.yml:LINE:COLUMN: error: …` with a hint. Editors get completion from",
    "[`schema/paas.schema.json`](../schema/paas.schema.json), for example with the YAML language server:",
    "",
    "```yaml",
    "# yaml-language-server: $schema=https://raw.githubusercontent.com/paas-dev/paas/main/schema/paas.schema.json",
    "name: shop",
    "run:",
    "  port: 8000",
    "  healthcheck: { path: /healthz }",
    "env:",
    "  LOG_LEVEL: info",
    "secrets: [DATABASE_URL]",
    "environments:",
    "  production: { branch: main, domains: [shop.example.org], scale: { autoscale: { min: 2, max: 10 } } }",
    "  staging: { branch: develop }",
    "previews:",
    "  forks: approve",
    "  ttl: 3d",
    "```",
    "",
    "## How environments inherit",
    "",
    "The top-level `env`, `resources`, `scale` and `run.command` apply to every environment. An entry",
    "under `environments` (or `previews`) overrides them: `env` maps are merged key by key, `resources`",
    "are merged, `scale` and `secrets` are replaced. Previews receive only the secrets listed under",
    "`previews.secrets`, never the top-level or production ones, and never custom domains.",
    "`run.release`, `processes` and `cron` apply to every environment, previews included",
    "([release step, workers and scheduled jobs](processes.md)).",
    "",
    "In a monorepo, each entry of `apps` is one app with its own `path`; it inherits every top-level",
    "key it does not set.",
    "",
    "## Which branch's file decides what",
    "",
    "Where a deploy goes and what it may read is decided by `.paas.yml` on the **default branch** only:",
    "`environments` (their names, `branch`, `domains`, `secrets`, `protected` and overrides), the",
    "top-level `secrets`, `previews.secrets`, `previews.forks` and `network.egress`. The `.paas.yml` of",
    "the commit being deployed decides how it is built and run (`language`, `build`, `run`, `resources`,",
    "`scale`, `env`, `processes`, `cron`).",
    "A pull request that changes the former is deployed with the default branch's values, and its",
    "check run lists the changes that take effect after merge.",
    "",
    "An environment without `branch` deploys only from the default branch. `production` is protected",
    "unless it sets `protected: false`: its hand-off must come from a workflow job that ran in the GitHub",
    "environment `production` (`environment: production` on the job), so GitHub's protection rules",
    "(required reviewers, deployment branches) gate it. Any environment can set `protected: true`.",
    "",
    "## Keys",
    "",
  ];
  walk(schema, "", out);
  return out.join("\n").replace(/\n{3,}/g, "\n\n") + "\n";
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(" | ");
  if (s.anyOf) return s.anyOf.map(typeOf).join(" | ");
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "values"}`;
  if (s.type === "object" && !s.properties) return "mapping";
  if (s.type === "integer") return "integer";
  return Array.isArray(s.type) ? s.type.join(" | ") : (s.type ?? "any");
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function walk(s: JsonSchema, path: string, out: string[]): void {
  if (!s.properties) return;
  const rows: string[] = [];
  const nested: [string, JsonSchema][] = [];
  for (const [key, prop] of Object.entries(s.properties)) {
    const full = path ? `${path}.${key}` : key;
    const def =
      prop.default !== undefined &&
      !(typeof prop.default === "object" && Object.keys(prop.default ?? {}).length === 0)
        ? `\`${JSON.stringify(prop.default)}\``
        : "";
    const limits = [
      prop.minimum !== undefined ? `min ${prop.minimum}` : "",
      prop.maximum !== undefined ? `max ${prop.maximum}` : "",
    ]
      .filter(Boolean)
      .join(", ");
    rows.push(
      `| \`${full}\` | ${cell(typeOf(prop))} | ${def} | ${cell(prop.description ?? "")}${limits ? ` (${limits})` : ""} |`,
    );
    if (prop.properties) nested.push([full, prop]);
    // Maps of objects (environments, apps): document the entry shape under "<key>.<name>".
    const entry = typeof prop.additionalProperties === "object" ? prop.additionalProperties : undefined;
    if (entry?.properties) nested.push([`${full}.<name>`, entry]);
  }
  out.push(`### \`${path || "(top level)"}\``, "");
  if (s.description) out.push(s.description, "");
  out.push("| key | type | default | description |", "| --- | --- | --- | --- |", ...rows, "");
  for (const [p, child] of nested) walk(child, p, out);
}
