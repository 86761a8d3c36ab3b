// Where the native addon is found, and the one line a failed load becomes.
// The order follows node-gyp-build and better-sqlite3: an explicit path, then a
// build made on this machine, then the package's prebuild for this platform.
// A local build comes before the prebuild so that `npm run build` in a checkout,
// or a build from source in an installed package, always wins over an older copy.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EnvironmentError } from '../errors';

/** The package's root: dist/src/kernel/ is three levels below it. */
export const PACKAGE_ROOT = resolve(__dirname, '../../..');
/** Names the addon to load, instead of searching. */
export const ADDON_ENV = 'DROPWHY_ADDON';
export const LOCAL_BUILD = join('build', 'native', 'Release', 'dropwhy.node');
export const PLATFORM = `${process.platform}-${process.arch}`;

export const prebuildPath = (root: string, platform: string) => join(root, 'prebuilds', platform, 'dropwhy.node');

/** The shared libraries the addon needs at run time (libbpf directly, libelf and zlib through it). */
const LIBRARY_PACKAGES: Record<string, { debian: string; fedora: string }> = {
  'libbpf.so.1': { debian: 'libbpf1', fedora: 'libbpf' },
  'libelf.so.1': { debian: 'libelf1', fedora: 'elfutils-libelf' },
  'libz.so.1': { debian: 'zlib1g', fedora: 'zlib' },
  'libpcap.so.0.8': { debian: 'libpcap0.8', fedora: 'libpcap' },
};

/** The addon could not be loaded: what went wrong and what to do, for the CLI's one line and doctor's check. */
export class AddonError extends EnvironmentError {
  constructor(
    readonly problem: string,
    readonly fix: string,
    /** The addon file that failed to load; null when none was found. */
    readonly path: string | null,
    /** The missing shared library (e.g. libbpf.so.1), when that is the cause. */
    readonly library: string | null = null,
  ) {
    super(`${problem}: ${fix}`);
  }
}

/** How to build the addon here: a git checkout builds itself; an installed package rebuilds from source. */
export function rebuildCommand(root = PACKAGE_ROOT): string {
  return existsSync(join(root, '.git'))
    ? 'run npm run build'
    : 'build it from source with DROPWHY_BUILD_FROM_SOURCE=1 npm rebuild dropwhy (add -g for a global install; needs clang, libbpf-dev, bpftool, cmake)';
}

/** The AddonError for an addon file that exists but did not load (a dlopen failure or a broken file). */
export function loadFailure(error: unknown, path: string, rebuild: string): AddonError {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  const missing = /^([^\s:]+\.so[.\d]*): cannot open shared object file/.exec(message);
  if (missing) {
    const library = missing[1];
    const packages = LIBRARY_PACKAGES[library];
    const fix = packages ? `install ${packages.debian} (Debian/Ubuntu) or ${packages.fedora} (Fedora/RHEL)` : `install the package that provides ${library}`;
    return new AddonError(`the native addon needs ${library}, which is not installed`, fix, path, library);
  }
  return new AddonError(`the native addon ${path} does not load here (${message})`, rebuild, path);
}

/**
 * The AddonError for an addon compiled from another bpf/event.h than this JavaScript's layout (a local
 * build older than the checkout): it would misread every record. null when every size agrees.
 */
export function layoutMismatch(
  addonSizes: Readonly<Record<string, number>> | undefined,
  expected: Readonly<Record<string, number>>,
  path: string,
  rebuild: string,
): AddonError | null {
  const differ = Object.entries(expected)
    .filter(([name, size]) => addonSizes?.[name] !== size)
    .map(([name, size]) => `struct ${name}: ${addonSizes?.[name] === undefined ? 'unknown' : `${addonSizes[name]} bytes`} there, ${size} here`);
  if (differ.length === 0) return null;
  return new AddonError(`the native addon ${path} was built from another bpf/event.h (${differ.join('; ')})`, rebuild, path);
}

export interface AddonSearch {
  env?: NodeJS.ProcessEnv;
  /** The package root whose build/ and prebuilds/ are searched. */
  root?: string;
  platform?: string;
  requireAddon?: (path: string) => unknown;
}

export interface LoadedAddon<T> {
  addon: T;
  path: string;
}

/** Loads the first candidate that exists; a missing file moves on, any other failure is an AddonError. */
export function loadAddon<T>({ env = process.env, root = PACKAGE_ROOT, platform = PLATFORM, requireAddon = require }: AddonSearch = {}): LoadedAddon<T> {
  const explicit = env[ADDON_ENV];
  const candidates = explicit ? [resolve(explicit)] : [join(root, LOCAL_BUILD), prebuildPath(root, platform)];
  for (const path of candidates) {
    try {
      // Loading tells whether it is there, with the process's effective credentials
      // (existsSync's access(2) uses the real uid and ignores capabilities).
      return { addon: requireAddon(path) as T, path };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw loadFailure(error, path, rebuildCommand(root));
    }
  }
  if (explicit) throw new AddonError(`${ADDON_ENV} names ${candidates[0]}, which does not exist`, 'point it at a dropwhy.node or unset it', null);
  throw new AddonError(`no native addon for ${platform} (neither ${candidates.join(' nor ')} exists)`, rebuildCommand(root), null);
}
