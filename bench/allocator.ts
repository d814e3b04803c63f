// The allocator settings the Dockerfile gives the server (see there why), for the servers the
// bench starts, so their figures are those of the image; the environment overrides each.
export function dockerfileAllocatorEnv(): Record<string, string> {
  return {
    MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '65536',
    MALLOC_TOP_PAD_: process.env.MALLOC_TOP_PAD_ ?? '67108864',
  };
}
