// node transpile_ts.js IN.ts OUT.js
//
// One TypeScript file to CommonJS (ES2020) with the compiler API's transpileModule: types are
// erased, never checked (as tsx and esbuild run TypeScript), which costs a fraction of a
// type-checking `tsc` run. A syntax error is printed as `file(line,col): message` on stderr,
// the way tsc prints it, and nothing is written (exit 1). `typescript` is found through
// NODE_PATH (Debian's node-typescript: /usr/share/nodejs).
'use strict';

const fs = require('fs');
const path = require('path');

function main(argv) {
  if (argv.length !== 2) {
    process.stderr.write('usage: node transpile_ts.js IN.ts OUT.js\n');
    return 2;
  }
  const [input, output] = argv;
  let ts;
  try {
    ts = require('typescript');
  } catch (err) {
    process.stderr.write(`transpile_ts: cannot load the TypeScript compiler (${err.message})\n`);
    return 2;
  }
  let source;
  try {
    source = fs.readFileSync(input, 'utf8');
  } catch (err) {
    process.stderr.write(`transpile_ts: ${err.message}\n`);
    return 2;
  }
  const result = ts.transpileModule(source, {
    fileName: path.basename(input),
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2020,
      // `import x from 'fs'` gets the CommonJS module, as tsx gives it.
      esModuleInterop: true,
      newLine: ts.NewLineKind.LineFeed,
      sourceMap: false,
    },
  });
  const errors = (result.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    for (const diagnostic of errors) {
      process.stderr.write(describe(ts, diagnostic, input) + '\n');
    }
    return 1;
  }
  fs.writeFileSync(output, result.outputText);
  return 0;
}

function describe(ts, diagnostic, input) {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
  if (diagnostic.file && diagnostic.start !== undefined) {
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${input}(${line + 1},${character + 1}): error TS${diagnostic.code}: ${message}`;
  }
  return `error TS${diagnostic.code}: ${message}`;
}

process.exitCode = main(process.argv.slice(2));
