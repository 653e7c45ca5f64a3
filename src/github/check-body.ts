// A check run update as GitHub's REST body: only the fields set, in GitHub's
// names (the one adapter, octokit.ts, sends it on create and update).
import type { CheckRunUpdate } from "./port.ts";

/** The check run fields of an update; the only place the port's names become the API's. */
export function checkBody(u: CheckRunUpdate) {
  return {
    ...(u.status ? { status: u.status } : {}),
    ...(u.conclusion ? { conclusion: u.conclusion } : {}),
    ...(u.startedAt ? { started_at: u.startedAt } : {}),
    ...(u.completedAt ? { completed_at: u.completedAt } : {}),
    ...(u.detailsUrl ? { details_url: u.detailsUrl } : {}),
    ...(u.output ? { output: u.output } : {}),
    ...(u.externalId ? { external_id: u.externalId } : {}),
    ...(u.actions ? { actions: u.actions } : {}),
  };
}
