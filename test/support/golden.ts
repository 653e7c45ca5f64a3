// Golden files: the text a pure planner renders, compared byte for byte with
// the committed file; UPDATE_GOLDEN=1 rewrites it for review.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export function assertGolden(file: string, text: string, testFile: string): void {
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  assert.equal(
    text,
    readFileSync(file, "utf8"),
    `plan changed: review, then UPDATE_GOLDEN=1 node --test ${testFile}`,
  );
}
