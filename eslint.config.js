// ESLint for TypeScript: typescript-eslint's recommended rules, no `any` anywhere.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const DOMAIN_BANS = ['@grpc/grpc-js', '@grpc/proto-loader'];

/** A folder's files may not import the named src/ folders (nor the packages in `bans`); tests may. */
function layer(files, folders, bans) {
  const patterns = folders.map((f) => ({ group: [`**/${f}/**`, `../${f}/**`], message: `${files} sits below src/${f} (cli -> daemon -> cri -> runtime/images -> lib)` }));
  if (folders.includes('cri')) patterns.push({ group: ['**/generated/**'], message: 'domain code never sees protobuf types' });
  const paths = bans.map((name) => ({ name, message: `not in ${files}` }));
  return [{ files: [files], ignores: ['**/*.test.ts'], rules: { 'no-restricted-imports': ['error', { paths, patterns }] } }];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/cri/generated/**', 'coverage/**', 'debian/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  // Imports point one way: cli -> daemon -> cri -> runtime/images -> lib. Domain code never sees
  // protobuf or gRPC; the gRPC layer never touches the filesystem or spawns processes.
  ...layer('src/lib/**', ['runtime', 'images', 'cri', 'daemon', 'cli', 'agent'], DOMAIN_BANS),
  ...layer('src/images/**', ['runtime', 'cri', 'daemon', 'cli', 'agent'], DOMAIN_BANS),
  ...layer('src/runtime/**', ['cri', 'daemon', 'cli', 'agent'], DOMAIN_BANS),
  ...layer('src/cri/**', ['daemon', 'cli', 'agent'], ['node:fs', 'node:fs/promises', 'node:child_process']),
  ...layer('src/daemon/**', ['cli', 'agent'], []),
  {
    files: ['bench/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
);
