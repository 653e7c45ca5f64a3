// The bundled Action on the Go example (see compiled-example.ts).
import { compiledExampleSuite } from "./compiled-example.ts";

compiledExampleSuite({
  language: "go",
  source: "main.go",
  // BuildKit's log: the step's header, then (maybe after other steps' lines) its CACHED line.
  dependencyStep: /#(\d+) \[builder \d+\/\d+\] RUN [^\n]*go mod download\n(?:[^\n]*\n)*?#\1 CACHED/,
  oneLineChange: (t) => t.replace('fmt.Fprintln(w, "ok")', 'fmt.Fprintln(w, "ok!")'),
  breakIt: (t) => {
    const lines = t.split("\n");
    const at = lines.findIndex((l) => l.includes('fmt.Fprintln(w, "ok")'));
    lines[at] = "\t\tfmt.Fprintln(w, notDeclared)";
    return { text: lines.join("\n"), line: at + 1 };
  },
  errorTitle: /Go compile error/,
});
