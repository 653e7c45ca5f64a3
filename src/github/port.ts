// The GitHub port: every GitHub call the App makes, as one interface. Use
// cases take only the role they need (`Pick<GitHubPort, ...>`), so a unit test
// implements a few methods in memory; src/github/octokit.ts is the one adapter.

export interface RepoRef {
  owner: string;
  repo: string;
  installationId: number;
}

/** A repository with the ids the App keys its state by. */
export interface RepoInfo extends RepoRef {
  repositoryId: number;
  ownerId: number;
}

export interface PullInfo {
  number: number;
  state: "open" | "closed";
  headSha: string;
  mergeSha: string | null;
  headRef: string;
  baseRef: string;
  /** Head repository id: differs from the base for forks. */
  headRepoId: number | undefined;
  baseRepoId: number;
}

export interface CheckRunOutput {
  title: string;
  summary: string;
  text?: string | undefined;
  annotations?: Annotation[] | undefined;
}

export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number | undefined;
  end_column?: number | undefined;
  annotation_level: "notice" | "warning" | "failure";
  message: string;
  title?: string | undefined;
}

export interface CheckRunUpdate {
  status?: "queued" | "in_progress" | "completed";
  conclusion?: "success" | "failure" | "cancelled" | "neutral" | "action_required" | "timed_out" | "skipped";
  startedAt?: string;
  completedAt?: string;
  detailsUrl?: string | undefined;
  output?: CheckRunOutput;
  /** Durable state on the App's own check run (fork approvals record the approver here). */
  externalId?: string | undefined;
  /** Buttons on the check run (GitHub allows at most 3); a click is a check_run.requested_action webhook. */
  actions?: CheckRunAction[] | undefined;
}

export interface CheckRunAction {
  /** At most 20 characters. */
  label: string;
  /** At most 40 characters. */
  description: string;
  /** At most 20 characters: what the webhook's requested_action.identifier says. */
  identifier: string;
}

export type DeploymentState = "queued" | "in_progress" | "success" | "failure" | "error" | "inactive";

/** States after which a deployment is finished: nothing resumes it. */
export const TERMINAL_STATES: ReadonlySet<string> = new Set<DeploymentState>([
  "success",
  "failure",
  "error",
  "inactive",
]);

export interface DeploymentStatusInput {
  state: DeploymentState;
  description: string;
  environmentUrl?: string | undefined;
  logUrl?: string | undefined;
}

export interface DeploymentInput {
  sha: string;
  environment: string;
  description: string;
  transient: boolean;
  production: boolean;
  payload: Record<string, string>;
}

export interface DeploymentRecord {
  id: number;
  sha: string;
  environment: string;
  /** What the App wrote (image, digest, sha, app). */
  payload: Record<string, unknown>;
  createdAt: string;
}

export interface Delivery {
  id: number;
  guid: string;
  event: string;
  action: string | null;
  deliveredAt: string;
  ok: boolean;
  redelivery: boolean;
}

/** The reactions the App leaves on a `/paas` command (src/deploy/ops-chatops.ts). */
export type Reaction = "eyes" | "+1" | "-1" | "rocket" | "confused";

export type Permission = "admin" | "maintain" | "write" | "triage" | "read" | "none";

/** The HTTP status of a failed GitHub call (Octokit's RequestError carries it), if any. */
export function httpStatus(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "status" in e
    ? Number((e as { status: unknown }).status)
    : undefined;
}

export interface GitHubPort {
  // ----- as the App -----
  /** The installation holding a repository and its ids, or undefined when the App is not installed there. */
  findInstallation(
    owner: string,
    repo: string,
  ): Promise<{ installationId: number; ownerId: number } | undefined>;
  /** Every repository of every installation of the App. */
  repositories(): Promise<RepoInfo[]>;
  /** Webhook deliveries delivered after `since`, newest first. */
  deliveries(since: Date, maxPages: number): Promise<Delivery[]>;
  redeliver(id: number): Promise<void>;

