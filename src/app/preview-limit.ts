// The operator's ceiling on previews per repository (PAAS_MAX_PREVIEWS): a
// hand-off that would start one preview too many is refused with the fix.
import { sameEnv } from "../names.ts";
import type { Runtime } from "../runtime/types.ts";

/**
 * The error message when deploying preview `pr` of a repository would exceed
 * `max` live previews; undefined when it fits (or no ceiling is set). A PR
 * that already has a preview is always allowed to update it.
 */
export async function previewCeilingError(
  runtime: Pick<Runtime, "list">,
  repositoryId: number,
  pr: number,
  max: number | undefined,
): Promise<string | undefined> {
  if (max === undefined) return undefined;
  const prs = new Set<number>();
  for (const e of await runtime.list()) {
    if (e.foreign || e.repositoryId !== repositoryId || e.target.environment.kind !== "preview") continue;
    if (sameEnv(e.target.environment, { kind: "preview", pr })) return undefined;
    prs.add(e.target.environment.pr);
  }
  if (prs.size < max) return undefined;
  const open = [...prs]
    .sort((a, b) => a - b)
    .slice(0, 20)
    .map((n) => `#${n}`)
    .join(", ");
  return (
    `this repository already has ${prs.size} previews (${open}), the operator's limit (PAAS_MAX_PREVIEWS=${max}). ` +
    "Close or merge a pull request to free a preview, then push again or re-run this check."
  );
}
