// The import boundaries in eslint.config.js hold: a file placed in a layer that imports a layer
// downstream of it is an ESLint error (so `npm run lint`, and CI, fail), while an import that
// follows the one-way flow is not. The files are linted from memory; nothing is written to src/.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const eslint = new ESLint({ cwd: root });

/** The no-restricted-imports messages ESLint reports for `code` placed at `file` (relative to the repository). */
async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports' && m.severity === 2).map((m) => m.message);
}

describe('import boundaries', () => {
  it('model/ importing xds/ is an error that names both layers and the flow', async () => {
    const errors = await boundaryErrors(
      'src/model/boundary-probe.ts',
      "import { XdsServer } from '../xds/server.js';\nexport const server = XdsServer;\n",
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('model/ must not import xds');
    expect(errors[0]).toContain('sources/ -> model/ -> translate/ -> cache/ -> xds/');
  });

  it('type-only and re-exporting imports of a downstream layer are errors too', async () => {
    const errors = await boundaryErrors(
      'src/translate/boundary-probe.ts',
      "import type { ResourceCache } from '../cache/cache.js';\nexport type { XdsServer } from '../xds/server.js';\nexport type C = ResourceCache;\n",
    );
    expect(errors).toEqual([
      expect.stringContaining('translate/ must not import cache'),
      expect.stringContaining('translate/ must not import xds'),
    ]);
  });

  it('translate/ reads only the model, never sources/', async () => {
    const errors = await boundaryErrors(
      'src/translate/boundary-probe.ts',
      "import type { IngressObject } from '../sources/types.js';\nexport type I = IngressObject;\n",
    );
    expect(errors).toEqual([expect.stringContaining('translate/ must not import sources')]);
  });

  it('xds/ may not know the model, the translator or the sources', async () => {
    for (const target of ['../model/index.js', '../translate/index.js', '../sources/types.js']) {
      const errors = await boundaryErrors('src/xds/boundary-probe.ts', `import type { X } from '${target}';\nexport type Y = X;\n`);
      expect(errors).toHaveLength(1);
    }
  });

  it('an upstream import is allowed: xds/ uses cache/, translate/ uses model/ through its index', async () => {
    expect(
      await boundaryErrors(
        'src/xds/boundary-probe.ts',
        "import { ResourceCache } from '../cache/cache.js';\nexport const c = ResourceCache;\n",
      ),
    ).toEqual([]);
    expect(
      await boundaryErrors(
        'src/translate/boundary-probe.ts',
        "import { MeshModel } from '../model/index.js';\nexport const m = MeshModel;\n",
      ),
    ).toEqual([]);
  });

  it('translate/ from another folder goes through translate/index.ts', async () => {
    const errors = await boundaryErrors(
      'src/pipeline/boundary-probe.ts',
      "import { buildRoutes } from '../translate/routes.js';\nexport const b = buildRoutes;\n",
    );
    expect(errors).toEqual([expect.stringContaining('translate/index.js')]);
    expect(
      await boundaryErrors(
        'src/pipeline/boundary-probe.ts',
        "import { translateAll } from '../translate/index.js';\nexport const t = translateAll;\n",
      ),
    ).toEqual([]);
  });

  it('analysis/ is entered through its index, except the shared Problem type', async () => {
    const deep = "import { Analysis } from '../analysis/analyze.js';\nexport const a = Analysis;\n";
    expect(await boundaryErrors('src/pipeline/boundary-probe.ts', deep)).toEqual([expect.stringContaining('analysis/index.js')]);
    const problem = "import type { Problem } from '../analysis/problem.js';\nexport type P = Problem;\n";
    expect(await boundaryErrors('src/xds/boundary-probe.ts', problem)).toEqual([]);
  });

  it('envoy/ and analysis/problem.ts are leaves (nothing of ours but log), clients/ reads nothing', async () => {
    expect(await boundaryErrors('src/envoy/boundary-probe.ts', "import { log } from '../log.js';\nexport const l = log;\n")).toEqual([]);
    expect(
      await boundaryErrors('src/envoy/boundary-probe.ts', "import { MeshModel } from '../model/index.js';\nexport const m = MeshModel;\n"),
    ).toHaveLength(1);
    expect(
      await boundaryErrors('src/analysis/problem.ts', "import { MeshModel } from '../model/index.js';\nexport const m = MeshModel;\n"),
    ).toHaveLength(1);
    expect(await boundaryErrors('src/clients/boundary-probe.ts', "import { log } from '../log.js';\nexport const l = log;\n")).toHaveLength(
      1,
    );
  });

  it('cli/ is imported by nothing below it except its flag parser', async () => {
    expect(
      await boundaryErrors(
        'src/sources/boundary-probe.ts',
        "import type { FlagSpec } from '../cli/flags.js';\nexport type F = FlagSpec;\n",
      ),
    ).toEqual([]);
    expect(
      await boundaryErrors('src/sources/boundary-probe.ts', "import { render } from '../cli/render.js';\nexport const r = render;\n"),
    ).toHaveLength(1);
  });
});
