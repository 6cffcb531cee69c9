import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The built React entry, as frameworks with React Server Components read it: it must start with
 * the 'use client' directive, or the App Router treats the hooks as server code and fails. And the
 * built command, as `npx consent-tracker` runs it.
 */

const DIST = join(import.meta.dirname, '..', 'dist');

describe('the built consent-tracker/react entry', () => {
  it("starts with 'use client' in its ESM and CommonJS builds, and imports the core by the package's name", () => {
    // npm test builds first; a run of this file alone builds here.
    if (!existsSync(join(DIST, 'react.js'))) execFileSync('npx', ['tsdown'], { cwd: join(DIST, '..'), stdio: 'ignore' });
    for (const file of ['react.js', 'react.cjs']) {
      const code = readFileSync(join(DIST, file), 'utf8');
      expect(code.trimStart().startsWith('"use client";') || code.trimStart().startsWith("'use client';"), file).toBe(true);
      expect(code).toMatch(/from "consent-tracker"|require\("consent-tracker"\)/);
    }
  }, 60_000);
});

describe('the built consent-tracker command', () => {
  it('runs as `consent-tracker chart` from the package bin', () => {
    if (!existsSync(join(DIST, 'cli.js'))) execFileSync('npx', ['tsdown'], { cwd: join(DIST, '..'), stdio: 'ignore' });
    expect(readFileSync(join(DIST, 'cli.js'), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    const dot = execFileSync(process.execPath, [join(DIST, 'cli.js'), 'chart', '--format', 'dot'], { encoding: 'utf8' });
    expect(dot).toMatch(/^digraph "consent" \{/);
  });
});

describe('the CommonJS builds', () => {
  it('of the core and of the React entry load nothing of React Native (a web app has none)', () => {
    if (!existsSync(join(DIST, 'index.cjs'))) execFileSync('npx', ['tsdown'], { cwd: join(DIST, '..'), stdio: 'ignore' });
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, required] of readFileSync(join(DIST, file), 'utf8').matchAll(/require\("([^"]+)"\)/g)) {
        expect(required, `${file} requires ${required}`).not.toMatch(/react-native/);
        if (required?.startsWith('./')) visit(required.slice(2));
      }
    };
    visit('index.cjs');
    visit('react.cjs');
    expect(seen.size).toBeGreaterThan(2);
  });
});
