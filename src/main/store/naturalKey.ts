/**
 * The gallery's sort key of a path: case folded, every run of digits zero-padded, so names sort as
 * people count (raccoon-2 before raccoon-10) with an index SQLite can walk (images.name_key).
 */
export function naturalKey(path: string): string {
  return path.toLowerCase().replace(/\d+/g, (d) => d.replace(/^0+(?=\d)/, '').padStart(12, '0'))
}
