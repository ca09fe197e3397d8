/**
 * Where each image goes inside a VOC or YOLO export that carries its images. Training tools find
 * an image's annotation from the image's own path, so two things must hold (pure, tested):
 * - every image has a distinct stem (path without extension): `a.jpg` and `a.png` in one folder
 *   would otherwise share `a.txt` / `a.xml`. Stems are compared case-insensitively, so the export
 *   also survives a case-insensitive file system; a clash gets `_2`, `_3`… before the extension.
 * - for YOLO, no folder of the image's relative path is named `images`: Ultralytics derives the
 *   label path by replacing the *last* `/images/` of the image path with `/labels/`, so
 *   `images/train/images/a.jpg` would look for `images/train/labels/a.txt`. Such folders become
 *   `images_`.
 * - for a flat layout (Label Studio's YOLO import lists one folder), no sub-folders: an image keeps
 *   its file name, made distinct as above.
 */

const stemOf = (file: string) => file.replace(/\.[^./]+$/, '')

/** Options of exportNames. */
export interface ExportNameOptions {
  /** Rename folders named `images` (YOLO). */
  avoidImagesFolder?: boolean
  /** File names only, no folders. */
  flat?: boolean
}

/**
 * The relative path (posix) each image gets inside the export, in the order given. Unchanged
 * unless a rule above needs it, so most exports keep the project's names.
 */
export function exportNames(files: readonly string[], options: ExportNameOptions = {}): string[] {
  const taken = new Set<string>()
  return files.map((file) => {
    const parts = options.flat ? file.split('/').slice(-1) : file.split('/')
    if (options.avoidImagesFolder) {
      for (let i = 0; i < parts.length - 1; i++) if (parts[i] === 'images') parts[i] = 'images_'
    }
    const name = parts.join('/')
    const stem = stemOf(name)
    const ext = name.slice(stem.length)
    let candidate = name
    for (let k = 2; taken.has(stemOf(candidate).toLowerCase()); k++)
      candidate = `${stem}_${k}${ext}`
    taken.add(stemOf(candidate).toLowerCase())
    return candidate
  })
}

/** The stem (path without extension) of an export name: the VOC id, the YOLO label path. */
export function exportStem(name: string): string {
  return stemOf(name)
}
