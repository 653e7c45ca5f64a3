// The `services:` key of `.paas.yml`: add-on services (a database, a cache)
// that the runtime provisions per environment. Built by a function that takes
// the shared variable-name schema, so schema.ts can import it without a cycle.
import { z } from "zod";

export const SERVICE_TYPES = ["postgres", "redis"] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

/** What each type gets by default: the official image's version and the variable its URL goes to. */
export const SERVICE_DEFAULTS: Record<ServiceType, { version: string; env: string; port: number }> = {
  postgres: { version: "17", env: "DATABASE_URL", port: 5432 },
  redis: { version: "8", env: "REDIS_URL", port: 6379 },
};

/** The names the runtime reserves inside an environment: the app's own workload. */
export const RESERVED_SERVICE_NAMES = ["web"] as const;

export function servicesSchema(envVarName: z.ZodType<string>) {
  const service = z
    .strictObject({
      type: z.enum(SERVICE_TYPES).describe("What runs: postgres (PostgreSQL) or redis."),
      version: z
        .string()
        .regex(/^\d{1,3}(?:\.\d{1,3})?$/, 'a major version such as "17" or "7.4"')
        .optional()
        .describe(
          'Version: the tag of the official image (postgres:<version>, redis:<version>). Default: "17" for postgres, "8" for redis.',
        ),
      env: envVarName
        .optional()
        .describe(
          "Variable the connection URL is given to the app in. Default: DATABASE_URL for postgres, REDIS_URL for redis.",
        ),
      storage: z
        .string()
        .regex(/^\d{1,7}(?:Mi|Gi|Ti)$/, 'a size such as "1Gi" or "500Mi"')
        .default("1Gi")
        .describe(
          "Size of the data volume requested from the cluster (Kubernetes PersistentVolumeClaim); Docker volumes are not sized.",
        ),
      remove: z
        .literal("confirm")
        .optional()
        .describe(
          "`confirm` deletes this service and its data on the next deploy of a long-lived environment. Read from the default branch's .paas.yml only. Without it, a service removed from the file is stopped and its data kept.",
        ),
    })
    .describe("An add-on service, provisioned per environment with its own data and credentials.");

  return z
    .record(
      z
        .string()
        .regex(/^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$/, 'a lowercase name such as "db" or "cache"')
        .refine(
          (n) => !(RESERVED_SERVICE_NAMES as readonly string[]).includes(n),
          `${RESERVED_SERVICE_NAMES.join(", ")} is reserved for the app itself`,
        ),
      service,
    )
    .default({})
    .superRefine((services, ctx) => {
      // Two services giving their URL in one variable would hide one of them.
      const seen = new Map<string, string>();
      for (const [name, s] of Object.entries(services)) {
        if (s.remove) continue;
        const variable = s.env ?? SERVICE_DEFAULTS[s.type].env;
        const other = seen.get(variable);
        if (other !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [name, "env"],
            message: `${variable} is already given to service ${other}: set env to another name on one of them`,
          });
        }
        seen.set(variable, name);
      }
    })
    .describe(
      "Add-on services by name (the host name the app reaches them at): each environment gets its own instance; previews get an empty one, removed with the preview. Connection URLs are given as environment variables; credentials are generated once per environment.",
    );
}

export type ServicesConfig = z.output<ReturnType<typeof servicesSchema>>;
export type ServiceConfig = ServicesConfig[string];
