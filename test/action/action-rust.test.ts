// The bundled Action on the Rust example (see compiled-example.ts).
import { compiledExampleSuite } from "./compiled-example.ts";

compiledExampleSuite({
  language: "rust",
  source: "src/main.rs",
  dependencyStep: /#(\d+) \[builder \d+\/\d+\] RUN [^\n]*mkdir -p src [^\n]*\n(?:[^\n]*\n)*?#\1 CACHED/,
  oneLineChange: (t) => t.replace('"ok\\n".to_string()', '"ok!\\n".to_string()'),
  breakIt: (t) => {
    const lines = t.split("\n");
    const at = lines.findIndex((l) => l.includes('"ok\\n".to_string()'));
    lines[at] = lines[at]!.replace('"ok\\n".to_string()', "not_declared");
    return { text: lines.join("\n"), line: at + 1 };
  },
  errorTitle: /Rust compile error E0425/,
});
