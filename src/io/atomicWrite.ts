/**
 * Writing output files without ever leaving a half-written one: the bytes go to a temporary file in the same
 * directory, which is flushed and renamed over the target. Shared by every writer (PNG, .npy, frames).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { quoteSource } from './rgbaImage.js';

/** The `code` of a Node system error (ENOENT, EACCES, ...), if any. */
export function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : undefined;
}

/**
 * Writes `bytes` to `target` through a temporary file in the same directory, renamed over the target once complete
 * and flushed: a failure at any point leaves an existing `target` as it was and no temporary file behind.
 */
export async function writeFileAtomic(target: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, target);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = errorCode(e);
    const reason =
      code === 'ENOENT'
        ? `the directory ${quoteSource(dirname(target))} does not exist`
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST'
            ? 'it is a directory'
            : code === 'ENOSPC'
              ? 'no space left on the device'
              : e instanceof Error
                ? e.message
                : String(e);
    throw new Error(`Could not write ${quoteSource(target)}: ${reason}.`, { cause: e });
  }
}
