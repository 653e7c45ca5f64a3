// The onboarding pull request's content, pure: `.paas.yml` holding only what
// differs from the defaults (with comments saying what was detected and why),
// the workflow that runs the Action, and the pull request's title and body.
// src/deploy/onboarding.ts reads the repository and writes these.
import type { BuildPlan } from "../detect/types.ts";

export const ONBOARDING_BRANCH = "paas/onboarding";
export const ONBOARDING_TITLE = "Deploy with paas";

export interface OnboardingInput {
  /** owner/repo, for the text only. */
  fullName: string;
  defaultBranch: string;
  /** What detection found on the default branch, or why it could not decide. */
  detected:
    | { plan: BuildPlan; language: "auto" | "python" }
    | { error: string; key: string; language: "auto" | "python" };
  /** The App's public URL: where the Action hands off, and its OIDC audience. */
  appUrl: string;
  /** The Action, as `uses:` names it (PAAS_ACTION). */
  action: string;
  /** Workflow file name (PAAS_FORK_WORKFLOW: the App dispatches it for approved fork pull requests). */
  workflow: string;
}

export interface OnboardingFiles {
  config: string;
  workflow: string;
  title: string;
  body: string;
}

/** Comment lines, one per line of text, none carrying a line break from repository text. */
function comment(lines: string[]): string {
  return lines.map((l) => `# ${l.replace(/[\r\n]+/g, " ")}`.trimEnd()).join("\n") + "\n";
}

function describePlan(plan: BuildPlan): string[] {
  const out = [
    `language: ${plan.language}${plan.version ? ` ${plan.version}` : ""}`,
    `start:    ${plan.start ?? "the Dockerfile's CMD"}`,
    `port:     ${plan.port} (the app must listen on $PORT)`,
  ];
  return [...out, "because:", ...plan.reasons.map((r) => `  - ${r}`)];
}

/** `.paas.yml`: comments, plus the keys whose default would not fit this repository. */
export function onboardingConfig(input: OnboardingInput): string {
  const head = [
    `paas configuration of ${input.fullName} (reference: docs/configuration.md of paas).`,
    "Only what differs from the defaults is set; every other key keeps its default.",
    "",
  ];
  const keys: string[] = [];
  const d = input.detected;
  if ("plan" in d) {
    head.push("paas detected, on the default branch:", ...describePlan(d.plan).map((l) => `  ${l}`));
  } else {
    head.push(
      "paas could not detect how to build this repository:",
      `  ${d.error}`,
      `Set \`${d.key}\` below (or add a Dockerfile), then push: the preview of this pull request is the first deploy.`,
    );
    keys.push(`# ${d.key}: <set me>`);
  }
  if (d.language === "python") {
    head.push(
      "",
      "language: python is set because no Python manifest (requirements.txt, pyproject.toml…)",
      "was found, only .py files: detection does not guess a language without a manifest.",
    );
    keys.unshift("language: python");
  }
  if (input.defaultBranch !== "main") {
    head.push(
      "",
      `production deploys from ${input.defaultBranch}, this repository's default branch (the default is main).`,
    );
    keys.push("environments:", "  production:", `    branch: ${JSON.stringify(input.defaultBranch)}`);
  }
  return comment(head) + (keys.length > 0 ? keys.join("\n") + "\n" : "");
}

/** The workflow: build on push to the default branch and on pull requests, hand the image to the App. */
export function onboardingWorkflow(input: OnboardingInput): string {
  const branch = JSON.stringify(input.defaultBranch);
  // The branch name stays out of the expression: the event names the default branch itself.
  const onDefault =
    "github.event_name == 'push' && github.ref_name == github.event.repository.default_branch";
  return `# Builds the image on every push and pull request and hands it to the paas App
# (opened by the paas App's onboarding pull request).
# workflow_dispatch: the App dispatches this workflow to build a fork's pull request
# after a maintainer approved it with "/paas deploy".
name: paas
on:
  push:
    branches: [${branch}]
  pull_request:
  workflow_dispatch:
    inputs:
      pr:
        description: Pull request number (set by the paas App for an approved fork)
        required: true
      sha:
        description: Approved head commit of that pull request
        required: true

permissions:
  contents: read # check out the code
  packages: write # push the image to GHCR with the workflow's token
  id-token: write # the OIDC token the App verifies

jobs:
  deploy:
    runs-on: ubuntu-latest
    # Production is protected: the App deploys it only from a job in the GitHub environment
    # "production", so that environment's rules (required reviewers, deployment branches) gate it.
    # Pull requests run in "preview", whose secrets their previews receive; approved fork builds
    # run in no environment (an empty name), so fork code never gets a secret.
    environment: \${{ ${onDefault} && 'production' || github.event_name == 'pull_request' && 'preview' || '' }}
    steps:
      - uses: actions/checkout@v4
        with:
          ref: \${{ inputs.sha || github.sha }}
          persist-credentials: false
      - uses: ${input.action}
        with:
          app-url: ${JSON.stringify(input.appUrl)}
          environment: \${{ inputs.pr && format('preview/pr-{0}', inputs.pr) || '' }}
          sha: \${{ inputs.sha }}
          # The job's environment secrets; only those .paas.yml names are sealed and sent.
          secrets: \${{ toJSON(secrets) }}
`;
}

export function onboardingFiles(input: OnboardingInput, o: { workflowExists: boolean }): OnboardingFiles {
  const d = input.detected;
  const found =
    "plan" in d
      ? `paas detected a **${d.plan.language}** app: ${d.plan.reasons.map((r) => `\n- ${r}`).join("")}`
      : `paas could not detect how to build this repository:\n\n> ${d.error.replace(/\n/g, " ")}\n\nSet \`${d.key}\` in \`.paas.yml\` (or add a \`Dockerfile\`) on this branch; the next push deploys its preview.`;
  const workflowLine = o.workflowExists
    ? `- \`.github/workflows/${input.workflow}\` already exists and is left as it is: it must run the paas Action (\`uses: ${input.action}\`).`
    : `- \`.github/workflows/${input.workflow}\`: builds on pushes to \`${input.defaultBranch}\` and on pull requests with the paas Action and hands the image to the App.`;
  const body = [
    "This pull request sets up deploys with paas. Merging it deploys production; until then, this pull request's own preview is the first deploy.",
    "",
    found,
    "",
    "It adds:",
    "- `.paas.yml`: only what differs from the defaults, with comments on what was detected and why.",
    workflowLine,
    "",
    "Before merging:",
    `- create the GitHub environment **production** (Settings → Environments) with the protection rules you want (required reviewers, deployment branch \`${input.defaultBranch}\`): the App deploys production only from a job that ran in it;`,
    "- images go to GHCR under this repository's owner with the workflow's token (`packages: write`).",
    "",
    "Close this pull request to opt out: the App opens it only once per repository.",
  ].join("\n");
  return {
    config: onboardingConfig(input),
    workflow: onboardingWorkflow(input),
    title: ONBOARDING_TITLE,
    body,
  };
}
