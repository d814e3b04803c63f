// Keys and ordering shared by the model's processors.

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Plain code-unit order: the same everywhere, unlike localeCompare. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
