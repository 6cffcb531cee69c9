import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Every TSDoc `@example` and every TypeScript block of the README and of the docs/ pages is
 * type-checked against the package, as users would write it; and every public export has an
 * example. An example that no longer compiles is a broken promise to the reader.
 */
const ROOT = join(import.meta.dirname, '..');
const ENTRIES = ['src/index.ts', 'src/react-native/index.ts', 'src/testing/index.ts', 'src/react/index.ts', 'src/visualize/index.ts', 'src/browser/index.ts'];

/** What the examples may use without declaring it: the app's own functions and values. */
const PRELUDE = `
declare function showBanner(): void;
declare function showConsentBanner(): void;
declare function getIdfa(): Promise<string | undefined>;
declare const COLLECTOR_URL: string;
declare const currentLevel: import('consent-tracker').ConsentLevel;
`;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The ```ts blocks of the TSDoc comments of a file, with where they are. */
function tsdocExamples(file: string): Array<{ name: string; code: string }> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const examples: Array<{ name: string; code: string }> = [];
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const lines = comment[0].split('\n').map((line) => line.replace(/^\s*\*\s?/, ''));
    const body = lines.join('\n');
    for (const block of body.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const line = text.slice(0, comment.index).split('\n').length;
      examples.push({ name: `${file}:${line}`, code: block[1] ?? '' });
    }
  }
  return examples;
}

/** The ```ts and ```tsx blocks of a Markdown file, with where they are. */
function markdownExamples(file: string): Array<{ name: string; code: string; tsx?: boolean }> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/```(tsx?)\n([\s\S]*?)```/g)].map((block) => ({ name: `${file}:${text.slice(0, block.index).split('\n').length}`, code: block[2] ?? '', tsx: block[1] === 'tsx' }));
}

/** The documentation pages: every Markdown file under docs/. */
function docPages(): string[] {
  return readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => join('docs', name));
}

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  return { ...ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT).options, noEmit: true, noUnusedLocals: false };
}

const readme = markdownExamples('README.md');
const pages = docPages();
const docs = pages.flatMap(markdownExamples);
const examples: Array<{ name: string; code: string; tsx?: boolean }> = [...sourceFiles('src').flatMap(tsdocExamples), ...sourceFiles('machines').flatMap(tsdocExamples), ...readme, ...docs];

describe('documentation examples', () => {
  it('are found (a TSDoc example on the public API, the README quick starts, the docs pages)', () => {
    expect(examples.length).toBeGreaterThan(70);
    // The README's two quick starts, and examples on the docs pages that show code.
    expect(readme.length).toBeGreaterThanOrEqual(2);
    expect(pages).toEqual(expect.arrayContaining(['docs/api.md', 'docs/identifier-policy.md', 'docs/lifecycle.md', 'docs/migrating-from-v2.md', 'docs/react-native.md', 'docs/testing.md']));
    expect(docs.length).toBeGreaterThanOrEqual(10);
  });

  it('all type-check against the package', () => {
    const virtual = new Map<string, string>();
    virtual.set(join(ROOT, 'doc-examples/prelude.d.ts'), PRELUDE);
    const names = new Map<string, string>();
    examples.forEach((example, i) => {
      const path = join(ROOT, `doc-examples/example-${i}.${example.tsx ? 'tsx' : 'ts'}`);
      // A module each, so that examples do not collide; top-level await is allowed in modules.
      virtual.set(path, `${example.code}\nexport {};\n`);
      names.set(path, example.name);
    });
    const options = compilerOptions();
    const host = ts.createCompilerHost(options);
    const readFile = host.readFile.bind(host);
    const fileExists = host.fileExists.bind(host);
    const getSourceFile = host.getSourceFile.bind(host);
    host.readFile = (file) => virtual.get(file) ?? readFile(file);
    host.fileExists = (file) => virtual.has(file) || fileExists(file);
    host.getSourceFile = (file, language) => {
      const text = virtual.get(file);
      return text === undefined ? getSourceFile(file, language) : ts.createSourceFile(file, text, language);
    };
    const program = ts.createProgram([...virtual.keys()], options, host);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && virtual.has(d.file.fileName))
      .map((d) => {
        const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
        return `${names.get(d.file?.fileName ?? '') ?? d.file?.fileName} (line ${where} of the example): ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    expect(problems).toEqual([]);
  }, 60_000);

  it('cover every public export', () => {
    const program = ts.createProgram(ENTRIES.map((entry) => join(ROOT, entry)), compilerOptions());
    const checker = program.getTypeChecker();
    const missing: string[] = [];
    for (const entry of ENTRIES) {
      const source = program.getSourceFile(join(ROOT, entry));
      const moduleSymbol = source && checker.getSymbolAtLocation(source);
      if (!moduleSymbol) throw new Error(`cannot read ${entry}`);
      for (const exported of checker.getExportsOfModule(moduleSymbol)) {
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        const documented = (symbol.declarations ?? []).some((declaration) => {
          const node = ts.isVariableDeclaration(declaration) ? declaration.parent.parent : declaration;
          return ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'example');
        });
        if (!documented) missing.push(`${entry}: ${exported.name} (${relative(ROOT, symbol.declarations?.[0]?.getSourceFile().fileName ?? '?')})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