  // ----- repositories -----
  /** Repository id and default branch (one read, with the installation token). */
  repository(r: RepoRef): Promise<{ repositoryId: number; defaultBranch: string }>;
  defaultBranch(r: RepoRef): Promise<string>;
  /** File text at a ref; undefined when the file does not exist. */
  getFile(r: RepoRef, path: string, ref: string): Promise<string | undefined>;
  /**
   * A conditional read of a file (If-None-Match): "unchanged" when GitHub answers 304 for
   * `etag` (a 304 is not counted against the rate limit), else its text (undefined when it
   * does not exist) and the ETag to send next time.
   */
  getFileIfChanged(
    r: RepoRef,
    path: string,
    ref: string,
    etag: string | undefined,
  ): Promise<"unchanged" | { text: string | undefined; etag: string | undefined }>;
  /** Head commit of a branch; undefined when the branch does not exist. */
  branchHead(r: RepoRef, branch: string): Promise<string | undefined>;
  /** The user's permission on the repository. */
  permission(r: RepoRef, login: string): Promise<Permission>;
  dispatchWorkflow(r: RepoRef, workflow: string, ref: string, inputs: Record<string, string>): Promise<void>;

  // ----- onboarding (src/deploy/onboarding.ts) -----
  /** Paths of the files in a commit's tree (blobs only); `truncated` when GitHub cut the listing short. */
  listFiles(r: RepoRef, sha: string): Promise<{ paths: string[]; truncated: boolean }>;
  /** Creates branch `branch` at `sha`; false when it already exists. */
  createBranch(r: RepoRef, branch: string, sha: string): Promise<boolean>;
  /** Adds a new file on a branch (one commit); false when the file already exists there (never overwritten). */
  addFile(
    r: RepoRef,
    f: { branch: string; path: string; content: string; message: string },
  ): Promise<boolean>;
  /** Opens a pull request; returns its number. */
  createPull(r: RepoRef, p: { title: string; head: string; base: string; body: string }): Promise<number>;
  /** Pull requests (open or closed) whose head is this repository's branch `branch`. */
  pullsFromBranch(r: RepoRef, branch: string): Promise<{ number: number; state: "open" | "closed" }[]>;

  // ----- pull requests and comments -----
  getPull(r: RepoRef, number: number): Promise<PullInfo | undefined>;
  /** Open pull requests: number and head sha. */
  openPulls(r: RepoRef): Promise<{ number: number; headSha: string }[]>;
  /** Comments of an issue or PR, oldest first (first pages only: the App comments early). */
  listComments(r: RepoRef, issue: number): Promise<{ id: number; body: string; byBot: boolean }[]>;
  createComment(r: RepoRef, issue: number, body: string): Promise<number>;
  updateComment(r: RepoRef, id: number, body: string): Promise<void>;
  /** Reacts to an issue or PR comment (an existing reaction of the App is success). */
  reactToComment(r: RepoRef, commentId: number, content: Reaction): Promise<void>;

  // ----- check runs -----
  createCheckRun(r: RepoRef, headSha: string, name: string, update: CheckRunUpdate): Promise<number>;
  updateCheckRun(r: RepoRef, id: number, update: CheckRunUpdate): Promise<void>;
  /** Id of the newest check run with this name on a commit. */
  findCheckRun(r: RepoRef, sha: string, name: string): Promise<number | undefined>;
  /** The newest check run of this name on a commit created by this App, with its external_id. */
  findOwnCheckRun(
    r: RepoRef,
    sha: string,
    name: string,
  ): Promise<{ id: number; externalId: string | null } | undefined>;
  /** The App's check runs on a commit that are still queued. */
  queuedChecks(r: RepoRef, sha: string): Promise<{ id: number; name: string; startedAt: string | null }[]>;

  // ----- deployments and environments -----
  createDeployment(r: RepoRef, input: DeploymentInput): Promise<number>;
  createDeploymentStatus(r: RepoRef, id: number, input: DeploymentStatusInput): Promise<void>;
  /** Newest deployments (at most `max`), newest first; of one environment when named. */
  deployments(r: RepoRef, max: number, environment?: string): Promise<DeploymentRecord[]>;
  /** Deployments of a commit in every environment, newest first (first 100), with their payloads. */
  deploymentsOfCommit(r: RepoRef, sha: string): Promise<DeploymentRecord[]>;
  /** States of a deployment's statuses, newest first (first 100). */
  deploymentStates(r: RepoRef, id: number): Promise<DeploymentState[]>;
  /** State of a deployment's newest status; undefined when it has none. */
  latestDeploymentState(r: RepoRef, id: number): Promise<DeploymentState | undefined>;
  /** Names of the repository's GitHub environments. */
  environments(r: RepoRef): Promise<string[]>;
  /** Deletes an environment; a missing one is success. */
  deleteEnvironment(r: RepoRef, name: string): Promise<void>;
}
