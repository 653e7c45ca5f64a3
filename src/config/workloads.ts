// The `.paas.yml` keys of what runs besides the routed web process: the
// release step's command, workers (processes), scheduled jobs (cron) and
// network egress. Part of the schema (schema.ts), kept apart for its size.
import { CronPattern } from "croner";
import { z } from "zod";
import { cpu, memory } from "./quantities.ts";

// A command as users write it: plain words run directly, anything else by /bin/sh -c (start-command.ts).
export const command = z.string().min(1).max(4096).regex(/\S/, "a command, not only spaces");

// Processes without a route (workers) and scheduled jobs: names are DNS labels, unique per app.
const processName = z
  .string()
  .regex(/^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$/, 'a lowercase name of letters, digits and - such as "worker"')
  .refine((n) => n !== "web", '"web" is the routed process (run.command); name workers otherwise');
const processConfig = z
  .strictObject({
    command,
    scale: z
      .strictObject({
        replicas: z.number().int().min(0).max(1000).default(1).describe("Number of replicas. Default 1."),
      })
      .prefault({})
      .describe("Replicas of this process (no autoscaling)."),
    resources: z
      .strictObject({
        requests: z.strictObject({ cpu: cpu.optional(), memory: memory.optional() }).optional(),
        limits: z.strictObject({ cpu: cpu.optional(), memory: memory.optional() }).optional(),
      })
      .optional()
      .describe("CPU and memory per replica; amounts not set here are the app's (resources)."),
  })
  .describe("A process without a route.");
// The short form (just the command) is the long form's command: errors then name the key to fix.
// Its JSON Schema says both forms (docs.ts).
export const processEntry = z.preprocess((v) => (typeof v === "string" ? { command: v } : v), processConfig);
export const processes = z
  .record(processName, processEntry)
  .default({})
  .describe(
    'Processes without a route, by name: a command (`worker: "python worker.py"`) or `{command, scale: {replicas}, resources}`. Each runs the app\'s image with its env and secrets, is replaced on every deploy and removed with the environment.',
  );

const CRON_MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"];
/** Standard five-field cron (minute hour day month weekday) or a macro: what both runtimes read alike. */
export const cronSchedule = z
  .string()
  .max(200)
  .refine((s) => CRON_MACROS.includes(s.trim()) || s.trim().split(/\s+/).length === 5, {
    message: 'a five-field cron schedule such as "*/15 * * * *" (minute hour day month weekday) or @hourly',
  })
  .superRefine((s, ctx) => {
    try {
      new CronPattern(s.trim(), "UTC");
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `not a valid cron schedule: ${(e as Error).message}` });
    }
  })
  .describe('Cron schedule in UTC: five fields ("*/15 * * * *") or @hourly, @daily, @weekly, @monthly.');
const cronJob = z
  .strictObject({
    name: processName.optional().describe("Name of the job. Default: job-<position, from 1>."),
    schedule: cronSchedule,
    command,
  })
  .describe("A command run on a schedule in a one-off container of the app's image.");
export const cron = z
  .array(cronJob)
  .max(20)
  .default([])
  .superRefine((jobs, ctx) => {
    const seen = new Set<string>();
    jobs.forEach((j, i) => {
      const name = j.name ?? `job-${i + 1}`;
      if (seen.has(name))
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `cron job name "${name}" is used twice` });
      seen.add(name);
    });
  })
  .describe(
    "Scheduled jobs: each runs its command on its schedule (UTC) with the app's image, env and secrets; a run still going when the next is due is skipped.",
  );

export const EGRESS = ["none", "internet"] as const;
export const network = z
  .strictObject({
    egress: z
      .enum(EGRESS)
      .default("none")
      .describe(
        "Outbound connections of the app (web, workers, release step and scheduled runs) besides DNS and its own services: none (default) or internet. On Kubernetes a NetworkPolicy enforces it, and internet means public addresses (private ranges stay closed). On Docker, none puts the environment on an internal network with a host firewall guard (no route out, not even to the host), and internet on an ordinary one (what the host reaches). The operator may forbid internet (PAAS_EGRESS_INTERNET=false). See docs/processes.md.",
      ),
  })
  .describe("Network access of the app.");

export type ProcessConfig = z.output<typeof processConfig>;
export type CronJobConfig = z.output<typeof cronJob>;
export type Egress = (typeof EGRESS)[number];
