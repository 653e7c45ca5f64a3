// The error every settings reader throws: all problems at once, each naming
// the variable and the fix, never a secret's value.
import { PaasError } from "../errors.ts";

export class SettingsError extends PaasError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super("settings_invalid", `invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
  }
}
