// CPU seconds and resident memory of a process, read from /proc, so the server under test
// is measured from outside (it may be any ADS server, not ours).
import { readFileSync } from 'node:fs';

/** The auxiliary vector's key for the kernel's clock tick (AT_CLKTCK in <elf.h>). */
const AT_CLKTCK = 17n;

let clockTicks: number | undefined;

/** Kernel clock ticks per second, the unit of /proc's CPU times (100 on almost every Linux).
 * Read from the auxiliary vector the kernel hands this process, not from `getconf CLK_TCK`: a
 * child process is a fork, and a fork of the generator (gigabytes, thousands of streams) makes
 * every page it writes afterwards fault once, which the first measured change used to pay. */
export function clockTicksPerSecond(): number {
  clockTicks ??= clockTicksFromAuxv(readFileSync('/proc/self/auxv')) ?? 100;
  return clockTicks;
}

/** Finds AT_CLKTCK in /proc/self/auxv: (key, value) pairs of 64-bit words, ended by key 0. */
export function clockTicksFromAuxv(auxv: Buffer): number | undefined {
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    const key = auxv.readBigUInt64LE(at);
    if (key === 0n) break;
    if (key === AT_CLKTCK) return Number(auxv.readBigUInt64LE(at + 8)) || undefined;
  }
  return undefined;
}

/** Parses /proc/<pid>/stat text: utime and stime (fields 14 and 15) in clock ticks. */
export function parseStatTicks(stat: string): { utime: number; stime: number } {
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('/proc/<pid>/stat: no ")" after the command name');
  const rest = stat.slice(close + 2).split(' '); // rest[0] is field 3 (state)
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('/proc/<pid>/stat: utime/stime are not numbers');
  return { utime, stime };
}

/** User + system CPU seconds the process (all its threads) has used so far. */
export function cpuSeconds(pid: number): number {
  const { utime, stime } = parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (utime + stime) / clockTicksPerSecond();
}

/** Parses the VmRSS line of /proc/<pid>/status into bytes. */
export function parseVmRss(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error('/proc/<pid>/status: no VmRSS line (is the process a zombie?)');
  return Number(match[1]) * 1024;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  return parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** CPU used by a process between two points: `const stop = cpuMeter(pid); ...; stop()` gives seconds. */
export function cpuMeter(pid: number): () => number {
  const start = cpuSeconds(pid);
  return () => cpuSeconds(pid) - start;
}
