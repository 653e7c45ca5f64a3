// The bundled Action on the Go example (see compiled-example.ts).
import { compiledExampleSuite } from "./compiled-example.ts";

compiledExampleSuite({
  language: "go",
  source: "main.go",
  dependencyStep: /Step \d+\/\d+ : RUN go mod download\n ---> Using cache/,
  oneLineChange: (t) => t.replace('fmt.Fprintln(w, "ok")', 'fmt.Fprintln(w, "ok!")'),
  breakIt: (t) => {
    const lines = t.split("\n");
    const at = lines.findIndex((l) => l.includes('fmt.Fprintln(w, "ok")'));
    lines[at] = "\t\tfmt.Fprintln(w, notDeclared)";
    return { text: lines.join("\n"), line: at + 1 };
  },
  errorTitle: /Go compile error/,
});
