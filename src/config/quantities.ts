// Amounts shared by the schema's keys: Kubernetes quantity subsets and durations.
import { z } from "zod";

// Kubernetes quantity subsets we accept: "250m", "0.5", "2" CPUs; "512Mi", "1Gi" memory.
export const cpu = z
  .string()
  .regex(/^(?:\d{1,6}m|\d{1,3}(?:\.\d{1,3})?)$/, 'a CPU amount such as "250m", "0.5" or "2"')
  .describe('CPU amount: millicores ("250m") or cores ("0.5", "2").');
export const memory = z
  .string()
  .regex(/^\d{1,7}(?:Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'a memory amount such as "256Mi" or "1Gi"')
  .describe('Memory amount with a binary unit ("256Mi", "1Gi").');
export const duration = z
  .string()
  .regex(/^\d{1,7}(?:ms|s|m|h|d)$/, 'a duration such as "30s", "5m", "12h" or "7d"')
  .describe('Duration: a number with a unit (ms, s, m, h, d), e.g. "30s".');
