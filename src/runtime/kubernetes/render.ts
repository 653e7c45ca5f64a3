// Multi-document YAML of a plan, ready for `kubectl apply -f -` (the dry run of `paas plan`).
import { stringify } from "yaml";
import type { KubeObject } from "./objects.ts";

export function renderManifests(objects: readonly KubeObject[]): string {
  // YAML 1.1 rules, as kubectl parses: "yes", "on", "0755" and the like stay quoted strings.
  return objects
    .map((o) => stringify(o, { version: "1.1", lineWidth: 0, aliasDuplicateObjects: false }).trimEnd())
    .map((doc) => `---\n${doc}\n`)
    .join("");
}
